"""Every message key the coach uses, with the parameters it fills in; content is checked against it."""

from __future__ import annotations

_CARD = ("name", "why", "setup", "steps", "cues", "faults", "dose", "safety")
_DOSE = ("sets", "reps", "seconds")

MESSAGE_PARAMS: dict[str, tuple[str, ...]] = {
    # onboarding
    "welcome": (),
    "disclaimer": (),
    "consent_question": (),
    "declined": (),
    "red_flags_urgent_question": ("signs",),
    "red_flags_clinician_question": ("signs",),
    "urgent_stop": (),
    "clinician_hold_question": (),
    "clinician_not_yet": (),
    "load_pain_question": (),
    "kneeling_ok_question": (),
    "knee_issues_question": (),
    "equipment_question": (),
    "equipment_noted": ("items",),
    "equipment_none": (),
    "exercise_card": _CARD,
    "session_done": (),
    "rest_prompt": (),
    # commands and repair
    "welcome_back": (),
    "help": (),
    "restart_question": (),
    "restarting": (),
    "restart_cancelled": (),
    "coming_soon": ("command",),
    "unknown_command": ("command",),
    "not_understood": (),
    "stale_button": (),
    "unsupported_input": (),
    # formatting pieces
    "list_bullet": ("item",),
    "list_numbered": ("n", "item"),
    "dose_reps": _DOSE,
    "dose_seconds": _DOSE,
    "dose_per_side": (),
    "dose_line": ("amount", "tempo", "rest"),
    "fault_line": ("fault", "fix"),
    # buttons
    "button_yes": (),
    "button_no": (),
    "button_consent": (),
    "button_decline": (),
    "button_some_apply": (),
    "button_none_apply": (),
    "button_cleared": (),
    "button_not_yet": (),
    "button_done": (),
    "button_show_exercise": (),
    "button_restart": (),
    "button_keep_going": (),
    "button_start_again": (),
    "button_selected": ("label",),
    "button_unselected": ("label",),
    "button_no_equipment": (),
    # said by the shell, not by a flow
    "terminal_intro": ("database",),
    "terminal_prompt": (),
    "terminal_goodbye": (),
    "error_sorry": (),
}
