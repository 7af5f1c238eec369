"""Reading free-text answers: yes/no with negation, and equipment lists."""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence

from content.schema import Screening

_CLAUSE_BREAK = re.compile(r"[,.;!?]|\bbut\b")
_NOT_WORD = re.compile(r"[^a-z0-9]+")
NEGATION_WINDOW = 3  # words before a phrase that can negate it ("I do not have any numbness")


def normalise(text: str) -> str:
    """Lower-case, drop apostrophes, turn everything that is not a letter or digit into one space."""
    text = text.lower().replace("’", "'").replace("'", "")
    return _NOT_WORD.sub(" ", text).strip()


def clauses(text: str) -> list[list[str]]:
    lowered = text.lower().replace("’", "'")
    return [normalise(part).split() for part in _CLAUSE_BREAK.split(lowered) if normalise(part)]


def _find(words: Sequence[str], phrase: str) -> list[int]:
    target = phrase.split()
    size = len(target)
    return [i for i in range(len(words) - size + 1) if list(words[i : i + size]) == target]


def _negated(words: Sequence[str], start: int, negations: frozenset[str]) -> bool:
    return any(word in negations for word in words[max(0, start - NEGATION_WINDOW) : start])


def read_yes_no(text: str, yes: Iterable[str], no: Iterable[str], negations: Iterable[str]) -> bool | None:
    """True, False, or None when the text does not say or says both.

    Each side scores its longest matched phrase in words; a phrase after a negation counts for the
    other side. A tie (nothing matched, or both equally) is no answer: we ask again rather than guess.
    """
    negators = frozenset(negations)
    votes = {True: 0, False: 0}
    for words in clauses(text):
        for answer, phrases in ((True, yes), (False, no)):
            for phrase in phrases:
                for start in _find(words, normalise(phrase)):
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
    named = []
    for item in screening.equipment:
        for synonym in item.synonyms:
            hits = _find(words, normalise(synonym))
            if any(not _negated(words, i, frozenset(screening.negations)) for i in hits):
                named.append(item.id)
                break
    if named:
        return named
    if any(_find(words, normalise(p)) for p in screening.none_phrases):
        return []
    return None


def says_done(text: str, screening: Screening) -> bool:
    words = normalise(text).split()
    return any(_find(words, normalise(p)) for p in screening.done_phrases)


def read_one_of(text: str, options: Mapping[str, Iterable[str]], negations: Iterable[str]) -> str | None:
    """The option whose phrase matches the text at greatest length (not after a negation), if any."""
    negators = frozenset(negations)
    best: tuple[int, str] | None = None
    for words in clauses(text):
        for option, phrases in options.items():
            for phrase in phrases:
                hits = [i for i in _find(words, normalise(phrase)) if not _negated(words, i, negators)]
                size = len(phrase.split())
                if hits and (best is None or size > best[0]):
                    best = (size, option)
    return best[1] if best else None
