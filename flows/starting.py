"""The starting point: which rung a new user begins on, read from the decision table in content."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from hipcoach.content.schema import StartingPoint, StartRule


def can_kneel(answers: Mapping[str, Any]) -> bool:
    """Kneeling is in only when it is comfortable and the knees are not an issue."""
    return bool(answers.get("kneeling_ok")) and not answers.get("knee_issues", True)


def choose_start(answers: Mapping[str, Any], table: StartingPoint) -> StartRule:
    load_pain = bool(answers.get("load_pain"))
    kneel = can_kneel(answers)
    for rule in table.table:
        if rule.load_pain == load_pain and rule.can_kneel == kneel:
            return rule
    raise LookupError(f"no starting rule for load_pain={load_pain}, can_kneel={kneel}")
