"""Waits that double up to a cap: how the shell asks again after a failure that time may cure."""

from __future__ import annotations

from collections.abc import Iterator


def doubling(first: float, longest: float) -> Iterator[float]:
    """`first`, twice that, four times … seconds, up to `longest`, then `longest` for ever."""
    wait = first
    while True:
        yield wait
        wait = min(wait * 2, longest)
