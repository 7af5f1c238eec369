"""Typos: a typed word that is no English word, close to one of our vocabulary words, is read as it.

Words shorter than `min_length` are left alone; one edit is allowed (a swap of two letters counts as
one, rapidfuzz's OSA distance), two from `long_length` letters. A real English word is never
corrected (pyspellchecker's list, shipped in its wheel), so "skipped" never becomes "slipped".
"""

from __future__ import annotations

import functools
from collections.abc import Iterable

from rapidfuzz import process
from rapidfuzz.distance import OSA
from spellchecker import SpellChecker

_CORRECTIONS_KEPT = 50_000


class Typos:
    """Corrects tokens towards one vocabulary; remembers its answers (bounded)."""

    def __init__(self, words: Iterable[str], keep: Iterable[str], min_length: int, long_length: int) -> None:
        vocabulary = {word for word in words if word.isalpha()}
        self.known = frozenset(vocabulary | set(keep))
        self.by_length: dict[int, list[str]] = {}
        for word in sorted(vocabulary):
            self.by_length.setdefault(len(word), []).append(word)
        self.min_length = min_length
        self.long_length = long_length
        self.corrections: dict[str, str] = {}

    def fix(self, token: str) -> str:
        if len(token) < self.min_length or token in self.known or not token.isalpha():
            return token
        if token not in self.corrections:
            if len(self.corrections) >= _CORRECTIONS_KEPT:
                self.corrections.clear()
            self.corrections[token] = token if token in _english() else self._nearest(token)
        return self.corrections[token]

    def _nearest(self, token: str) -> str:
        edits = 2 if len(token) >= self.long_length else 1
        candidates = [
            word
            for size in range(max(len(token) - edits, self.min_length - 1), len(token) + edits + 1)
            for word in self.by_length.get(size, ())
        ]
        best = process.extractOne(token, candidates, scorer=OSA.distance, score_cutoff=edits)
        return best[0] if best else token


@functools.cache
def _english() -> SpellChecker:
    """English words as pyspellchecker ships them, loaded on the first unknown long word (~0.15 s)."""
    return SpellChecker(distance=1)
