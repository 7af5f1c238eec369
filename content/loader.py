"""Load a content directory into a validated `Content`, or report every error as file, field, reason."""

from __future__ import annotations

import itertools
import string
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ValidationError

from hipcoach.content.agenda_schema import AgendaRules
from hipcoach.content.education_schema import Education, education_problems
from hipcoach.content.feedback_schema import FeedbackVocabulary
from hipcoach.content.keyframes_check import keyframe_problems
from hipcoach.content.keyframes_schema import Keyframes
from hipcoach.content.plurals import Plural, parse_plural, plural_problems
from hipcoach.content.safety_schema import SafetyVocabulary
from hipcoach.content.schedule_schema import ScheduleSettings
from hipcoach.content.schema import Content, Exercise, Ladder, ProgressionRules, Screening, StartingPoint

DEFAULT_DIR = Path(__file__).parent / "data"
# libyaml's safe loader where PyYAML was built with it (about 10x faster), else the pure-Python one.
_YAML_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
LOCALES = ("en",)


@dataclass(frozen=True)
class Problem:
    file: str
    field: str
    reason: str

    def __str__(self) -> str:
        return f"{self.file}: {self.field}: {self.reason}"


class ContentError(Exception):
    """Raised when content does not validate; carries every problem found."""

    def __init__(self, problems: list[Problem]) -> None:
        self.problems = problems
        super().__init__("\n".join(str(p) for p in problems))


MessageSpec = Mapping[str, Iterable[str]]


def load(directory: Path | str | None = None, required_messages: MessageSpec | None = None) -> Content:
    """Load and cross-check content; `required_messages` maps each key a flow uses to its params."""
    problems: list[Problem] = []
    content = _Reader(Path(directory or DEFAULT_DIR), problems).read()
    if content is not None:
        problems += cross_check(content)
        problems += check_messages(content, required_messages or {})
    if problems:
        raise ContentError(problems)
    assert content is not None
    return content


class _Reader:
    def __init__(self, root: Path, problems: list[Problem]) -> None:
        self.root = root
        self.problems = problems

    def read(self) -> Content | None:
        exercises = self._items("exercises.yaml", "exercises", Exercise)
        ladders = self._items("ladders.yaml", "ladders", Ladder)
        screening = self._single("screening.yaml", Screening)
        starting_point = self._single("starting_point.yaml", StartingPoint)
        progression = self._single("progression.yaml", ProgressionRules)
        schedule = self._single("schedule.yaml", ScheduleSettings)
        feedback = self._single("feedback.yaml", FeedbackVocabulary)
        safety = self._single("safety.yaml", SafetyVocabulary)
        agenda = self._single("agenda.yaml", AgendaRules)
        keyframes = self._single("keyframes.yaml", Keyframes)
        education = self._single("education.yaml", Education)
        messages = {locale: self._messages(locale) for locale in LOCALES}
        if self.problems:
            return None
        return Content(
            exercises=exercises,
            ladders=ladders,
            screening=screening,
            starting_point=starting_point,
            progression=progression,
            schedule=schedule,
            feedback=feedback,
            safety=safety,
            agenda=agenda,
            keyframes=keyframes,
            education=education,
            messages=messages,
        )

    def _yaml(self, name: str) -> Any:
        path = self.root / name
        try:
            return yaml.load(path.read_text(encoding="utf-8"), Loader=_YAML_LOADER)
        except FileNotFoundError:
            self.problems.append(Problem(name, "(file)", "file is missing"))
        except yaml.YAMLError as error:
            self.problems.append(Problem(name, "(file)", f"not valid YAML: {error}"))
        return None

    def _items(self, name: str, key: str, model: type[BaseModel]) -> dict[str, Any]:
        data = self._yaml(name)
        if data is None:
            return {}
        items = data.get(key) if isinstance(data, dict) else None
        if not isinstance(items, list):
            self.problems.append(Problem(name, key, "must be a list"))
            return {}
        parsed: dict[str, Any] = {}
        for index, raw in enumerate(items):
            label = raw.get("id", index) if isinstance(raw, dict) else index
            where = f"{key}.{label}"
            if label in parsed:
                self.problems.append(Problem(name, where, f"duplicate id '{label}'"))
                continue
            item = self._validate(name, where, model, raw)
            if item is not None:
                parsed[item.id] = item
        return parsed

    def _single(self, name: str, model: type[BaseModel]) -> Any:
        data = self._yaml(name)
        if data is None:
            return None
        return self._validate(name, "", model, data)

    def _messages(self, locale: str) -> dict[str, str | Plural]:
        name = f"messages/{locale}.yaml"
        data = self._yaml(name)
        if data is None:
            return {}
        if not isinstance(data, dict):
            self.problems.append(Problem(name, "(file)", "must map message keys to text"))
            return {}
        messages: dict[str, str | Plural] = {}
        for key, text in data.items():
            if isinstance(text, dict):  # a template per plural form
                found = plural_problems(text, locale)
                self.problems += [Problem(name, f"{key}.{form}", reason) for form, reason in found]
                messages[str(key)] = parse_plural(text)
            elif not isinstance(text, str) or not text.strip():
                self.problems.append(Problem(name, str(key), "must be non-empty text or plural forms"))
            else:
                messages[str(key)] = text
        return messages

    def _validate(self, name: str, where: str, model: type[BaseModel], raw: Any) -> Any:
        try:
            return model.model_validate(raw)
        except ValidationError as error:
            for detail in error.errors():
                path = ".".join(str(part) for part in (where, *detail["loc"]) if part != "")
                reason = detail["msg"].removeprefix("Value error, ")
                self.problems.append(Problem(name, path or "(root)", reason))
            return None


def cross_check(content: Content) -> list[Problem]:
    """Checks that span files: ids that must exist, links without cycles, a complete start table."""
    problems: list[Problem] = []
    problems += _check_exercise_links(content)
    problems += _check_ladders(content)
    problems += _check_equipment(content)
    problems += _check_starting_point(content)
    problems += _check_alternatives(content)
    problems += _check_spared_places(content)
    found = keyframe_problems(content.keyframes, content.exercises)
    problems += [Problem("keyframes.yaml", field, reason) for field, reason in found]
    found = education_problems(content.education)
    problems += [Problem("education.yaml", field, reason) for field, reason in found]
    return problems


def _check_spared_places(content: Content) -> list[Problem]:
    """Every place to spare is a place the check-in reader can find in a text."""
    known = content.feedback.locations
    return [
        Problem("progression.yaml", f"spare_places.{place}", f"'{place}' is not a location in feedback.yaml")
        for place in content.progression.spare_places
        if place not in known
    ]


def _check_alternatives(content: Content) -> list[Problem]:
    problems = []
    for ladder, options in content.progression.alternatives.items():
        for position, other in enumerate([ladder, *options]):
            if other not in content.ladders:
                where = f"alternatives.{ladder}" + ("" if position == 0 else f".{position - 1}")
                problems.append(Problem("progression.yaml", where, f"unknown ladder id '{other}'"))
    return problems


def _check_exercise_links(content: Content) -> list[Problem]:
    problems = []
    for exercise in content.exercises.values():
        for side in ("easier", "harder"):
            target = getattr(exercise, side)
            if target is not None and target not in content.exercises:
                problems.append(
                    Problem(
                        "exercises.yaml",
                        f"exercises.{exercise.id}.{side}",
                        f"unknown exercise id '{target}'",
                    )
                )
    for side in ("easier", "harder"):
        for cycle in _cycles(content, side):
            problems.append(
                Problem(
                    "exercises.yaml",
                    f"exercises.{cycle[0]}.{side}",
                    f"{side} links form a cycle: {' -> '.join([*cycle, cycle[0]])}",
                )
            )
    return problems


def _cycles(content: Content, side: str) -> list[list[str]]:
    """Each cycle along one link direction, reported once from its smallest id."""
    cycles = []
    for start in sorted(content.exercises):
        path, current = [], start
        while current in content.exercises and current not in path:
            path.append(current)
            current = getattr(content.exercises[current], side)
        if current == start and min(path) == start:
            cycles.append(path)
    return cycles


def _check_ladders(content: Content) -> list[Problem]:
    problems = []
    for ladder in content.ladders.values():
        seen: set[str] = set()
        for position, rung in enumerate(ladder.rungs):
            where = f"ladders.{ladder.id}.rungs.{position}"
            if rung not in content.exercises:
                problems.append(Problem("ladders.yaml", where, f"unknown exercise id '{rung}'"))
            if rung in seen:
                problems.append(Problem("ladders.yaml", where, f"'{rung}' appears twice"))
            seen.add(rung)
        problems += _ladder_order(content, ladder)
    return problems


def _ladder_order(content: Content, ladder: Ladder) -> list[Problem]:
    """Rungs rise in difficulty, and each rung's easier/harder links name its neighbours on the ladder."""
    rungs = [content.exercises.get(rung) for rung in ladder.rungs]
    problems = []
    for position, (lower, higher) in enumerate(itertools.pairwise(rungs), start=1):
        if lower is not None and higher is not None and higher.difficulty <= lower.difficulty:
            reason = f"'{higher.id}' (difficulty {higher.difficulty}) is not harder than '{lower.id}' "
            reason += f"(difficulty {lower.difficulty}) before it"
            problems.append(Problem("ladders.yaml", f"ladders.{ladder.id}.rungs.{position}", reason))
    ends = [None, *ladder.rungs, None]
    for position, exercise in enumerate(rungs, start=1):
        if exercise is None:
            continue
        for side, expected in (("easier", ends[position - 1]), ("harder", ends[position + 1])):
            actual = getattr(exercise, side)
            known = all(link is None or link in content.exercises for link in (actual, expected))
            if actual != expected and known:
                said, wanted = (f"'{link}'" if link else "none" for link in (actual, expected))
                reason = f"is {said}, but on ladder '{ladder.id}' it is {wanted}"
                problems.append(Problem("exercises.yaml", f"exercises.{exercise.id}.{side}", reason))
    return problems


def _check_equipment(content: Content) -> list[Problem]:
    known = {item.id for item in content.screening.equipment}
    problems = []
    for exercise in content.exercises.values():
        for position, needed in enumerate(exercise.equipment):
            if needed not in known:
                problems.append(
                    Problem(
                        "exercises.yaml",
                        f"exercises.{exercise.id}.equipment.{position}",
                        f"equipment '{needed}' is not in the equipment list of screening.yaml",
                    )
                )
    ids = [item.id for item in content.screening.equipment]
    for duplicate in sorted({i for i in ids if ids.count(i) > 1}):
        problems.append(Problem("screening.yaml", "equipment", f"duplicate id '{duplicate}'"))
    return problems


def _check_starting_point(content: Content) -> list[Problem]:
    name, table = "starting_point.yaml", content.starting_point
    problems = []
    ladder = content.ladders.get(table.ladder)
    if ladder is None:
        problems.append(Problem(name, "ladder", f"unknown ladder id '{table.ladder}'"))
    seen = set()
    for index, row in enumerate(table.table):
        where = f"table.{index}"
        case = (row.load_pain, row.can_kneel)
        if case in seen:
            problems.append(
                Problem(name, where, f"a second row for load_pain={case[0]}, can_kneel={case[1]}")
            )
        seen.add(case)
        exercise = content.exercises.get(row.start)
        if exercise is None:
            problems.append(Problem(name, f"{where}.start", f"unknown exercise id '{row.start}'"))
            continue
        if ladder is not None and row.start not in ladder.rungs:
            problems.append(Problem(name, f"{where}.start", f"'{row.start}' is not on ladder '{ladder.id}'"))
        if exercise.equipment:
            problems.append(
                Problem(name, f"{where}.start", f"'{row.start}' needs equipment; a start must need none")
            )
        if not row.can_kneel and exercise.demands.kneeling:
            problems.append(
                Problem(name, f"{where}.start", f"'{row.start}' needs kneeling but can_kneel is false")
            )
    for load_pain in (True, False):
        for can_kneel in (True, False):
            if (load_pain, can_kneel) not in seen:
                problems.append(
                    Problem(name, "table", f"no row for load_pain={load_pain}, can_kneel={can_kneel}")
                )
    return problems


def check_messages(content: Content, required: MessageSpec) -> list[Problem]:
    """Every key a flow uses exists in every locale, and uses only the parameters the flow passes."""
    keys = dict(required)
    for row in content.starting_point.table:
        keys.setdefault(row.reason, ("exercise",))
    for place in content.progression.spare_places:  # what sparing that place means, in a few words
        keys.setdefault(f"spares_{place}", ())
    problems = []
    for locale, messages in content.messages.items():
        name = f"messages/{locale}.yaml"
        for key, params in sorted(keys.items()):
            if key not in messages:
                problems.append(Problem(name, key, "missing message used by a flow"))
                continue
            message = messages[key]
            templates = message.templates() if isinstance(message, Plural) else (message,)
            unknown = sorted(set().union(*map(_placeholders, templates)) - set(params))
            if unknown:
                problems.append(Problem(name, key, f"unknown placeholder {{{unknown[0]}}}"))
            if isinstance(message, Plural) and message.by not in params:
                reason = f"counts by {{{message.by}}}, which this message is not given"
                problems.append(Problem(name, f"{key}.by", reason))
    return problems


def _placeholders(template: str) -> set[str]:
    try:
        return {field for _, field, _, _ in string.Formatter().parse(template) if field}
    except ValueError:
        return {"<malformed braces>"}
