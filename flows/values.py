"""Plain values that cross the boundary between the core and the shell: events, replies, effects."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

# ---- events: what the user (or the clock) did ------------------------------------------------


@dataclass(frozen=True)
class Text:
    text: str


@dataclass(frozen=True)
class Choice:
    """A button press; `value` is '<question>:<answer>' as the button carried it."""

    value: str


@dataclass(frozen=True)
class Command:
    name: str
    args: str = ""


@dataclass(frozen=True)
class Unsupported:
    """Input the coach cannot read, such as a sticker or a photo."""

    kind: str


@dataclass(frozen=True)
class Due:
    """A scheduled prompt has come due; `kind` is 'session', 'snooze' or 'morning'."""

    kind: str
    prompt_id: int
    due_at: datetime


@dataclass(frozen=True)
class Reachable:
    """The user can be reached again (they unblocked the bot): prompts missed meanwhile were skipped."""


Event = Text | Choice | Command | Unsupported | Due | Reachable

# ---- replies: what the coach says ------------------------------------------------------------


@dataclass(frozen=True)
class Button:
    label: str
    value: str
    params: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Reply:
    """A message by key; `buttons` are rows of buttons under it."""

    key: str
    params: Mapping[str, Any] = field(default_factory=dict)
    buttons: tuple[tuple[Button, ...], ...] = ()
    attachment: str | None = None  # "progress_chart", "export" or "stats": the shell fills it in
    # Answering a button press, this message takes the pressed message's place (a multi-select toggle).
    replaces_pressed: bool = False


@dataclass(frozen=True)
class File:
    """A file sent with a message: a picture (`photo`) or a document."""

    name: str
    data: bytes
    kind: str = "document"


@dataclass(frozen=True)
class Message:
    """A reply rendered to text: what a chat shows."""

    text: str
    buttons: tuple[tuple[tuple[str, str], ...], ...] = ()
    attachment: str | None = None
    files: tuple[File, ...] = ()
    replaces_pressed: bool = False  # see Reply: a chat that cannot edit simply shows it

    def to_json(self) -> dict[str, Any]:
        """`{"text", "buttons"}`, `"attachment"` when the shell still has a file to make for it, and
        `"replaces_pressed"` when set."""
        raw: dict[str, Any] = {
            "text": self.text,
            "buttons": [[{"label": lab, "value": val} for lab, val in row] for row in self.buttons],
        }
        if self.attachment:
            raw["attachment"] = self.attachment
        if self.replaces_pressed:
            raw["replaces_pressed"] = True
        return raw

    @classmethod
    def from_json(cls, raw: Mapping[str, Any]) -> Message:
        rows = raw.get("buttons") or []
        buttons = tuple(tuple((b["label"], b["value"]) for b in row) for row in rows)
        replaces = bool(raw.get("replaces_pressed"))
        return cls(str(raw["text"]), buttons, raw.get("attachment"), replaces_pressed=replaces)


# ---- effects: what the shell must carry out, in the same transaction as the new state ---------


@dataclass(frozen=True)
class RecordConsent:
    given: bool


@dataclass(frozen=True)
class RecordAnswer:
    question: str
    value: Any


@dataclass(frozen=True)
class RecordRedFlag:
    """A safety event: its tier, the sign ids matched (none for a screening answer), the state it came in."""

    tier: str
    signs: tuple[str, ...] = ()
    state: str = "unknown"


@dataclass(frozen=True)
class SetPosition:
    ladder: str
    exercise: str
    reason: str


@dataclass(frozen=True)
class ClearScreening:
    """Forget screening answers and programme position before screening again."""


@dataclass(frozen=True)
class ForgetUser:
    """Remove every stored trace of the user."""


@dataclass(frozen=True)
class RecordCheckIn:
    exercise: str
    pain: int
    effort: str
    control: str
    location: str | None = None


@dataclass(frozen=True)
class RecordMorning:
    """The next-morning answer, for every check-in since `since` that has none yet."""

    answer: str
    since: datetime


@dataclass(frozen=True)
class RecordDecision:
    kind: str
    exercise: str
    reason: str


@dataclass(frozen=True)
class SchedulePrompt:
    """Replace the user's pending prompt of this kind with one due at `due_at` (aware, UTC)."""

    kind: str
    due_at: datetime


@dataclass(frozen=True)
class CancelPrompts:
    """Drop the user's pending prompts (of these kinds; all when empty)."""

    kinds: tuple[str, ...] = ()


@dataclass(frozen=True)
class RecordGoal:
    """A rating (0-10) of how hard the user's chosen everyday activity is."""

    activity: str
    score: int


@dataclass(frozen=True)
class NotifyCoach:
    """Send this summary (already worded) to the human coach; the user agreed to it this time."""

    text: str


Effect = (
    RecordConsent
    | RecordAnswer
    | RecordRedFlag
    | SetPosition
    | ClearScreening
    | ForgetUser
    | RecordCheckIn
    | RecordMorning
    | RecordDecision
    | SchedulePrompt
    | CancelPrompts
    | RecordGoal
    | NotifyCoach
)

# ---- state and outcome -----------------------------------------------------------------------

INITIAL = "new"


@dataclass(frozen=True)
class State:
    """A user's dialogue state: the machine state name and a small JSON-serialisable dict."""

    name: str = INITIAL
    data: Mapping[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "data": dict(self.data)}

    @classmethod
    def from_json(cls, raw: Mapping[str, Any] | None) -> State:
        if not raw:
            return cls()
        return cls(name=str(raw["name"]), data=dict(raw.get("data") or {}))


@dataclass(frozen=True)
class Context:
    """What the shell knows about this turn that the core may use; none of it is stored."""

    coach_available: bool = False
    is_admin: bool = False
    handle: str | None = None


@dataclass(frozen=True)
class Outcome:
    state: State
    replies: tuple[Reply, ...]
    effects: tuple[Effect, ...] = ()
