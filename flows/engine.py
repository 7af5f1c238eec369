"""One turn of the coach: step(state, event, now, content) -> Outcome(state, replies, effects)."""

from __future__ import annotations

import copy
from datetime import datetime, timedelta
from typing import Any

from hipcoach.content.schema import Content
from hipcoach.flows import agenda, agenda_turns, commands, machine, moves, summary
from hipcoach.flows.answers import STALE, read_answer, typed_choice
from hipcoach.flows.feedback import is_checkin_sentence, mentions_pain
from hipcoach.flows.plan_checkin import UNANSWERED
from hipcoach.flows.prompts import current_question
from hipcoach.flows.safety import SafetyReading, follow_up, screen
from hipcoach.flows.screens import MODALS, SCREENS, TRAINING
from hipcoach.flows.training import next_session_prompt, next_weekly_prompt
from hipcoach.flows.understand import is_question, read_question, says_flare
from hipcoach.flows.values import (
    INITIAL,
    Button,
    Choice,
    Command,
    Context,
    Due,
    Effect,
    Event,
    Outcome,
    Reachable,
    RecordRedFlag,
    Reply,
    State,
    Text,
    Unsupported,
)

COACH_MOMENTS = ("urgent_stop", "clinician_hold", "sticking_offer")
HELD = ("urgent_stop", "clinician_hold")  # a new clinician or ask sign changes nothing here
# Where a check-in sentence is taken as the check-in even though something else was asked.
CHECKIN_DETOURS = ("idle", "session_offer", "goal_recheck", "sticking_offer")
SAFETY_TEXT_KEPT = 500  # characters of a message kept to answer after the safety questions


def step(
    state: State, event: Event, now: datetime, content: Content, context: Context | None = None
) -> Outcome:
    """Decide the coach's reply to one event. Pure: `now` and `context` are given; no I/O."""
    if isinstance(event, Reachable):
        return _reachable(state, now, content)
    context = context or Context()
    data: dict[str, Any] = _copied(dict(state.data))
    name = state.name if state.name in machine.STATES else INITIAL
    if name == INITIAL and state.name != INITIAL:
        data = {}
    notes: list[Reply] = []
    lapsed: list[Effect] = []
    if name != INITIAL:
        name, notes, lapsed = agenda_turns.lapse(name, data, now, content)
    if isinstance(event, (Text, Command)):
        name = agenda_turns.take_up(name, data, now, content)
    outcome = _step(name, data, event, now, content, context)
    kept = dict(outcome.state.data)
    agenda.sync(kept, now, content)
    asked = agenda.kind_of(outcome.state.name)
    if asked is not None:
        agenda.mark_asked(kept, asked)
    outcome = Outcome(State(outcome.state.name, kept), outcome.replies, outcome.effects)
    outcome = agenda_turns.surface(outcome, now, content)
    if isinstance(event, Due):
        notes = []  # a prompt speaks for itself; what lapsed is told when the user next writes
    return Outcome(outcome.state, (*notes, *outcome.replies), (*lapsed, *outcome.effects))


def _reachable(state: State, now: datetime, content: Content) -> Outcome:
    """Back within reach: the regular prompts skipped while they were not are planned anew, from now.

    Nothing is said: an unblocked chat shows nothing, and the next prompt speaks for itself."""
    data = dict(state.data)
    if state.name not in TRAINING:
        return Outcome(state, ())
    planned = (next_session_prompt(data, content, now), next_weekly_prompt(data, content, now))
    return Outcome(state, (), tuple(effect for effect in planned if effect is not None))


def _copied(value: Any) -> Any:
    """A deep copy of JSON-shaped state (dicts, lists, plain values); anything else the generic way.
    Several times faster than copy.deepcopy, which took half of every turn."""
    if isinstance(value, dict):
        return {key: _copied(item) for key, item in value.items()}
    if isinstance(value, list):
        return [_copied(item) for item in value]
    if value is None or isinstance(value, (str, int, float, bool)):
        return value
    return copy.deepcopy(value)


def _step(
    name: str, data: dict[str, Any], event: Event, now: datetime, content: Content, context: Context
) -> Outcome:
    if isinstance(event, Due):
        return _due(name, data, event, now, content)
    if event == Choice("coach:open"):
        event = Command("coach")
    if isinstance(event, Choice) and event.value.startswith(f"{moves.SHOW}:"):
        event = Command(moves.SHOW, event.value.partition(":")[2])
    if isinstance(event, Command):
        return _command(name, data, event, now, content, context)
    if isinstance(event, Text):  # the safety screen reads every text before anything else does
        reading = screen(event.text, content.safety)
        if reading.tier is not None:
            return _offer_coach(_safety(name, data, reading, event, now, content), name, context)
    if name == INITIAL:
        return _run(name, data, content, now, "begin")
    if data.get("safety_check"):
        return _offer_coach(_safety_answer(name, data, event, now, content), name, context)
    if data.get("confirm") in MODALS:
        return _confirm(name, data, event, now, content, context)
    typed = typed_choice(name, data, event, content, now) if isinstance(event, Text) else None
    if typed is not None and typed.value.startswith(f"{moves.SHOW}:"):  # the label of a card's button
        return _command(name, data, Command(moves.SHOW, typed.value.partition(":")[2]), now, content, context)
    if isinstance(event, Text) and name in CHECKIN_DETOURS and is_checkin_sentence(event.text, content):
        return _checkin_detour(name, data, event, now, content)
    if isinstance(event, Text) and name in CHECKIN_DETOURS and says_flare(event.text, content):
        return _command(name, data, Command("flare"), now, content, context)
    if name == "checkin_parts" and read_answer(name, data, event, content, now) in (None, STALE):
        return _past_parts(data, event, now, content, context)
    return _offer_coach(_answer(name, data, event, now, content), name, context)


def _past_parts(
    data: dict[str, Any], event: Event, now: datetime, content: Content, context: Context
) -> Outcome:
    """The one tap about the rest of the plan is optional: something else instead leaves it
    unanswered and is taken as it was meant, by the question that comes next."""
    moved = _run("checkin_parts", data, content, now, "answer", UNANSWERED)
    kept = dict(moved.state.data)
    name = (
        agenda_turns.take_up(moved.state.name, kept, now, content)
        if isinstance(event, Text)
        else moved.state.name
    )
    went_on = _step(name, kept, event, now, content, context)
    return Outcome(went_on.state, went_on.replies, (*moved.effects, *went_on.effects))


def _checkin_detour(name: str, data: dict[str, Any], event: Text, now: datetime, content: Content) -> Outcome:
    """A check-in sentence where something else was asked is taken as the check-in; the question
    that was open stays on the agenda and comes back after it."""
    opened = _run(name, data, content, now, "checkin")
    answered = _answer(opened.state.name, dict(opened.state.data), event, now, content)
    return Outcome(answered.state, answered.replies, (*opened.effects, *answered.effects))


def _safety(
    name: str, data: dict[str, Any], reading: SafetyReading, event: Text, now: datetime, content: Content
) -> Outcome:
    """Act on a warning sign: urgent stops, clinician holds, ask puts the specific questions first."""
    record = RecordRedFlag(str(reading.tier), reading.signs, name)
    if reading.tier == "urgent" and name != "urgent_stop":
        for key in ("confirm", "safety_check", "checkin", "draft"):
            data.pop(key, None)
        return _run(name, data, content, now, "red_flag", reading.signs)
    if reading.tier == "clinician" and name not in HELD:
        for key in ("confirm", "safety_check", "draft"):  # a check-in under way waits for the clearance
            data.pop(key, None)
        return _run(name, data, content, now, "hold", reading.signs)
    if reading.tier == "ask" and name not in HELD:
        data.pop("confirm", None)
        data["safety_check"] = {
            "questions": follow_up(reading, content.safety),
            "text": event.text[:SAFETY_TEXT_KEPT],
        }
        outcome = _reask(name, data, content, now, "safety_check_intro")
        return Outcome(outcome.state, outcome.replies, (record,))
    outcome = _reask(name, data, content, now, f"{name}_still" if name in HELD else None)
    return Outcome(outcome.state, outcome.replies, (record,))


def _safety_answer(name: str, data: dict[str, Any], event: Event, now: datetime, content: Content) -> Outcome:
    """An answer to one of the ask tier's questions: any yes stops the programme; all no goes on."""
    check = data["safety_check"]
    asked = check["questions"][0]
    answer = _yes_no(event, "safety", content)
    if answer is None:
        return _reask(
            name, data, content, now, "stale_button" if isinstance(event, Choice) else "not_understood"
        )
    if answer == "yes":
        signs = next(q.signs for q in content.safety.questions if q.id == asked)
        data.pop("safety_check")
        return _run(name, data, content, now, "red_flag", tuple(signs))
    check["questions"].pop(0)
    if check["questions"]:
        return _reask(name, data, content, now)
    data.pop("safety_check")
    lead = [Reply("safety_check_clear")]
    kept = read_answer(name, data, Text(check["text"]), content, now) if name in SCREENS else None
    if kept is not None and kept is not STALE and SCREENS[name].reader not in ("none", "buttons"):
        answered = _run(name, data, content, now, "answer", kept)  # what they said first still counts
        return Outcome(answered.state, (*lead, *answered.replies), answered.effects)
    outcome = _reask(name, data, content, now)
    return Outcome(outcome.state, (*lead, *outcome.replies), outcome.effects)


def _yes_no(event: Event, question: str, content: Content) -> str | None:
    if isinstance(event, Choice):
        asked, _, value = event.value.partition(":")
        return value if asked == question and value in ("yes", "no") else None
    if isinstance(event, Text):
        said = read_question(event.text, question, content.screening)
        return None if said is None else ("yes" if said else "no")
    return None


def _answer(name: str, data: dict[str, Any], event: Event, now: datetime, content: Content) -> Outcome:
    if SCREENS[name].reader == "none":
        return _reask(name, data, content, now)
    answer = read_answer(name, data, event, content, now)
    if answer is STALE:
        return _reask(name, data, content, now, "stale_button")
    if answer is None:
        return _reask(name, data, content, now, _unclear_lead(name, event, content))
    if name in ("session_offer", "goal_recheck"):
        agenda.drop(data, "session" if name == "session_offer" else "goal")
    return _run(name, data, content, now, "answer", answer)


def _unclear_lead(name: str, event: Event, content: Content) -> str:
    """Why the question comes again: an attachment, a question of theirs, pain talk, or not understood."""
    if isinstance(event, Unsupported):
        return "unsupported_input"
    if isinstance(event, Text) and is_question(event.text, content):
        return "help"
    if isinstance(event, Text) and name in ("idle", "session_offer") and mentions_pain(event.text, content):
        return "idle_pain_talk"
    return SCREENS[name].unclear


def _due(name: str, data: dict[str, Any], event: Due, now: datetime, content: Content) -> Outcome:
    """A scheduled prompt: its item joins the agenda, asked now if the user is free, else later."""
    if name not in TRAINING or data.get("paused"):
        return Outcome(State(name, data), ())
    if name == "checkin_parts" and event.kind != "weekly":  # optional: it gives way to what is due
        passed = _run(name, data, content, now, "answer", UNANSWERED)
        name, data = passed.state.name, dict(passed.state.data)
    late = now - event.due_at > timedelta(minutes=content.schedule.grace_minutes)
    if event.kind == "weekly":
        planned = next_weekly_prompt(data, content, now)
        text = summary.weekly_text(data, now, content)
        replies = (Reply("weekly_summary", {"summary": text}),)
        return Outcome(State(name, data), () if late else replies, (planned,) if planned else ())
    effects = []
    if event.kind == "session":
        planned = next_session_prompt(data, content, now)
        effects = [planned] if planned else []
    if event.kind in ("session", "snooze"):
        if late:
            data["missed"] = data.get("missed", 0) + 1
        else:
            agenda.add(data, "session", now, content)
    if event.kind == "goal" and data.get("goal"):
        agenda.add(data, "goal", now, content)
    return Outcome(State(name, data), (), tuple(effects))  # surfaced by step() if the user is free


def _command(
    name: str, data: dict[str, Any], event: Command, now: datetime, content: Content, context: Context
) -> Outcome:
    """A command: answered by its trigger (flows/commands.py), or told why it cannot be done here."""
    command = event.name.lower()
    if command == "stats" and context.is_admin:
        if name != INITIAL:
            return _reask(name, data, content, now, "stats_report", attachment="stats")
        begin = ((Button("button_start_again", f"{INITIAL}:start"),),)
        return Outcome(
            State(name, data), (Reply("stats_report", {}, (), "stats"), Reply("stats_begin", {}, begin))
        )
    if name == INITIAL:
        lead = [Reply("help")] if command == "help" else []
        return _run(INITIAL, data, content, now, "begin", lead=lead)
    data.pop("confirm", None)  # a command closes a confirmation left open
    refused = _refusal(name, data, command, context)
    if refused is not None:
        return _reask(name, data, content, now, refused, command=command[:32])
    if command in commands.CONFIRMED:
        return _run(name, data, content, now, f"ask_{command}")
    if command in commands.ANSWERED:
        return _run(name, data, content, now, commands.ANSWERED[command], event.args)
    data.pop("draft", None)  # a check-in under way stays on the agenda and comes back afterwards
    return _run(name, data, content, now, commands.MOVING[command])


def _refusal(name: str, data: dict[str, Any], command: str, context: Context) -> str | None:
    """The message that says why a command does nothing here, if it does nothing."""
    known = {*commands.ANSWERED, *commands.MOVING, *commands.CONFIRMED}
    if command == "stats":
        return "not_allowed"
    if command not in known:
        return "unknown_command"
    if command == "restart" and name == "urgent_stop":
        return "urgent_restart_first"
    if command == "coach" and not context.coach_available:
        return "coach_unavailable"
    if (command in commands.MOVING or command == "progress") and name not in TRAINING:
        return "finish_screening_first"
    if command == "resume" and name != "paused" and not data.get("paused"):
        return "not_paused"
    return None


def _confirm(
    name: str, data: dict[str, Any], event: Event, now: datetime, content: Content, context: Context
) -> Outcome:
    """The answer to a confirmation: its trigger, or the question again."""
    modal = data["confirm"]
    answer = _modal_answer(modal, event, content)
    if answer is None:
        return _reask(name, data, content, now, "not_understood")
    if answer == "no":
        return _run(name, data, content, now, "cancel_confirmation")
    data.pop("confirm")
    handle = context.handle if answer == "handle" else None
    return _run(name, data, content, now, f"confirm_{modal}", handle)


def _modal_answer(modal: str, event: Event, content: Content) -> str | None:
    allowed = {value for value, _ in MODALS[modal].answers}
    if isinstance(event, Choice):
        question, _, value = event.value.partition(":")
        return value if question == modal and value in allowed else None
    if isinstance(event, Text):
        said = read_question(event.text, modal, content.screening)
        return None if said is None else ("yes" if said else "no")
    return None


def _reask(
    name: str,
    data: dict[str, Any],
    content: Content,
    now: datetime,
    lead: str | None = None,
    attachment: str | None = None,
    extra: list[Reply] | None = None,
    **params: Any,
) -> Outcome:
    replies = [Reply(lead, params, (), attachment)] if lead else []
    replies.extend(extra or [])
    replies.append(current_question(name, data, content, now))
    return Outcome(State(name, data), tuple(replies))


def _offer_coach(outcome: Outcome, before: str, context: Context) -> Outcome:
    """After a red flag or at a sticking point, offer to share a summary with the human coach."""
    if not context.coach_available or outcome.state.name == before or outcome.state.name not in COACH_MOMENTS:
        return outcome
    offer = Reply("coach_offer", {}, ((Button("button_share_with_coach", "coach:open"),),))
    return Outcome(outcome.state, (*outcome.replies, offer), outcome.effects)


def _run(
    name: str,
    data: dict[str, Any],
    content: Content,
    now: datetime,
    trigger: str,
    *args: Any,
    lead: list[Reply] | None = None,
    extra_effects: list[Any] | None = None,
) -> Outcome:
    turn = machine.run(name, data, content, now, trigger, *args)
    effects = (*(extra_effects or []), *turn.effects)
    return Outcome(State(turn.state, turn.data), (*(lead or []), *turn.replies), effects)
