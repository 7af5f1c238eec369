"""Onboarding as data: consent, red flags, screening questions, equipment and the first rung."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from transitions import EventData

from hipcoach.flows import summary
from hipcoach.flows.starting import choose_start
from hipcoach.flows.turn_model import TurnModel, argument, destination
from hipcoach.flows.values import (
    INITIAL,
    Button,
    CancelPrompts,
    ClearScreening,
    ForgetUser,
    RecordAnswer,
    RecordConsent,
    RecordGoal,
    RecordRedFlag,
    Reply,
    SetPosition,
)

SCREENING = [
    "consent", "red_flags_urgent", "red_flags_clinician", "clinician_hold", "load_pain", "kneeling_ok",
    "knee_issues", "equipment", "goal_activity", "goal_rating",
]  # fmt: skip

# Where a clinician hold returns to once cleared: the screening question it interrupted, or training.
HOLD_RETURNS = [*SCREENING[:2], *SCREENING[4:], "idle"]

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
    {"trigger": "answer", "source": "clinician_hold", "dest": "clinician_limits", "conditions": "said_yes",
     "before": ["record_answer", "acknowledge_clearance"]},
    {"trigger": "answer", "source": "clinician_hold", "dest": "=", "before": "not_cleared_yet"},
    *({"trigger": "answer", "source": "clinician_limits", "dest": back, "conditions": "returns_here",
       "before": "record_limits", "after": "resume_after_hold"} for back in HOLD_RETURNS),
    {"trigger": "answer", "source": "urgent_stop", "dest": "red_flags_urgent",
     "before": ["acknowledge_assessment", "forget_screening"]},
    {"trigger": "answer", "source": "load_pain", "dest": "kneeling_ok", "before": "record_answer"},
    {"trigger": "answer", "source": "kneeling_ok", "dest": "knee_issues", "before": "record_answer"},
    {"trigger": "answer", "source": "knee_issues", "dest": "equipment", "before": "record_answer"},
    {"trigger": "answer", "source": "equipment", "dest": "goal_activity", "conditions": "finished",
     "before": "record_equipment"},
    {"trigger": "answer", "source": "equipment", "dest": "=", "before": "toggle_equipment"},
    {"trigger": "answer", "source": "goal_activity", "dest": "session", "conditions": "skipped_goal",
     "before": "place_on_ladder"},
    {"trigger": "answer", "source": "goal_activity", "dest": "goal_rating", "before": "note_goal_activity"},
    {"trigger": "answer", "source": "goal_rating", "dest": "session",
     "before": ["record_goal", "place_on_ladder"]},
    {"trigger": "restart", "source": "*", "dest": "red_flags_urgent", "before": "forget_screening"},
    {"trigger": "red_flag", "source": "*", "dest": "urgent_stop", "before": "raise_red_flag"},
    {"trigger": "hold", "source": "*", "dest": "clinician_hold", "before": "raise_hold"},
]  # fmt: skip


class OnboardingSteps(TurnModel):
    """Conditions and callbacks of onboarding; mixed into the per-turn model."""

    if TYPE_CHECKING:  # training's steps that onboarding hands over to (flows.training.TrainingSteps)

        def resume_prompts(self, event: EventData) -> None: ...

        def _plan_goal(self) -> None: ...

    # ---- conditions ----

    def said_yes(self, event: EventData) -> bool:
        return argument(event) == "yes"

    def returns_here(self, event: EventData) -> bool:
        return bool(self.data.get("hold_return", "load_pain") == destination(event))

    def finished(self, event: EventData) -> bool:
        return "finish" in argument(event)

    def skipped_goal(self, event: EventData) -> bool:
        return argument(event) == {"skip": True}

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
        self.data["hold_return"] = "load_pain"
        self.effects.append(RecordRedFlag(tier, (), self.state))

    def not_cleared_yet(self, event: EventData) -> None:
        self.say("clinician_not_yet")

    def acknowledge_clearance(self, event: EventData) -> None:
        self.say("clinician_cleared")

    def record_limits(self, event: EventData) -> None:
        """Keep what the clinician said to avoid (shown in /progress and /export)."""
        limits = argument(event)["limits"]
        self.data["clinician_limits"] = limits
        self.effects.append(RecordAnswer("clinician_limits", limits))
        self.say("limits_noted" if limits else "no_limits_noted")

    def resume_after_hold(self, event: EventData) -> None:
        for key in ("hold_return", "red_flag", "paused"):
            self.data.pop(key, None)
        if self.state == "idle":
            self.resume_prompts(event)

    def acknowledge_assessment(self, event: EventData) -> None:
        self.say("assessed_thanks")

    def toggle_equipment(self, event: EventData) -> None:
        item = argument(event)["toggle"]
        self.replaces_pressed = True  # a multi-select: the question is shown again in place, ticked
        selected = self.data.setdefault("selected", [])
        if item in selected:
            selected.remove(item)
        else:
            selected.append(item)

    def record_equipment(self, event: EventData) -> None:
        chosen = argument(event)["finish"]
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

    def note_goal_activity(self, event: EventData) -> None:
        self.data["goal"] = {"activity": argument(event)["activity"], "ratings": []}

    def record_goal(self, event: EventData) -> None:
        """Remember a difficulty rating of the goal activity, and say what changed since the first."""
        goal = self.data["goal"]
        score = argument(event)["score"]
        goal["ratings"].append({"at": self.now.isoformat(), "score": score})
        self.effects.append(RecordGoal(goal["activity"], score))
        if len(goal["ratings"]) == 1:
            self.say("goal_noted", activity=goal["activity"], score=score)
        else:
            self.say("goal_recheck_noted", score=score)
            self.replies.extend(
                Reply("plain", {"text": line}) for line in summary.goal_lines(self.data, self.content)[1:]
            )
        self._plan_goal()

    def place_on_ladder(self, event: EventData) -> None:
        rule = choose_start(self.data["answers"], self.content.starting_point)
        ladder = self.content.starting_point.ladder
        self.data["position"] = {"ladder": ladder, "exercise": rule.start}
        self.effects.append(SetPosition(ladder, rule.start, rule.reason))
        self.say(rule.reason, exercise=self.content.exercises[rule.start].name)

    def forget_screening(self, event: EventData) -> None:
        for key in (
            "answers",
            "position",
            "red_flag",
            "selected",
            "schedule",
            "paused",
            "checkin",
            "offer",
            "hold_return",
            "safety_check",
        ):
            self.data.pop(key, None)
        self.effects.append(ClearScreening())
        self.effects.append(CancelPrompts())
        self.say("restarting")

    def raise_red_flag(self, event: EventData) -> None:
        """Free text anywhere that names an urgent sign stops the programme at once."""
        self.data["red_flag"] = "urgent"
        self.data["paused"] = True
        self.effects.append(RecordRedFlag("urgent", tuple(argument(event)), self.state))
        self.effects.append(CancelPrompts())

    def raise_hold(self, event: EventData) -> None:
        """Free text that names a clinician sign pauses everything until a clinician clears exercise."""
        self.data["red_flag"] = "clinician"
        self.data["hold_return"] = hold_return(self.state, self.data)
        self.data["paused"] = True
        self.effects.append(RecordRedFlag("clinician", tuple(argument(event)), self.state))
        self.effects.append(CancelPrompts())
        self.say("clinician_hold_raised")


def hold_return(state: str, data: dict[str, Any]) -> str:
    """Where to go once cleared: back to the screening question, or to training if it is behind them."""
    if "position" in data:
        return "idle"
    if state in HOLD_RETURNS:
        return state
    return "load_pain" if state == "red_flags_clinician" else "consent"
