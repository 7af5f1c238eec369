"""What is built from an immutable vocabulary (a lexicon of phrases), built once per vocabulary object."""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, TypeVar

K = TypeVar("K")
V = TypeVar("V")


class BuiltOnce(Generic[K, V]):
    """A few built values by their source object's identity; a source that is gone is rebuilt."""

    def __init__(self, kept: int = 8) -> None:
        self.kept = kept
        self.built: dict[int, tuple[K, V]] = {}

    def get(self, source: K, build: Callable[[K], V]) -> V:
        cached = self.built.get(id(source))
        if cached is not None and cached[0] is source:
            return cached[1]
        if len(self.built) >= self.kept:
            self.built.clear()
        value = build(source)
        self.built[id(source)] = (source, value)
        return value
