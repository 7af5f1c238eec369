"""Finding a book's phrases in a text's tokens, leftmost and longest first, never overlapping."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from typing import TypeVar

Labels = TypeVar("Labels")


def longest_matches(
    tokens: Sequence[str], book: Mapping[tuple[str, ...], Labels], longest: int
) -> Iterator[tuple[int, int, Labels]]:
    """(start, end, labels) of each phrase found; `longest` is the book's longest phrase in tokens."""
    i = 0
    while i < len(tokens):
        for size in range(min(longest, len(tokens) - i), 0, -1):
            labels = book.get(tuple(tokens[i : i + size]))
            if labels:
                yield i, i + size, labels
                i += size
                break
        else:
            i += 1
