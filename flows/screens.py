"""Onboarding questions as data: the message that asks, the buttons that answer, how text is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reader = Literal["yes_no", "equipment", "continue", "none"]


@dataclass(frozen=True)
class Screen:
    """What a state asks; `answers` pairs each answer value with its button's message key."""

    ask: str
    answers: tuple[tuple[str, str], ...] = ()
    reader: Reader = "yes_no"


YES_NO = (("yes", "button_yes"), ("no", "button_no"))

SCREENS: dict[str, Screen] = {
    "consent": Screen("consent_question", (("yes", "button_consent"), ("no", "button_decline"))),
    "red_flags_urgent": Screen(
        "red_flags_urgent_question", (("yes", "button_some_apply"), ("no", "button_none_apply"))
    ),
    "red_flags_clinician": Screen(
        "red_flags_clinician_question", (("yes", "button_some_apply"), ("no", "button_none_apply"))
    ),
    "clinician_hold": Screen(
        "clinician_hold_question", (("yes", "button_cleared"), ("no", "button_not_yet"))
    ),
    "load_pain": Screen("load_pain_question", YES_NO),
    "kneeling_ok": Screen("kneeling_ok_question", YES_NO),
    "knee_issues": Screen("knee_issues_question", YES_NO),
    "equipment": Screen("equipment_question", reader="equipment"),
    "session": Screen("exercise_card", (("done", "button_done"),), reader="continue"),
    "rest": Screen("rest_prompt", (("again", "button_show_exercise"),), reader="continue"),
    "urgent_stop": Screen("urgent_stop", reader="none"),
}

RESTART = Screen("restart_question", (("yes", "button_restart"), ("no", "button_keep_going")))
RESTART_ID = "restart"

# Commands whose features are announced but not built yet: they answer kindly and change nothing.
COMING_SOON = (
    "today",
    "checkin",
    "progress",
    "schedule",
    "pause",
    "resume",
    "coach",
    "export",
    "delete",
)
