"""The safety screen: reads every free text first and says whether it names a warning sign.

A sign (content/data/safety.yaml) is a set of concepts ("numb" and "saddle") named within a few
words of each other in one sentence, none of them negated ("no numbness down there") and none
said of someone else ("my mum had cancer"). A concept of the sign's `none_of` in the same
sentence cancels it (a numb bottom from a bike saddle). A sign asked about rather than reported
("what if my groin goes numb?") is no report. Words of five letters or more also match with a
typo (one edit, two from nine letters), never turning a real English word into another. The
reading is linear in the text's length.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hipcoach.content.safety_schema import TIERS, SafetyVocabulary, Sign
from hipcoach.flows.built_once import BuiltOnce
from hipcoach.flows.phrases import longest_matches
from hipcoach.flows.typos import Typos

_TOKEN = re.compile(r"[0-9]+|[a-z]+|&|[.!?;\n]|[,()]")
_APOSTROPHE_S = re.compile(r"['’‘ʼ`]s\b")
_DROP = str.maketrans({"'": None, "’": None, "‘": None, "ʼ": None, "`": None})
_SENTENCE_ENDS = frozenset(".!?;\n")
_CLAUSE_ENDS = _SENTENCE_ENDS | {",", "(", ")"}
# Concepts that name a place or a topic: never negated themselves, stepped over by a negation
# reaching a feeling further on ("no groin numbness").
_PLACES = frozenset({"saddle", "wiping", "leg", "legs_plural", "both_legs", "other_body", "urine", "bowel",
                     "sex", "spine_place", "rear", "genital", "foot_part"})  # fmt: skip
_IGNORED, _OTHERS, _HYPOTHETICAL = "#ignored", "#others", "#hypothetical"


@dataclass(frozen=True)
class SafetyReading:
    """The tier of a text (None when it names no sign) and the sign ids that raised it."""

    tier: str | None = None
    signs: tuple[str, ...] = ()

    def to_json(self) -> dict[str, object]:
        return {"tier": self.tier, "signs": list(self.signs)}


NOTHING = SafetyReading()


def screen(text: str, vocabulary: SafetyVocabulary) -> SafetyReading:
    """Read one free text for warning signs; see the module docstring for the rules."""
    lex = _Lexicon.of(vocabulary)
    tokens = lex.tokens(text)
    hits = _find_hits(tokens, lex.book, lex.longest)
    found: dict[str, set[str]] = {tier: set() for tier in TIERS}
    for sentence in _sentences(tokens, hits, lex):
        for sign in vocabulary.signs:
            if not sentence.hypothetical and sentence.has(sign):
                found[sign.tier].add(sign.id)
    if _age_onset(tokens, hits, vocabulary):
        found["clinician"].add(vocabulary.age.sign)
    tier = next((tier for tier in TIERS if found[tier]), None)
    return SafetyReading(tier, tuple(sorted(found[tier]))) if tier else NOTHING


def follow_up(reading: SafetyReading, vocabulary: SafetyVocabulary) -> list[str]:
    """The question ids to ask for an ask-tier reading, in order and without repeats."""
    asked: dict[str, None] = {}
    urgent = vocabulary.urgent_sign_ids()
    for sign in reading.signs:
        if sign in urgent:  # an urgent sign asked about: ask the questions that cover it
            asked.update((q.id, None) for q in vocabulary.questions if sign in q.signs)
        asked.update((question, None) for question in vocabulary.follow_up.get(sign, []))
    return list(asked)


def read_statement(text: str, rule: dict[str, list[str]], vocabulary: SafetyVocabulary) -> bool:
    """An explicit statement such as 'my GP checked me and said exercise is fine' (clearance rules).

    True when a `self` phrase is said, or a `who` and a `said` phrase are, with no `cancel` word
    anywhere: a plan, a hope or a negation is not yet a clearance.
    """
    phrases = _STATEMENTS.get(rule, _statement_phrases)
    longest = max((len(p) for group in phrases.values() for p in group), default=1)
    tokens = _Lexicon.of(vocabulary).tokens(text)
    grams = {tuple(tokens[i : i + n]) for n in range(1, longest + 1) for i in range(len(tokens) - n + 1)}
    if grams & phrases["cancel"]:
        return False
    return bool(grams & phrases["self"]) or bool(grams & phrases["who"] and grams & phrases["said"])


def _statement_phrases(rule: dict[str, list[str]]) -> dict[str, set[tuple[str, ...]]]:
    return {
        part: {tuple(_raw_tokens(p)) for p in rule.get(part, [])}
        for part in ("who", "said", "cancel", "self")
    }


_STATEMENTS: BuiltOnce[dict[str, list[str]], dict[str, set[tuple[str, ...]]]] = BuiltOnce()

# --- the vocabulary, prepared ------------------------------------------------------------------

Book = dict[tuple[str, ...], tuple[str, ...]]
_LEXICONS: BuiltOnce[SafetyVocabulary, _Lexicon] = BuiltOnce()


@dataclass
class _Lexicon:
    book: Book
    longest: int
    negations: frozenset[str]
    breaks: frozenset[str]
    carriers: frozenset[str]
    scope_breaks: frozenset[str]
    scope_continues: frozenset[str]
    window: int
    typos: Typos
    emoji: dict[str, str]

    @classmethod
    def of(cls, vocabulary: SafetyVocabulary) -> _Lexicon:
        """The lexicon of a vocabulary, built once per vocabulary object (it is immutable)."""
        return _LEXICONS.get(vocabulary, cls._build)

    @classmethod
    def _build(cls, v: SafetyVocabulary) -> _Lexicon:
        entries: list[tuple[str, str]] = [(p, name) for name, phrases in v.concepts.items() for p in phrases]
        entries += [(p, _IGNORED) for p in v.ignored_phrases]
        entries += [(p, _OTHERS) for p in v.other_people]
        entries += [(p, _HYPOTHETICAL) for p in v.hypothetical]
        book: dict[tuple[str, ...], dict[str, None]] = {}
        for phrase, label in entries:
            key = tuple(_raw_tokens(phrase))
            if key:
                book.setdefault(key, {})[label] = None
        for key, labels in book.items():  # 'legs are going' names legs too, 'cant lift my foot' a foot
            if len(key) > 1 and not any(label.startswith("#") for label in labels):
                for word in key:
                    labels.update((label, None) for label in book.get((word,), {}) if label in _PLACES)
        vocabulary_words = {word for key in book for word in key if word.isalpha()}
        return cls(
            book={key: tuple(labels) for key, labels in book.items()},
            longest=max(map(len, book)),
            negations=frozenset(v.negations),
            breaks=frozenset(v.negation_breaks),
            carriers=frozenset(v.negation_carriers),
            scope_breaks=frozenset(v.scope_breaks),
            scope_continues=frozenset(v.scope_continues),
            window=v.negation_window,
            emoji=dict(v.emoji),
            typos=Typos(
                vocabulary_words,
                [*v.fuzzy.never_correct, *v.negations],
                v.fuzzy.min_length,
                v.fuzzy.long_length,
            ),
        )

    def tokens(self, text: str) -> list[str]:
        """The text's tokens (its emoji read as words), each word of ours typed with a typo read as it."""
        for emoji, word in self.emoji.items():
            text = text.replace(emoji, f" {word} ")
        return [self.typos.fix(token) for token in _raw_tokens(text)]


def _raw_tokens(text: str) -> list[str]:
    """Lower-case words, numbers and punctuation; "'s" stands apart ("leg's weaker": leg, s, weaker)."""
    return _TOKEN.findall(_APOSTROPHE_S.sub(" s", text.lower()).translate(_DROP))


# --- phrases found, negated, owned -------------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    labels: tuple[str, ...]

    def is_place(self) -> bool:
        return all(label in _PLACES for label in self.labels)


def _find_hits(tokens: Sequence[str], book: Book, longest: int) -> list[_Hit]:
    return [_Hit(start, end, labels) for start, end, labels in longest_matches(tokens, book, longest)]


@dataclass
class _Sentence:
    """The concepts one sentence names for the user, with their positions."""

    named: list[tuple[int, str]]
    hypothetical: bool

    def has(self, sign: Sign) -> bool:
        concepts = {concept for _, concept in self.named}
        if not set(sign.all_of) <= concepts or concepts & set(sign.none_of):
            return False
        return _within(self.named, sign.all_of, sign.reach)


def _sentences(tokens: Sequence[str], hits: Sequence[_Hit], lex: _Lexicon) -> Iterable[_Sentence]:
    negated = _negations(tokens, hits, lex)
    others = _said_of_others(tokens, hits, lex)
    sentence = _Sentence([], False)
    hit_index = 0
    for position, token in enumerate(tokens):
        while hit_index < len(hits) and hits[hit_index].start == position:
            hit = hits[hit_index]
            sentence.hypothetical = sentence.hypothetical or _HYPOTHETICAL in hit.labels
            if not negated[hit_index] and position not in others:
                sentence.named += [(position, label) for label in hit.labels if not label.startswith("#")]
            hit_index += 1
        if token in _SENTENCE_ENDS:
            yield sentence
            sentence = _Sentence([], False)
    yield sentence


def _negations(tokens: Sequence[str], hits: Sequence[_Hit], lex: _Lexicon) -> list[bool]:
    """Per hit: negated by a word up to `window` steps back in its clause ('no numbness down there')."""
    owner: dict[int, int] = {p: i for i, hit in enumerate(hits) for p in range(hit.start, hit.end)}
    negated: list[bool] = []
    for hit in hits:
        denied = _negated(tokens, hit, hits, owner, negated, lex) or _answered_no(tokens, hit, lex)
        negated.append(not hit.is_place() and denied)
    return negated


def _answered_no(tokens: Sequence[str], hit: _Hit, lex: _Lexicon) -> bool:
    """'numb? no. just achy': a sign asked and answered with a negation straight after."""
    after = tokens[hit.end : hit.end + 3]
    return (
        len(after) >= 2 and after[0] == "?" and next((t for t in after[1:] if t != "?"), "") in lex.negations
    )


def _negated(
    tokens: Sequence[str],
    hit: _Hit,
    hits: Sequence[_Hit],
    owner: dict[int, int],
    negated: Sequence[bool],
    lex: _Lexicon,
) -> bool:
    position = hit.start - 1
    for _ in range(lex.window):
        if position < 0 or tokens[position] in _CLAUSE_ENDS or tokens[position] in lex.breaks:
            return False
        earlier = owner.get(position)
        if earlier is None:
            if tokens[position] in lex.negations:
                return True
            position -= 1
            continue
        before = hits[earlier]
        if tokens[before.start] in lex.negations and hit.start - before.end <= 2:  # 'dont feel any tingling'
            return True
        if before.is_place() or _IGNORED in before.labels:
            position = before.start - 1
            continue
        gap = tokens[before.end : hit.start]
        return bool(gap) and all(word in lex.carriers for word in gap) and negated[earlier]
    return False


def _said_of_others(tokens: Sequence[str], hits: Sequence[_Hit], lex: _Lexicon) -> set[int]:
    """Positions from 'my mum', 'a friend' ... to the end of that clause or a scope break."""
    others: set[int] = set()
    for hit in hits:
        if _OTHERS not in hit.labels:
            continue
        position = hit.start
        while position < len(tokens) and tokens[position] not in _CLAUSE_ENDS:
            ends = position >= hit.end and tokens[position] in lex.scope_breaks
            if ends and not (position + 1 < len(tokens) and tokens[position + 1] in lex.scope_continues):
                break  # but 'my gran is 90 and has osteoporosis' goes on being about the gran
            others.add(position)
            position += 1
    return others


def _within(named: Sequence[tuple[int, str]], wanted: Sequence[str], reach: int) -> bool:
    """Whether every wanted concept is named inside some span of at most `reach` words (sliding window)."""
    events = [(position, concept) for position, concept in named if concept in wanted]
    need = set(wanted)
    counts: Counter[str] = Counter()
    left = 0
    for position, concept in events:
        counts[concept] += 1
        while len(+counts) == len(need):
            if position - events[left][0] <= reach:
                return True
            counts[events[left][1]] -= 1
            left += 1
    return False


# --- a first episode outside the usual ages --------------------------------------------------------


def _age_onset(tokens: Sequence[str], hits: Sequence[_Hit], vocabulary: SafetyVocabulary) -> bool:
    rule = vocabulary.age
    if not any(rule.concept in hit.labels for hit in hits):
        return False
    before, after = set(rule.before), set(rule.after)
    for i, token in enumerate(tokens):
        if not (token.isdigit() and len(token) <= 3):
            continue
        leads = (i > 0 and tokens[i - 1] in before) or (i == 0 and tokens[1:2] == [","])  # '19, never...'
        follows = i + 1 < len(tokens) and tokens[i + 1] in after
        age = int(token)
        if (leads or follows) and not rule.youngest <= age <= rule.oldest:
            return True
    return False
