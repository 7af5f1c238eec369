"""Reading a free-text check-in ("back hurt about 6/10, a bit wobbly") into pain, effort, control, place.

Whatever the text does not say is None, so the check-in asks for it with buttons: we never guess.

When a number is a pain score (0-10):
- it is followed by a scale marker ("6/10", "6 out of 10", "three out of ten"); above 10 on a
  scale is read as 10 ("11/10");
- or it follows a pain word with only filler words or body places between ("pain 3",
  "back hurt about 6", "knee pain was like a 4");
- or it stands alone in its clause among filler, effort, control and place words ("7", "maybe a 2",
  "easy, about 3", "left knee 4"), because the question asked was how the set felt on a 0-10 pain scale.
It is never a pain score next to a count or another scale ("10 reps", "set 2", "could do 2
more", "effort 7/10"), nor when it names a body part ("one leg"), nor above 10 without a
scale. A range ("3-4", "3 to 4", "3 or 4", "between 3 and 4") reads as its higher end, a
decimal rounds up ("6.5" -> 7), and several scores read as the highest: safety first.

Pain words without a number leave pain None; negated pain ("no pain", "didn't hurt") or a
no-pain phrase ("pain free") reads as 0, unless a softener makes it partial ("not much pain").
Effort and control take the least favourable answer named; a negated one ("not easy", "didn't
lose form") counts as not said. The place is a canonical id from content (sides are dropped:
"left leg" -> "leg"), preferring the one nearest a pain word or score.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from hipcoach.content.feedback_schema import FeedbackVocabulary
from hipcoach.content.schema import Content
from hipcoach.flows.built_once import BuiltOnce
from hipcoach.flows.phrases import longest_matches
from hipcoach.flows.typos import Typos

EFFORT_FROM_WORST = ("hard", "ok", "easy")
CONTROL_FROM_WORST = ("lost", "wobbly", "smooth")

_TOKEN = re.compile(r"[0-9]+(?:\.[0-9]+)?|[a-z]+|[-/]|[,;.!?()\n]")
_DROP_OR_DASH = str.maketrans({"'": None, "’": None, "‘": None, "ʼ": None, "–": "-", "—": "-"})
_SENTENCE_ENDS = frozenset(".!?;\n")
_CLAUSE_ENDS = _SENTENCE_ENDS | {",", "(", ")"}
_MAX_DIGITS = 3

Label = tuple[str, str]
Book = dict[tuple[str, ...], tuple[Label, ...]]


@dataclass(frozen=True)
class Feedback:
    pain: int | None
    effort: str | None
    control: str | None
    location: str | None
    red_flag: bool

    def to_json(self) -> dict[str, object]:
        return {
            "pain": self.pain,
            "effort": self.effort,
            "control": self.control,
            "location": self.location,
            "red_flag": self.red_flag,
        }


def read_feedback(text: str, vocabulary: FeedbackVocabulary) -> Feedback:
    """Read one free-text check-in; see the module docstring for the rules."""
    lex = _Lexicon.of(vocabulary)
    reading = _Text.read(text, lex)
    scores = _pain_scores(reading, lex)
    said, denied = _pain_words(reading, lex)
    return Feedback(
        pain=_pain(scores, said, denied),
        effort=_least_favourable(reading.said("effort"), EFFORT_FROM_WORST),
        control=_least_favourable(reading.said("control"), CONTROL_FROM_WORST),
        location=_location(reading, sorted({*said, *(position for position, _ in scores)})),
        red_flag=_has_red_flag(reading, lex),
    )


def is_checkin_sentence(text: str, content: Content) -> bool:
    """A pain score with an effort or control word: 'pain 3, easy, smooth' says how a session went."""
    reading = read_feedback(text, content.feedback)
    return reading.pain is not None and (reading.effort is not None or reading.control is not None)


def mentions_pain(text: str, content: Content) -> bool:
    """Pain said or scored ('my back hurts a bit today'), not denied."""
    lex = _Lexicon.of(content.feedback)
    reading = _Text.read(text, lex)
    said, _ = _pain_words(reading, lex)
    return bool(said) or bool(_pain_scores(reading, lex))


def signals_red_flag(text: str, vocabulary: FeedbackVocabulary) -> bool:
    """True when the text names a red-flag sign that is not negated ('numb between my legs')."""
    lex = _Lexicon.of(vocabulary)
    return _has_red_flag(_Text.read(text, lex), lex)


# --- vocabulary, prepared for matching ------------------------------------------------------------


def normalise(text: str) -> str:
    """Lower-case, drop apostrophes (straight or curly), and make every dash a hyphen."""
    return text.lower().translate(_DROP_OR_DASH)


# Lexicons by vocabulary object: building one costs ~1.5 ms, and every turn reads text twice.
_LEXICONS: BuiltOnce[FeedbackVocabulary, _Lexicon] = BuiltOnce()
_LONGEST: BuiltOnce[Book, int] = BuiltOnce()


@dataclass(frozen=True)
class _Lexicon:
    numbers: dict[str, int]
    negations: frozenset[str]
    breaks: frozenset[str]
    carriers: frozenset[str]
    softeners: frozenset[str]
    fillers: frozenset[str]
    not_pain: frozenset[str]
    joiners: frozenset[str]
    window: int
    scale_names: frozenset[str]
    scales: tuple[tuple[str, ...], ...]
    book: Book
    flag_book: Book
    typos: Typos
    signs: tuple[tuple[str, int], ...]

    @classmethod
    def of(cls, vocabulary: FeedbackVocabulary) -> _Lexicon:
        """The lexicon of a vocabulary, built once per vocabulary object (it is immutable)."""
        return _LEXICONS.get(vocabulary, cls._build)

    @classmethod
    def _build(cls, vocabulary: FeedbackVocabulary) -> _Lexicon:
        numbers = {normalise(word): value for word, value in vocabulary.number_words.items()}

        def words(items: Iterable[str]) -> frozenset[str]:
            return frozenset(normalise(item) for item in items)

        def phrases(entries: Iterable[tuple[str, Label]]) -> Book:
            return _book((tuple(_tokens(phrase, numbers)), label) for phrase, label in entries)

        book = phrases(_feedback_phrases(vocabulary))
        fuzzy = vocabulary.fuzzy
        words_known = {word for key in book for word in key}
        keep = [*fuzzy.never_correct, *numbers, *vocabulary.negations, *vocabulary.score_fillers]
        return cls(
            typos=Typos(words_known, keep, fuzzy.min_length, fuzzy.long_length),
            numbers=numbers,
            negations=words(vocabulary.negations),
            breaks=words(vocabulary.negation_breaks),
            carriers=words(vocabulary.negation_carriers),
            softeners=words(vocabulary.softeners),
            fillers=words(vocabulary.score_fillers),
            not_pain=words(vocabulary.not_pain_words),
            joiners=words(vocabulary.range_joiners),
            window=vocabulary.negation_window,
            scale_names=words(vocabulary.scale_names),
            scales=tuple(tuple(_tokens(marker, numbers)) for marker in vocabulary.scale_markers),
            book=book,
            flag_book=phrases(_red_flag_phrases(vocabulary)),
            signs=tuple((sign.id, len(sign.all_of)) for sign in vocabulary.red_flags),
        )

    def number(self, token: str) -> int | None:
        """The value of a number word or digits ('6.5' rounds up to 7), else None."""
        if token in self.numbers:
            return self.numbers[token]
        if not token[0].isdigit():
            return None
        whole, _, fraction = token.partition(".")
        if len(whole) > _MAX_DIGITS:
            return None
        return int(whole) + (1 if fraction.strip("0") else 0)


def _feedback_phrases(vocabulary: FeedbackVocabulary) -> Iterable[tuple[str, Label]]:
    yield from ((phrase, ("pain", "")) for phrase in vocabulary.pain_words)
    yield from ((phrase, ("no_pain", "")) for phrase in vocabulary.no_pain_phrases)
    yield from ((phrase, ("ignored", "")) for phrase in vocabulary.ignored_phrases)
    for kind, model in (("effort", vocabulary.effort), ("control", vocabulary.control)):
        for value, synonyms in model.model_dump().items():
            yield from ((phrase, (kind, value)) for phrase in synonyms)
    for place, synonyms in vocabulary.locations.items():
        yield from ((phrase, ("location", place)) for phrase in synonyms)
        # 'knee fine', 'back was ok': a place said to be fine is neither pain there nor an effort
        fine = vocabulary.place_states
        yield from ((f"{phrase} {state}", ("ignored", "")) for phrase in synonyms for state in fine)


def _red_flag_phrases(vocabulary: FeedbackVocabulary) -> Iterable[tuple[str, Label]]:
    for sign in vocabulary.red_flags:
        for group, synonyms in enumerate(sign.all_of):
            yield from ((phrase, (sign.id, str(group))) for phrase in synonyms)


def _book(entries: Iterable[tuple[tuple[str, ...], Label]]) -> Book:
    book: dict[tuple[str, ...], dict[Label, None]] = {}
    for key, label in entries:
        if key:
            book.setdefault(key, {})[label] = None
    return {key: tuple(labels) for key, labels in book.items()}


def _tokens(text: str, numbers: dict[str, int]) -> list[str]:
    """Words, numbers, '/' and clause punctuation; a hyphen survives only between two numbers."""
    raw = _TOKEN.findall(normalise(text))

    def is_number(token: str) -> bool:
        return token[0].isdigit() or token in numbers

    return [
        token
        for i, token in enumerate(raw)
        if token != "-" or (0 < i < len(raw) - 1 and is_number(raw[i - 1]) and is_number(raw[i + 1]))
    ]


# --- the text, as tokens and phrase hits ----------------------------------------------------------


@dataclass(frozen=True)
class _Hit:
    start: int
    end: int
    labels: tuple[Label, ...]

    def has(self, kind: str) -> bool:
        return any(label[0] == kind for label in self.labels)

    def values(self, kind: str) -> list[str]:
        return [value for label_kind, value in self.labels if label_kind == kind]


@dataclass
class _Text:
    """Tokens, their clause numbers, the phrases found and, per phrase, the negation flipping it."""

    tokens: list[str]
    clause: list[int]
    hits: list[_Hit]
    owner: list[int | None]
    negation: list[int | None]

    @classmethod
    def read(cls, text: str, lex: _Lexicon) -> _Text:
        tokens = [lex.typos.fix(token) for token in _tokens(text, lex.numbers)]
        return cls.match(tokens, lex.book, lex, passable=frozenset({"location"}))

    @classmethod
    def match(
        cls,
        tokens: list[str],
        book: Book,
        lex: _Lexicon,
        passable: frozenset[str],
        blockers: frozenset[int] = frozenset(),
    ) -> _Text:
        """Find the phrases of one book in the tokens and settle which ones are negated."""
        hits = _find_hits(tokens, book)
        owner: list[int | None] = [None] * len(tokens)
        for index, hit in enumerate(hits):
            owner[hit.start : hit.end] = [index] * (hit.end - hit.start)
        text = cls(tokens, _clause_ids(tokens, _CLAUSE_ENDS), hits, owner, [])
        for hit in hits:
            text.negation.append(text._negation_before(hit, lex, passable, blockers))
        return text

    def said(self, kind: str) -> list[str]:
        """Values of the given kind that the text names without negating them."""
        return [
            value
            for hit, negated_by in zip(self.hits, self.negation, strict=True)
            if negated_by is None
            for value in hit.values(kind)
        ]

    def hit_at(self, position: int) -> _Hit | None:
        index = self.owner[position] if position < len(self.tokens) else None
        return None if index is None else self.hits[index]

    def _negation_before(
        self, hit: _Hit, lex: _Lexicon, passable: frozenset[str], blockers: frozenset[int]
    ) -> int | None:
        """A negation up to `window` words back, stopped by a clause end, a break word or a phrase.

        The phrase just before passes its own negation on when only carriers stand between
        ('no numbness or tingling'); a passable phrase (a body place) is stepped over ('no back pain').
        """
        position = hit.start - 1
        for _ in range(lex.window):
            if position < 0 or self.tokens[position] in _CLAUSE_ENDS or self.tokens[position] in lex.breaks:
                return None
            earlier = self.owner[position]
            if earlier is None and position in blockers:
                return None
            if earlier is None and self.tokens[position] in lex.negations:
                return position
            if earlier is None or any(self.hits[earlier].has(kind) for kind in passable):
                position = position - 1 if earlier is None else self.hits[earlier].start - 1
                continue
            gap = self.tokens[self.hits[earlier].end : hit.start]
            carried = gap and all(word in lex.carriers for word in gap)
            return self.negation[earlier] if carried else None
        return None


def _find_hits(tokens: Sequence[str], book: Book) -> list[_Hit]:
    """Leftmost-longest phrase matches, never overlapping; a book's longest phrase is measured once."""
    longest = _LONGEST.get(book, lambda b: max(map(len, b), default=0))
    return [_Hit(start, end, labels) for start, end, labels in longest_matches(tokens, book, longest)]


def _clause_ids(tokens: Sequence[str], ends: frozenset[str]) -> list[int]:
    ids, current = [], 0
    for token in tokens:
        current += token in ends
        ids.append(current)
    return ids


# --- pain -----------------------------------------------------------------------------------------


def _softened(text: _Text, hit: _Hit, negated_by: int, lex: _Lexicon) -> bool:
    """'not much pain', 'didn't hurt that much': a negation that leaves some pain."""
    for position in range(negated_by + 1, min(hit.end + 2, len(text.tokens))):
        if text.tokens[position] in _CLAUSE_ENDS:
            return False
        if text.tokens[position] in lex.softeners:
            return True
    return False


@dataclass(frozen=True)
class _Span:
    start: int
    end: int
    value: int
    scaled: bool


def _pain_scores(text: _Text, lex: _Lexicon) -> list[tuple[int, int]]:
    """(position, score) for every number the text gives as a pain score."""
    opaque = _opaque_per_clause(text, lex)
    scores, i = [], 0
    while i < len(text.tokens):
        if text.owner[i] is not None or lex.number(text.tokens[i]) is None:
            i += 1
            continue
        span = _span_at(text.tokens, i, lex)
        if _is_pain_score(text, span, opaque, lex):
            scores.append((i, min(span.value, 10)))
        i = span.end
    return scores


def _span_at(tokens: Sequence[str], start: int, lex: _Lexicon) -> _Span:
    """A number, or a range of two, and the scale marker after it if any."""
    value = lex.number(tokens[start]) or 0
    end = start + 1
    if not _scale_at(tokens, end, lex) and end + 1 < len(tokens) and tokens[end] in lex.joiners:
        second = lex.number(tokens[end + 1])
        if second is not None:
            value, end = max(value, second), end + 2
    marker = _scale_at(tokens, end, lex)
    return _Span(start, end + marker, value, marker > 0)


def _scale_at(tokens: Sequence[str], position: int, lex: _Lexicon) -> int:
    """The length of the scale marker ('/ 10', 'out of ten') at this position, or 0."""
    for marker in lex.scales:
        if tuple(tokens[position : position + len(marker)]) == marker:
            return len(marker)
    return 0


def _is_pain_score(text: _Text, span: _Span, opaque: Sequence[int], lex: _Lexicon) -> bool:
    after = text.tokens[span.end] if span.end < len(text.tokens) else ""
    next_hit = text.hit_at(span.end)
    before = _word_before(text, span.start, lex)
    spelled = text.tokens[span.start] in lex.numbers  # 'one leg' is a count, '5 lower back' a score
    if (after in lex.not_pain and not (before == "pain" and after in lex.scale_names)) or (
        spelled and next_hit is not None and next_hit.has("location")
    ):
        return False
    if before == "not_pain":
        return False
    if span.scaled:
        return True
    if span.value > 10:
        return False
    if before == "pain" or (not spelled and _pain_word_after(text, span.end, lex)):
        return True
    if not spelled and _after_article(text.tokens, span.start, lex):
        return True
    beside = (h for h in text.hits if text.clause[h.start] == text.clause[span.start])
    if spelled and any(h.has("effort") or h.has("control") for h in beside):
        return False  # 'a hard one': a spelled number beside an effort or control word is no score
    if _counted_out_of(text.tokens, span.start, lex):
        return False
    return _alone_in_clause(text, span, opaque, lex)


def _after_article(tokens: Sequence[str], start: int, lex: _Lexicon) -> bool:
    """'it was a 7', 'more like a 2': a digit after 'a' is a score, unless negated ('not a 10')."""
    if start == 0 or tokens[start - 1] not in ("a", "an"):
        return False
    return start < 2 or tokens[start - 2] not in lex.negations


def _counted_out_of(tokens: Sequence[str], start: int, lex: _Lexicon) -> bool:
    """'only managed 6 of the 10': both numbers around 'of (the)' count reps, neither is a score."""
    before = [t for t in tokens[max(0, start - 3) : start] if t != "the"]
    after = [t for t in tokens[start + 1 : start + 4] if t != "the"]
    counted_before = len(before) >= 2 and before[-1] == "of" and lex.number(before[-2]) is not None
    counted_after = len(after) >= 2 and after[0] == "of" and lex.number(after[1]) is not None
    return counted_before or counted_after


def _pain_word_after(text: _Text, position: int, lex: _Lexicon) -> bool:
    """'2 pain', '3 in my groin', 'a 2 for pain': a pain word or a place after the number, over fillers."""
    while position < len(text.tokens) and text.tokens[position] not in _CLAUSE_ENDS:
        hit = text.hit_at(position)
        if hit is not None:
            return hit.has("pain") or hit.has("location")
        if text.tokens[position] not in lex.fillers:
            return False
        position += 1
    return False


def _word_before(text: _Text, start: int, lex: _Lexicon) -> str | None:
    """'pain' when a pain word, or a place that opens the clause, leads to the number over fillers
    ('back hurt about 6', 'lower back 6'); 'not_pain' after a count or another scale ('effort 7')."""
    position, place = start - 1, False
    while position >= 0 and text.tokens[position] not in _CLAUSE_ENDS:
        hit = text.hit_at(position)
        if hit is not None and hit.has("pain"):
            return "pain"
        if hit is not None and hit.has("location"):
            position, place = hit.start - 1, True
        elif hit is None and text.tokens[position] in lex.not_pain:
            return "not_pain"
        elif hit is None and text.tokens[position] in lex.fillers:
            position -= 1
        else:
            return None
    return "pain" if place else None


def _is_opaque(text: _Text, position: int, lex: _Lexicon) -> bool:
    """Whether a token says more than a lone number would: not a filler, number, effort, control or place."""
    hit = text.hit_at(position)
    if hit is not None:
        return not (hit.has("effort") or hit.has("control") or hit.has("location"))
    token = text.tokens[position]
    if token[0].isdigit() and len(token) <= 2:  # '2 maybe 3': several scores read as the highest
        return False
    return token not in lex.fillers and token not in _CLAUSE_ENDS


def _opaque_per_clause(text: _Text, lex: _Lexicon) -> list[int]:
    counts = [0] * (text.clause[-1] + 1 if text.clause else 0)
    for position in range(len(text.tokens)):
        counts[text.clause[position]] += _is_opaque(text, position, lex)
    return counts


def _alone_in_clause(text: _Text, span: _Span, opaque: Sequence[int], lex: _Lexicon) -> bool:
    inside = sum(_is_opaque(text, position, lex) for position in range(span.start, span.end))
    return opaque[text.clause[span.start]] == inside


def _pain_words(text: _Text, lex: _Lexicon) -> tuple[list[int], bool]:
    """Positions where pain is said, and whether the text denies pain anywhere."""
    said, denied = [], False
    for hit, negated_by in zip(text.hits, text.negation, strict=True):
        if not (hit.has("pain") or hit.has("no_pain")):
            continue
        negated = negated_by is not None and not _softened(text, hit, negated_by, lex)
        denies = negated if hit.has("pain") else not negated
        denied = denied or denies
        if not denies:
            said.append(hit.start)
    return said, denied


def _pain(scores: Sequence[tuple[int, int]], said: Sequence[int], denied: bool) -> int | None:
    """The highest score; else 0 when pain is only denied; else None (ask)."""
    if scores:
        return max(score for _, score in scores)
    return 0 if denied and not said else None


# --- effort, control, location --------------------------------------------------------------------


def _least_favourable(values: Sequence[str], worst_first: Sequence[str]) -> str | None:
    return next((value for value in worst_first if value in values), None)


def _location(text: _Text, pain: Sequence[int]) -> str | None:
    """The place nearest to pain said or scored in the same clause, else the first place named."""
    places = [
        (hit.start, place)
        for hit, negated_by in zip(text.hits, text.negation, strict=True)
        if negated_by is None
        for place in hit.values("location")
    ]
    if not places:
        return None
    near = [(distance, start, place) for start, place in places if (distance := _distance(text, pain, start))]
    if near:
        return min(near)[2]
    if not pain:
        return places[0][1]
    # a place said before the score is where it hurt ('felt it in my knee, maybe a 2'); one said
    # after it, in another clause, is about something else ('pain 4, and my foot keeps catching')
    before = [place for start, place in places if start < pain[0]]
    return before[0] if before else None


def _distance(text: _Text, pain: Sequence[int], position: int) -> int | None:
    """Words from a position to the nearest pain word or score in its clause (1 when adjacent)."""
    index = bisect.bisect_left(pain, position)
    neighbours = [pain[i] for i in (index - 1, index) if 0 <= i < len(pain)]
    same_clause = [p for p in neighbours if text.clause[p] == text.clause[position]]
    return min((abs(p - position) + 1 for p in same_clause), default=None)


# --- red flags ------------------------------------------------------------------------------------


def _has_red_flag(text: _Text, lex: _Lexicon) -> bool:
    """A sign is present when every one of its groups is named, un-negated, in one sentence."""
    blockers = frozenset(p for hit in text.hits for p in range(hit.start, hit.end))
    flags = _Text.match(text.tokens, lex.flag_book, lex, passable=frozenset(), blockers=blockers)
    sentence = _clause_ids(text.tokens, _SENTENCE_ENDS)
    named: dict[int, set[Label]] = {}
    for hit, negated_by in zip(flags.hits, flags.negation, strict=True):
        if negated_by is None:
            named.setdefault(sentence[hit.start], set()).update(hit.labels)
    return any(
        all((sign, str(group)) in labels for group in range(groups))
        for labels in named.values()
        for sign, groups in lex.signs
    )
