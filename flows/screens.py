"""Every question as data: the message that asks, the buttons that answer, how text is read."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

Reader = Literal[
    "yes_no",
    "equipment",
    "continue",
    "buttons",
    "checkin",
    "morning",
    "days",
    "time",
    "zone",
    "none",
    "activity",
    "score",
    "day",
    "assessed",
    "clearance",
    "limits",
    "parts",
]


Keyboard = Literal[
    "answers", "red_flags", "equipment", "card", "scale", "goal_examples", "weekdays", "day_presets",
    "time_presets", "zones", "schedule_confirm", "idle", "session_offer", "offer", "parts",
]  # fmt: skip


@dataclass(frozen=True)
class Screen:
    """Everything about one question, declared once: the message that asks it (`ask`), its keyboard
    (`keyboard`: a button per answer, or a named builder in flows/prompts.py), the answers with their
    buttons' message keys, how free text is read (`reader`) and what is said when it is not."""

    ask: str
    answers: tuple[tuple[str, str], ...] = ()
    reader: Reader = "yes_no"
    unclear: str = "not_understood"  # the lead when free text does not answer the question
    keyboard: Keyboard = "answers"


YES_NO = (("yes", "button_yes"), ("no", "button_no"))

SCREENS: dict[str, Screen] = {
    "consent": Screen("consent_question", (("yes", "button_consent"), ("no", "button_decline"))),
    "red_flags_urgent": Screen(
        "red_flags_urgent_question",
        (("yes", "button_some_apply"), ("no", "button_none_apply")),
        keyboard="red_flags",
    ),
    "red_flags_clinician": Screen(
        "red_flags_clinician_question",
        (("yes", "button_some_apply"), ("no", "button_none_apply")),
        keyboard="red_flags",
    ),
    "clinician_hold": Screen(
        "clinician_hold_question",
        (("yes", "button_cleared"), ("no", "button_not_yet")),
        "clearance",
        "clinician_hold_waiting",
    ),
    "clinician_limits": Screen("clinician_limits_question", (("none", "button_no_limits"),), "limits"),
    "load_pain": Screen("load_pain_question", YES_NO),
    "kneeling_ok": Screen("kneeling_ok_question", YES_NO),
    "knee_issues": Screen("knee_issues_question", YES_NO),
    "equipment": Screen("equipment_question", reader="equipment", keyboard="equipment"),
    "goal_activity": Screen("goal_activity_question", reader="activity", keyboard="goal_examples"),
    "goal_rating": Screen("goal_rating_question", reader="score", keyboard="scale"),
    "goal_recheck": Screen("goal_recheck_question", reader="score", keyboard="scale"),
    "session": Screen(
        "exercise_card",
        (("done", "button_done"), ("later", "button_not_now"), ("full", "button_full_instructions")),
        reader="continue",
        keyboard="card",
    ),
    "checkin_pain": Screen("checkin_pain_question", reader="checkin", keyboard="scale"),
    "checkin_effort": Screen(
        "checkin_effort_question",
        (("easy", "button_effort_easy"), ("ok", "button_effort_ok"), ("hard", "button_effort_hard")),
        reader="checkin",
    ),
    "checkin_control": Screen(
        "checkin_control_question",
        (
            ("smooth", "button_control_smooth"),
            ("wobbly", "button_control_wobbly"),
            ("lost", "button_control_lost"),
        ),
        reader="checkin",
    ),
    "checkin_parts": Screen(
        "checkin_parts_question",
        (
            ("fine", "button_parts_fine"),
            ("skipped", "button_parts_skipped"),
            ("warm_up", "button_parts_warm_up"),
            ("accessory", "button_parts_accessory"),
        ),
        reader="parts",
        keyboard="parts",
    ),
    "morning_check": Screen(
        "morning_question",
        (
            ("better", "button_morning_better"),
            ("same", "button_morning_same"),
            ("worse", "button_morning_worse"),
        ),
        reader="morning",
    ),
    "sticking_offer": Screen(
        "sticking_question", (("yes", "button_try_it"), ("no", "button_stay")), "yes_no", keyboard="offer"
    ),
    "schedule_days": Screen("schedule_days_question", reader="days", keyboard="day_presets"),
    "schedule_time": Screen("schedule_time_question", reader="time", keyboard="time_presets"),
    "schedule_zone": Screen("schedule_zone_question", reader="zone", keyboard="zones"),
    "schedule_summary_day": Screen("schedule_summary_day_question", reader="day", keyboard="weekdays"),
    "schedule_confirm": Screen(
        "schedule_confirm_question",
        (("yes", "button_yes"), ("no", "button_change")),
        keyboard="schedule_confirm",
    ),
    "idle": Screen(
        "idle_prompt",
        (("start", "button_start_now"), ("schedule", "button_change_schedule")),
        "buttons",
        keyboard="idle",
    ),
    "paused": Screen("paused_prompt", (("resume", "button_resume"),), "buttons"),
    "session_offer": Screen(
        "session_prompt",
        (
            ("start", "button_start"),
            ("snooze_30", "button_snooze_30"),
            ("snooze_120", "button_snooze_120"),
            ("skip", "button_skip_today"),
        ),
        "buttons",
        keyboard="session_offer",
    ),
    "urgent_stop": Screen(
        "urgent_stop", (("assessed", "button_assessed"),), "assessed", "urgent_stop_waiting"
    ),
}

# Where someone is once screening is behind them: the commands of the programme work here.
TRAINING = (
    "session", "checkin_pain", "checkin_effort", "checkin_control", "checkin_parts", "morning_check",
    "sticking_offer",
    "schedule_days", "schedule_time", "schedule_zone", "schedule_summary_day", "schedule_confirm", "idle",
    "paused", "session_offer", "goal_recheck",
)  # fmt: skip

# Questions that interrupt any state for a yes/no, then return to it: confirmations, asked as data.
MODALS: dict[str, Screen] = {
    "restart": Screen("restart_question", (("yes", "button_restart"), ("no", "button_keep_going"))),
    "delete": Screen("delete_question", (("yes", "button_delete"), ("no", "button_keep_my_data"))),
    "coach": Screen(
        "coach_question",
        (
            ("handle", "button_share_with_handle"),
            ("yes", "button_share_anonymously"),
            ("no", "button_dont_share"),
        ),
    ),
}

# The ask tier's follow-up: one yes/no question at a time, asked before whatever was open.
SAFETY_CHECK = Screen("safety_question", (("yes", "button_safety_yes"), ("no", "button_safety_no")))
