"""The onboarding machine: states and transitions as data, one `transitions.Machine` for every user."""

from __future__ import annotations

from typing import Any

from transitions import EventData, Machine

from content.schema import Content
from flows import cards
from flows.screens import SCREENS
from flows.starting import choose_start
from flows.values import (
    INITIAL,
    Button,
    ClearScreening,
    Effect,
    ForgetUser,
    RecordAnswer,
    RecordConsent,
    RecordRedFlag,
    Reply,
    SetPosition,
)

STATES = [INITIAL, *SCREENS]
SCREENED = ["session", "rest"]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "begin", "source": INITIAL, "dest": "consent", "before": "welcome"},
    {"trigger": "answer", "source": "consent", "dest": "red_flags_urgent", "conditions": "said_yes",
     "before": "record_consent"},
    {"trigger": "answer", "source": "consent", "dest": INITIAL, "before": ["record_consent", "decline"]},
    {"trigger": "answer", "source": "red_flags_urgent", "dest": "urgent_stop", "conditions": "said_yes",
     "before": ["record_answer", "record_red_flag"]},
    {"trigger": "answer", "source": "red_flags_urgent", "dest": "red_flags_clinician",
     "before": "record_answer"},
    {"trigger": "answer", "source": "red_flags_clinician", "dest": "clinician_hold",
     "conditions": "said_yes", "before": ["record_answer", "record_red_flag"]},
    {"trigger": "answer", "source": "red_flags_clinician", "dest": "load_pain", "before": "record_answer"},
    {"trigger": "answer", "source": "clinician_hold", "dest": "load_pain", "conditions": "said_yes",
     "before": "record_answer"},
    {"trigger": "answer", "source": "clinician_hold", "dest": "=", "before": "not_cleared_yet"},
    {"trigger": "answer", "source": "load_pain", "dest": "kneeling_ok", "before": "record_answer"},
    {"trigger": "answer", "source": "kneeling_ok", "dest": "knee_issues", "before": "record_answer"},
    {"trigger": "answer", "source": "knee_issues", "dest": "equipment", "before": "record_answer"},
    {"trigger": "answer", "source": "equipment", "dest": "session", "conditions": "finished",
     "before": ["record_equipment", "place_on_ladder"]},
    {"trigger": "answer", "source": "equipment", "dest": "=", "before": "toggle_equipment"},
    {"trigger": "answer", "source": "session", "dest": "rest", "before": "well_done"},
    {"trigger": "answer", "source": "rest", "dest": "session"},
    {"trigger": "restart", "source": [s for s in STATES if s != INITIAL], "dest": "red_flags_urgent",
     "before": "forget_screening"},
]  # fmt: skip


class Turn:
    """The model the shared machine drives for one turn: the user's data plus what the turn produced."""

    def __init__(self, name: str, data: dict[str, Any], content: Content) -> None:
        self.state = name
        self.data = data
        self.content = content
        self.replies: list[Reply] = []
        self.effects: list[Effect] = []

    def say(self, key: str, buttons: tuple[tuple[Button, ...], ...] = (), **params: Any) -> None:
        self.replies.append(Reply(key, params, buttons))

    # ---- conditions ----

    def said_yes(self, event: EventData) -> bool:
        return event.args[0] == "yes"

    def finished(self, event: EventData) -> bool:
        return "finish" in event.args[0]

    # ---- callbacks ----

    def welcome(self, event: EventData) -> None:
        self.say("welcome")
        self.say("disclaimer")

    def record_consent(self, event: EventData) -> None:
        self.effects.append(RecordConsent(given=self.said_yes(event)))

    def decline(self, event: EventData) -> None:
        self.data.clear()
        self.effects.append(ForgetUser())
        self.say("declined", ((Button("button_start_again", f"{INITIAL}:start"),),))

    def record_answer(self, event: EventData) -> None:
        value = self.said_yes(event)
        self.data.setdefault("answers", {})[self.state] = value
        self.effects.append(RecordAnswer(self.state, value))

    def record_red_flag(self, event: EventData) -> None:
        tier = "urgent" if self.state == "red_flags_urgent" else "clinician"
        self.data["red_flag"] = tier
        self.effects.append(RecordRedFlag(tier))

    def not_cleared_yet(self, event: EventData) -> None:
        self.say("clinician_not_yet")

    def toggle_equipment(self, event: EventData) -> None:
        item = event.args[0]["toggle"]
        selected = self.data.setdefault("selected", [])
        if item in selected:
            selected.remove(item)
        else:
            selected.append(item)

    def record_equipment(self, event: EventData) -> None:
        chosen = event.args[0]["finish"]
        order = [item.id for item in self.content.screening.equipment]
        chosen = sorted(set(chosen), key=order.index)
        self.data.pop("selected", None)
        self.data.setdefault("answers", {})["equipment"] = chosen
        self.effects.append(RecordAnswer("equipment", chosen))
        labels = [item.label for item in self.content.screening.equipment if item.id in chosen]
        if labels:
            self.say("equipment_noted", items=", ".join(labels))
        else:
            self.say("equipment_none")

    def place_on_ladder(self, event: EventData) -> None:
        rule = choose_start(self.data["answers"], self.content.starting_point)
        ladder = self.content.starting_point.ladder
        self.data["position"] = {"ladder": ladder, "exercise": rule.start}
        self.effects.append(SetPosition(ladder, rule.start, rule.reason))
        self.say(rule.reason, exercise=self.content.exercises[rule.start].name)

    def well_done(self, event: EventData) -> None:
        self.say("session_done")

    def forget_screening(self, event: EventData) -> None:
        for key in ("answers", "position", "red_flag", "selected"):
            self.data.pop(key, None)
        self.effects.append(ClearScreening())
        self.say("restarting")

    def ask(self, event: EventData | None = None) -> None:
        """Put the current state's question (with its buttons) at the end of the replies."""
        if self.state in SCREENS:
            self.replies.append(prompt(self.state, self.data, self.content))


MACHINE = Machine(
    model=None,
    states=STATES,
    transitions=TRANSITIONS,
    initial=INITIAL,
    auto_transitions=False,
    send_event=True,
    after_state_change="ask",
)


def prompt(name: str, data: dict[str, Any], content: Content) -> Reply:
    """The reply that asks the question of a state, with its buttons."""
    screen = SCREENS[name]
    params: dict[str, Any] = {}
    if name.startswith("red_flags_"):
        tier = name.removeprefix("red_flags_")
        signs = next(t.signs for t in content.screening.red_flags if t.id == tier)
        params["signs"] = cards.bullets(signs, content)
    if name == "equipment":
        return Reply(screen.ask, params, equipment_buttons(data.get("selected", []), content))
    if name == "session":
        params = cards.card_params(content.exercises[data["position"]["exercise"]], content)
    buttons = tuple((Button(label, f"{name}:{value}"),) for value, label in screen.answers)
    if screen.reader == "yes_no":
        buttons = (tuple(row[0] for row in buttons),)
    return Reply(screen.ask, params, buttons)


def equipment_buttons(selected: list[str], content: Content) -> tuple[tuple[Button, ...], ...]:
    rows = []
    for item in content.screening.equipment:
        label = "button_selected" if item.id in selected else "button_unselected"
        rows.append((Button(label, f"equipment:{item.id}", {"label": item.label}),))
    rows.append((Button("button_no_equipment", "equipment:none"), Button("button_done", "equipment:done")))
    return tuple(rows)


def run(name: str, data: dict[str, Any], content: Content, trigger: str, *args: Any) -> Turn:
    """Fire one trigger on the shared machine for a user whose state is `name`."""
    turn = Turn(name, data, content)
    MACHINE.add_model(turn, initial=name)
    try:
        turn.trigger(trigger, *args)
    finally:
        MACHINE.remove_model(turn)
    return turn
