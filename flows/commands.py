"""Commands and confirmations as triggers of the shared machine, so the diagrams show them too.

Most commands answer and ask the current question again (internal transitions: the state stays);
the confirmations of /restart, /delete and /coach are asked as data (`data["confirm"]`) and their
answers are triggers of their own.
"""

from __future__ import annotations

from typing import Any

from transitions import EventData

from hipcoach.flows import moves, summary
from hipcoach.flows.screens import TRAINING
from hipcoach.flows.turn_model import TurnModel, argument
from hipcoach.flows.values import INITIAL, Button, ForgetUser, NotifyCoach

# Command name -> trigger; programme commands that move the user are training's triggers.
ANSWERED = {"help": "show_help", "start": "welcome_back", "export": "show_export", "exercises": "show_moves",
            moves.SHOW: "show_moves", "progress": "show_progress"}  # fmt: skip
MOVING = {"today": "today", "checkin": "checkin", "schedule": "change_schedule", "pause": "pause",
          "resume": "resume", "flare": "flare"}  # fmt: skip
CONFIRMED = ("restart", "delete", "coach")

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "show_help", "source": "*", "dest": None, "before": "say_help"},
    {"trigger": "welcome_back", "source": "*", "dest": None, "before": "say_welcome_back"},
    {"trigger": "show_export", "source": "*", "dest": None, "before": "say_export"},
    {"trigger": "show_moves", "source": "*", "dest": None, "before": "say_moves"},
    {"trigger": "show_progress", "source": "*", "dest": None, "before": "say_progress"},
    *({"trigger": f"ask_{modal}", "source": "*", "dest": None, "before": "open_confirmation"}
      for modal in CONFIRMED),
    {"trigger": "cancel_confirmation", "source": "*", "dest": None, "before": "close_confirmation"},
    {"trigger": "confirm_restart", "source": "*", "dest": "red_flags_urgent", "before": "forget_screening"},
    {"trigger": "confirm_delete", "source": "*", "dest": INITIAL, "before": "forget_everything"},
    {"trigger": "confirm_coach", "source": "*", "dest": None, "before": "share_with_coach"},
]  # fmt: skip


class CommandSteps(TurnModel):
    """Callbacks of commands and confirmations; mixed into the per-turn model."""

    def say_help(self, event: EventData) -> None:
        self.say("help")

    def say_welcome_back(self, event: EventData) -> None:
        self.say("welcome_back")

    def say_export(self, event: EventData) -> None:
        self.say("export_ready", attachment="export")

    def say_moves(self, event: EventData) -> None:
        asked = argument(event) if event.args else ""
        self.replies.extend(moves.replies(asked, self.state in TRAINING, self.data, self.content))

    def say_progress(self, event: EventData) -> None:
        text = summary.progress_text(self.data, self.now, self.content)
        # The summary goes with the chart (a photo's caption in Telegram), which the shell draws.
        self.say("progress_summary", attachment="progress_chart", summary=text)

    def open_confirmation(self, event: EventData) -> None:
        """Ask to confirm; the question of the state comes back once it is answered."""
        self.data["confirm"] = event.event.name.removeprefix("ask_")

    def close_confirmation(self, event: EventData) -> None:
        modal = self.data.pop("confirm")
        self.say(f"{modal}_cancelled")

    def forget_everything(self, event: EventData) -> None:
        self.data.clear()
        self.effects.append(ForgetUser())
        self.say("deleted", ((Button("button_start_again", f"{INITIAL}:start"),),))

    def share_with_coach(self, event: EventData) -> None:
        """Send the human coach a summary; the user's handle only if they chose to share it."""
        self.data.pop("confirm", None)
        handle = argument(event) if event.args else None
        self.effects.append(NotifyCoach(summary.coach_text(self.data, self.now, self.content, handle)))
        self.say("coach_shared")
