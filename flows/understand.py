"""Reading free-text answers: yes/no with negation, and equipment lists."""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator, Mapping, Sequence
from typing import TypeVar

from hipcoach.content.schema import Content, Screening

_CLAUSE_BREAK = re.compile(r"[,.;!?]|\bbut\b")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
NEGATION_WINDOW = 3  # words before a phrase that can negate it ("I do not have any numbness")
T = TypeVar("T")
Option = TypeVar("Option", bound=str)
Book = dict[tuple[str, ...], list[tuple[T, str]]]


def normalise(text: str) -> str:
    """Lower-case, drop apostrophes, turn everything that is not a letter or digit into one space."""
    text = text.lower().replace("’", "'").replace("'", "")
    return _NOT_WORD.sub(" ", text).strip()


def clauses(text: str) -> list[list[str]]:
    lowered = text.lower().replace("’", "'")
    return [normalise(part).split() for part in _CLAUSE_BREAK.split(lowered) if normalise(part)]


def _book(entries: Iterable[tuple[T, str]]) -> Book[T]:
    """Phrases by their normalised words, each with what it answers and its text as written."""
    book: Book[T] = {}
    for answer, phrase in entries:
        if key := tuple(normalise(phrase).split()):
            book.setdefault(key, []).append((answer, phrase))
    return book


def _matches(words: Sequence[str], book: Book[T]) -> Iterator[tuple[int, T, str]]:
    """(start, answer, phrase) for every phrase of the book in the words: linear in the words."""
    longest = max(map(len, book), default=0)
    for start in range(len(words)):
        for size in range(1, min(longest, len(words) - start) + 1):
            for answer, phrase in book.get(tuple(words[start : start + size]), ()):
                yield start, answer, phrase


def _negated(words: Sequence[str], start: int, negations: frozenset[str]) -> bool:
    return any(word in negations for word in words[max(0, start - NEGATION_WINDOW) : start])


def read_yes_no(text: str, yes: Iterable[str], no: Iterable[str], negations: Iterable[str]) -> bool | None:
    """True, False, or None when the text does not say or says both.

    Each side scores its longest matched phrase in words; a phrase after a negation counts for the
    other side. A tie (nothing matched, or both equally) is no answer: we ask again rather than guess.
    """
    negators = frozenset(negations)
    book = _book([*((True, phrase) for phrase in yes), *((False, phrase) for phrase in no)])
    votes = {True: 0, False: 0}
    for words in clauses(text):
        for start, answer, phrase in _matches(words, book):
            flipped = phrase not in negators and _negated(words, start, negators)
            side = (not answer) if flipped else answer
            votes[side] = max(votes[side], len(phrase.split()))
    if votes[True] == votes[False]:
        return None
    return votes[True] > votes[False]


def read_question(text: str, question_id: str, screening: Screening) -> bool | None:
    """Read a yes/no answer to one screening question, with its own phrases before the general ones."""
    question = next((q for q in screening.questions if q.id == question_id), None)
    extra_yes = question.yes_phrases if question else []
    extra_no = question.no_phrases if question else []
    return read_yes_no(
        text,
        [*extra_yes, *screening.yes_phrases],
        [*extra_no, *screening.no_phrases],
        screening.negations,
    )


def read_equipment(text: str, screening: Screening) -> list[str] | None:
    """Equipment ids named in the text, [] for 'none', None when the text names nothing we know."""
    words = normalise(text).split()
    negators = frozenset(screening.negations)
    book = _book((item.id, synonym) for item in screening.equipment for synonym in item.synonyms)
    found = {item for start, item, _ in _matches(words, book) if not _negated(words, start, negators)}
    if named := [item.id for item in screening.equipment if item.id in found]:
        return named
    if _says(words, screening.none_phrases):
        return []
    return None


def says_done(text: str, screening: Screening) -> bool:
    return _says(normalise(text).split(), screening.done_phrases)


def _says(words: Sequence[str], phrases: Iterable[str]) -> bool:
    return next(_matches(words, _book((None, phrase) for phrase in phrases)), None) is not None


def read_one_of(
    text: str, options: Mapping[Option, Iterable[str]], negations: Iterable[str]
) -> Option | None:
    """The option whose phrase matches the text at greatest length (not after a negation), if any."""
    negators = frozenset(negations)
    order = {option: n for n, option in enumerate(options)}
    book = _book((option, phrase) for option, phrases in options.items() for phrase in phrases)
    best: tuple[int, int, int, Option] | None = None  # longest phrase; ties: earliest clause, then option
    for clause, words in enumerate(clauses(text)):
        for start, option, phrase in _matches(words, book):
            if _negated(words, start, negators):
                continue
            found = (len(phrase.split()), -clause, -order[option], option)
            best = found if best is None or found > best else best
    return best[3] if best else None


def is_question(text: str, content: Content) -> bool:
    """A text that asks something: it ends with '?' or opens with a question word ('how do i ...')."""
    if text.strip().endswith("?"):
        return True
    words = normalise(text).split()
    return any(words[: len(q.split())] == q.split() for q in content.agenda.question_words)


def says_flare(text: str, content: Content) -> bool:
    """Whether a text speaks of a flare-up ('my back has flared up'), not negated."""
    return read_one_of(text, {"flare": content.agenda.flare_words}, content.screening.negations) is not None
