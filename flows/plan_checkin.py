"""One tap about the rest of the plan: after the main exercise's check-in, how the warm-up and the
accessory went (progression.yaml `plan_checkin`). Asked only after a session whose card had them,
and not when the check-in was acted on at once. A part that hurt rests for a few counted sessions,
said so, and comes back after them, said so too."""

from __future__ import annotations

from typing import Any

from transitions import EventData

from hipcoach.flows.turn_model import TurnModel

UNANSWERED = "unanswered"  # a check-in field or morning answer never given; stored as such


class PlanCheckinSteps(TurnModel):
    """The parts question's condition and callbacks; mixed into the training steps."""

    def needs_parts(self, event: EventData) -> bool:
        return "parts_asked" in self.data

    def ask_about_parts(self, shown: dict[str, str], record: dict[str, Any]) -> None:
        """Ask about the parts the card showed, unless there were none or the check-in was cut short."""
        self.data.pop("parts_asked", None)
        cut_short = UNANSWERED in (record.get("effort"), record.get("control"))
        if shown and not cut_short:
            self.data["parts_asked"] = dict(shown)

    def conclude_parts(self, answer: str) -> None:
        """Record the answer with the session; a part that hurt rests, with the reason said."""
        asked = self.data.pop("parts_asked", None) or {}
        history = self.data.get("history") or []
        if history:
            history[-1]["parts"] = answer
        if answer == UNANSWERED:  # optional: nothing to say when it was passed over
            return
        if answer not in asked:
            self.say(f"parts_{answer}")
            return
        rest = self.content.progression.plan_checkin.rest_sessions
        self.data.setdefault("resting", {})[answer] = rest
        exercise = self.content.exercises[asked[answer]].name
        self.say("parts_rest", exercise=exercise, count=rest)

    def rest_parts_counted(self) -> None:
        """A counted session without a resting part: one fewer to go; back in the plan after the last."""
        resting = self.data.get("resting") or {}
        for part in list(resting):
            resting[part] -= 1
            if resting[part] <= 0:
                del resting[part]
                self.say("parts_back", part=self.content.message(f"part_{part}"))
        if not resting:
            self.data.pop("resting", None)
