"""The training machine: sessions, check-ins, next-morning checks, schedule, pause and sticking points."""

from __future__ import annotations

from datetime import datetime, time, timedelta
from typing import Any

from transitions import EventData

from hipcoach.content.schema import Content
from hipcoach.flows import agenda, cards, education, flare, plan, progression
from hipcoach.flows import schedule as clock
from hipcoach.flows.dose import bounds as dose_bounds
from hipcoach.flows.dose import dose_at
from hipcoach.flows.plan_checkin import UNANSWERED, PlanCheckinSteps
from hipcoach.flows.turn_model import argument
from hipcoach.flows.values import (
    CancelPrompts,
    RecordCheckIn,
    RecordDecision,
    RecordMorning,
    SchedulePrompt,
    SetPosition,
)
from hipcoach.flows.when import say_when

CHECKIN = ["checkin_pain", "checkin_effort", "checkin_control"]
AFTER_CHECKIN = [
    {"dest": "checkin_pain", "conditions": "needs_pain"},
    {"dest": "checkin_effort", "conditions": "needs_effort"},
    {"dest": "checkin_control", "conditions": "needs_control"},
    {"dest": "checkin_parts", "conditions": "needs_parts"},
    {"dest": "sticking_offer", "conditions": "is_sticking"},
    {"dest": "schedule_days", "unless": "has_schedule"},
    {"dest": "idle"},
]

TRANSITIONS: list[dict[str, Any]] = [
    {"trigger": "answer", "source": "session", "dest": "checkin_pain", "conditions": "chose_done",
     "before": "fresh_checkin"},
    {"trigger": "answer", "source": "session", "dest": "=", "conditions": "chose_full",
     "before": "show_full_card"},
    {"trigger": "answer", "source": "session", "dest": "idle", "conditions": "has_schedule",
     "before": "later"},
    {"trigger": "answer", "source": "session", "dest": "schedule_days", "before": "later"},
    *({"trigger": "answer", "source": s, **step} for s in CHECKIN for step in AFTER_CHECKIN),
    *({"trigger": "answer", "source": "checkin_parts", **step} for step in AFTER_CHECKIN[4:]),
    {"trigger": "answer", "source": "morning_check", "dest": "sticking_offer", "conditions": "is_sticking"},
    {"trigger": "answer", "source": "morning_check", "dest": "idle"},
    {"trigger": "answer", "source": "sticking_offer", "dest": "idle", "before": "settle_offer"},
    {"trigger": "answer", "source": "schedule_days", "dest": "schedule_time"},
    {"trigger": "answer", "source": "schedule_time", "dest": "schedule_zone"},
    {"trigger": "answer", "source": "schedule_zone", "dest": "schedule_summary_day"},
    {"trigger": "answer", "source": "schedule_summary_day", "dest": "schedule_confirm"},
    {"trigger": "answer", "source": "goal_recheck", "dest": "idle", "before": "record_goal"},
    {"trigger": "ask_goal", "source": "*", "dest": "goal_recheck"},
    {"trigger": "answer", "source": "schedule_confirm", "dest": "idle", "conditions": "said_yes",
     "before": "confirm_schedule"},
    {"trigger": "answer", "source": "schedule_confirm", "dest": "schedule_days"},
    {"trigger": "answer", "source": "idle", "dest": "session", "conditions": "chose_start"},
    {"trigger": "answer", "source": "idle", "dest": "schedule_days"},
    {"trigger": "answer", "source": "paused", "dest": "idle", "before": "resume_prompts"},
    {"trigger": "answer", "source": "session_offer", "dest": "session", "conditions": "chose_start"},
    {"trigger": "answer", "source": "session_offer", "dest": "idle", "conditions": "chose_skip",
     "before": "skip_today"},
    {"trigger": "answer", "source": "session_offer", "dest": "idle", "before": "snooze"},
    {"trigger": "offer_session", "source": "*", "dest": "session_offer", "before": "note_missed"},
    {"trigger": "ask_morning", "source": "*", "dest": "morning_check"},
    {"trigger": "today", "source": "*", "dest": "session"},
    {"trigger": "checkin", "source": "*", "dest": "checkin_pain", "before": "open_checkin"},
    {"trigger": "change_schedule", "source": "*", "dest": "schedule_days"},
    {"trigger": "pause", "source": "*", "dest": "paused", "before": "pause_prompts"},
    *({"trigger": "resume_checkin", "source": "*", **step} for step in AFTER_CHECKIN[:3]),
    {"trigger": "ask_offer", "source": "*", "dest": "sticking_offer"},
    {"trigger": "flare", "source": "*", "dest": "idle", "before": "start_flare"},
    {"trigger": "resume", "source": "*", "dest": "idle", "before": "resume_prompts"},
]  # fmt: skip


def next_session_prompt(data: dict[str, Any], content: Content, now: datetime) -> SchedulePrompt | None:
    """The next regular session prompt on the user's schedule, unless there is none or it is paused."""
    plan = data.get("schedule")
    if not plan or data.get("paused"):
        return None
    due = clock.next_session_due(tuple(plan["days"]), time.fromisoformat(plan["time"]), plan["zone"], now)
    return SchedulePrompt("session", due)


def next_weekly_prompt(data: dict[str, Any], content: Content, now: datetime) -> SchedulePrompt | None:
    """The next weekly summary, on the user's chosen day, unless there is no schedule or it is paused."""
    plan = data.get("schedule")
    if not plan or "summary_day" not in plan or data.get("paused"):
        return None
    at = content.schedule.weekly_summary_time
    return SchedulePrompt("weekly", clock.next_session_due((plan["summary_day"],), at, plan["zone"], now))


class TrainingSteps(PlanCheckinSteps):
    """Conditions and callbacks of the training machine; mixed into the per-turn model."""

    # ---- folding an answer in: runs before any condition is checked (prepare_event) ----

    def absorb(self, event: EventData) -> None:
        if event.event.name != "answer":
            return
        answer = argument(event)
        if self.state in CHECKIN:
            checkin = self.data.setdefault("checkin", {})
            checkin.update({k: v for k, v in answer.items() if v is not None})
            if self._acts_at_once(checkin):
                for field in ("pain", "effort", "control"):
                    checkin.setdefault(field, UNANSWERED)
            if all(checkin.get(field) is not None for field in ("pain", "effort", "control")):
                self.conclude_checkin()
        elif self.state == "morning_check":
            self.conclude_morning(answer)
        elif self.state == "checkin_parts":
            self.conclude_parts(answer)
        elif self.state in ("schedule_days", "schedule_time", "schedule_zone", "schedule_summary_day"):
            self.data.setdefault("draft", {}).update(answer)

    # ---- conditions ----

    def chose_done(self, event: EventData) -> bool:
        return argument(event) == "done"

    def chose_full(self, event: EventData) -> bool:
        return argument(event) == "full"

    def chose_start(self, event: EventData) -> bool:
        return argument(event) == "start"

    def chose_skip(self, event: EventData) -> bool:
        return argument(event) == "skip"

    def needs_pain(self, event: EventData) -> bool:
        return "checkin" in self.data and self.data["checkin"].get("pain") is None

    def needs_effort(self, event: EventData) -> bool:
        return "checkin" in self.data and self.data["checkin"].get("effort") is None

    def needs_control(self, event: EventData) -> bool:
        return "checkin" in self.data and self.data["checkin"].get("control") is None

    def has_schedule(self, event: EventData) -> bool:
        return bool(self.data.get("schedule"))

    def is_sticking(self, event: EventData) -> bool:
        return "offer" in self.data

    # ---- callbacks ----

    def later(self, event: EventData) -> None:
        self.data.pop("full_card", None)
        self.say("session_later")

    def show_full_card(self, event: EventData) -> None:
        self.data["full_card"] = self.data["position"]["exercise"]

    def fresh_checkin(self, event: EventData) -> None:
        """A new session's check-in: an older one left half-way is kept as far as it went."""
        if self.data.get("checkin"):
            self.lapse_checkin()
        self.data["checkin"] = {}
        self.data.pop("full_card", None)

    def open_checkin(self, event: EventData) -> None:
        """A check-in already under way goes on; nothing said in it is lost."""
        self.data.setdefault("checkin", {})

    def conclude_checkin(self) -> None:
        entry = self.data.pop("checkin")
        exercise = self.data["position"]["exercise"]
        history = self.data.setdefault("history", [])
        record = {"at": self.now.isoformat(), "exercise": exercise, "morning": None, **entry}
        shown = plan.todays_parts(self.data, self.content) if "session_started" in self.data else {}
        record["counted"] = self._counts(history)
        record["level"] = self.data["position"].get("level", 0)
        record["load"] = self.data["position"].get("load", 0)
        history.append(record)
        del history[: -self.content.progression.history_kept]
        self.effects.append(
            RecordCheckIn(exercise, entry["pain"], entry["effort"], entry["control"], entry.get("location"))
        )
        self.say("checkin_thanks", pain=entry["pain"])
        agenda.drop(self.data, "session")  # a session prompt still open is answered by this one
        record["decided"] = self._apply_decision()
        if record["counted"]:
            self._teach()
            self._detour_done()
            self.rest_parts_counted()
        self.ask_about_parts(shown, record)
        self._plan_morning()

    def conclude_morning(self, answer: str) -> None:
        """Record the morning answer; the session is decided now if the check-in left it waiting."""
        history = self.data["history"]
        latest = history[-1]
        # The question covers every session since the last answer, if it was recent.
        since = self.now - timedelta(hours=self.content.schedule.morning_covers_hours)
        for entry in reversed(history):
            if entry.get("morning") or datetime.fromisoformat(entry["at"]) < since:
                break
            entry["morning"] = answer
        self.effects.append(RecordMorning(answer, since))
        self.say(f"morning_{answer}")
        agenda.drop(self.data, "morning")
        # the morning re-decides the session it follows: worse means the load was too much
        stepped_back = latest.get("decision") == "simplify"
        if not latest.get("decided") or (answer == "worse" and not stepped_back):
            latest["decided"] = self._apply_decision()

    def settle_offer(self, event: EventData) -> None:
        offer = self.data.pop("offer")
        if argument(event) != "yes":
            self.say("offer_declined")
            return
        self.data["detour"] = {**self.data["position"], "sessions": 0}  # the way back
        self.data["position"] = dict(offer)
        self.effects.append(SetPosition(offer["ladder"], offer["exercise"], "sticking_switch"))
        self.say("sticking_switch", exercise=self.content.exercises[offer["exercise"]].name)

    def confirm_schedule(self, event: EventData) -> None:
        self.data["schedule"] = {**self.data.pop("draft"), "since": self.now.isoformat()}
        self.data.pop("paused", None)
        self.say("schedule_set")
        self._plan_session()
        self._plan_morning()
        self._plan_weekly()
        self._plan_goal()

    def pause_prompts(self, event: EventData) -> None:
        self.data["paused"] = True
        self.data.pop("snoozed", None)  # CancelPrompts drops the snoozed prompt too
        self.effects.append(CancelPrompts())

    def resume_prompts(self, event: EventData) -> None:
        self.data.pop("paused", None)
        self.say("resumed")
        self._plan_session()
        self._plan_weekly()
        self._plan_goal()

    def skip_today(self, event: EventData) -> None:
        self.say("skipped_today")

    def snooze(self, event: EventData) -> None:
        minutes = int(argument(event).removeprefix("snooze_"))
        plan = self.data["schedule"]
        settings = self.content.schedule
        due = clock.snooze_until(
            self.now, minutes, plan["zone"], settings.quiet_hours, time.fromisoformat(plan["time"])
        )
        self.effects.append(SchedulePrompt("snooze", due))
        self.data["snoozed"] = due.isoformat()  # the idle prompt's "next session" is this moment
        self.say("snoozed", when=say_when(due, self.now, plan["zone"], self.content))

    def note_missed(self, event: EventData) -> None:
        self.data.pop("snoozed", None)  # a prompt is being offered: any snooze has come back
        missed = self.data.pop("missed", 0)
        if missed:
            self.say("missed_note", count=missed)

    # ---- items whose time ran out (flows/agenda.py): kindly, and never at the cost of later prompts ----

    def lapse_checkin(self) -> None:
        """What is known of a check-in left half-way is kept, if it says how much it hurt."""
        checkin = self.data.get("checkin") or {}
        if self.data.get("red_flag"):
            return  # held for a clinician: it waits, and comes back once the hold lifts
        if checkin.get("pain") is None:
            self.data.pop("checkin", None)
            return
        for field in ("effort", "control"):
            checkin.setdefault(field, UNANSWERED)
        self.say("checkin_lapsed")
        self.conclude_checkin()

    def lapse_morning(self) -> None:
        history = self.data.get("history") or []
        if not history or history[-1].get("morning"):
            return
        history[-1]["morning"] = UNANSWERED
        if not history[-1].get("decided"):
            self.say("morning_lapsed")
            history[-1]["decided"] = self._apply_decision()

    def lapse_session(self) -> None:
        self.data["missed"] = self.data.get("missed", 0) + 1

    def lapse_offer(self) -> None:
        if self.data.pop("offer", None) is not None:
            self.say("offer_lapsed")

    def lapse_goal(self) -> None:
        """The goal question waits for the next round rather than asking again and again."""
        plan = self.data.get("schedule")
        if not plan:
            return
        day = self.now + timedelta(days=self.content.progression.goal_recheck_days)
        local = clock.local_time_in(plan["zone"], day).date()
        self.effects.append(
            SchedulePrompt("goal", clock.to_utc(local, time.fromisoformat(plan["time"]), plan["zone"]))
        )

    # ---- helpers ----

    def _detour_done(self) -> None:
        """After some sessions on an alternative, back to the ladder the user was stuck on, said so."""
        detour = self.data.get("detour")
        if not detour:
            return
        detour["sessions"] += 1
        if detour["sessions"] < self.content.progression.detour_sessions:
            return
        self.data.pop("detour")
        back = {"ladder": detour["ladder"], "exercise": detour["exercise"], "level": detour.get("level", 0)}
        self.data["position"] = back
        self.effects.append(SetPosition(back["ladder"], back["exercise"], "detour_back"))
        self.say("detour_back", exercise=self.content.exercises[back["exercise"]].name)

    def start_flare(self, event: EventData) -> None:
        """A flare-up: a lighter plan at once, gentle days, then the usual steps back up; and the
        red-flag questions again, since a flare can hide a warning sign."""
        rules = self.content.progression.flare
        position = self.data["position"]
        running = self.data.get("flare")
        self.data["flare"] = flare.start(running, position, self.now, self.content)
        level, load = flare.lowered(
            position.get("level", 0), position.get("load", 0), rules.levels, self.content
        )
        position.update(level=level, load=load)
        dose = dose_at(self.content.exercises[position["exercise"]], level, self.content)
        exercise = self.content.exercises[position["exercise"]].name
        key = "flare_extended" if running else "flare_plan"
        self.say(key, days=rules.days, exercise=exercise, dose=cards.dose_text(dose, self.content))
        questions = [question.id for question in self.content.safety.questions]
        self.data["safety_check"] = {"questions": questions, "text": ""}
        self.say("flare_check_intro")

    def back_after_break(self) -> None:
        """Back after two weeks or more away: one step lower than where they left off, told why."""
        history = [entry for entry in self.data.get("history") or [] if progression.counted(entry)]
        if not history or self.data.get("returned_from") == history[-1]["at"]:
            return
        away = self.now - datetime.fromisoformat(history[-1]["at"])
        if away < timedelta(days=self.content.progression.return_after_days):
            return
        self.data["returned_from"] = history[-1]["at"]
        position = self.data["position"]
        lowest = dose_bounds(self.content)[0]
        level = position.get("level", 0)
        exercise = position["exercise"]
        if position.get("load", 0) > 0:  # a heavier kettlebell goes first
            position["load"] -= 1
        elif level > lowest:
            position["level"] = level - 1
        else:
            easier, _ = progression.neighbour(exercise, "easier", self.data["answers"], self.content)
            if easier is not None:
                position.update(exercise=easier, level=0, load=0)
                self.effects.append(SetPosition(position["ladder"], easier, "back_after_break"))
        dose = dose_at(self.content.exercises[position["exercise"]], position.get("level", 0), self.content)
        self.say(
            "back_after_break",
            days=away.days,
            exercise=self.content.exercises[position["exercise"]].name,
            dose=cards.dose_text(dose, self.content),
        )

    def _teach(self) -> None:
        """A short note about pain after the counted sessions content names, each once."""
        self.data["sessions_counted"] = self.data.get("sessions_counted", 0) + 1
        given = self.data.setdefault("notes_given", [])
        note = education.note_after(self.data["sessions_counted"], given, self.content)
        if note is not None:
            given.append(note.params["note"])
            self.replies.append(note)

    def _counts(self, history: list[dict[str, Any]]) -> bool:
        """A training day counts once: a check-in after a session started lately, the first that day."""
        started = self.data.pop("session_started", None)
        hours = timedelta(hours=self.content.progression.session_checkin_hours)
        if started is None or self.now - datetime.fromisoformat(started) > hours:
            return False
        zone = (self.data.get("schedule") or {}).get("zone", "UTC")
        today = clock.local_time_in(zone, self.now).date()
        return not any(
            progression.counted(entry)
            and clock.local_time_in(zone, datetime.fromisoformat(entry["at"])).date() == today
            for entry in history
        )

    def _rest_a_day(self) -> None:
        """'Rest a day' and the schedule agree: the next session reminder moves past the rest, and says so."""
        plan = self.data.get("schedule")
        if not plan or self.data.get("paused"):
            self.say("rest_day_unscheduled")
            return
        rested = self.now + timedelta(hours=self.content.progression.rest_day_hours)
        due = clock.next_session_due(
            tuple(plan["days"]), time.fromisoformat(plan["time"]), plan["zone"], rested
        )
        self.effects.append(SchedulePrompt("session", due))
        self.say("rest_day", when=say_when(due, self.now, plan["zone"], self.content))

    def _acts_at_once(self, checkin: dict[str, Any]) -> bool:
        """Pain above the acceptable zone or lost form is acted on at once, whatever is still unsaid."""
        pain = checkin.get("pain")
        too_much = isinstance(pain, int) and pain > self.content.progression.pain_acceptable_max
        return too_much or checkin.get("control") == "lost"

    def _apply_decision(self) -> bool:
        """Decide on the latest session and explain it in one sentence; False while waiting for morning."""
        history = self.data["history"]
        position = self.data["position"]
        level = history[-1].get("level", 0)  # the dose the session was done at
        load = history[-1].get("load", 0)
        decision = progression.decide(
            history, position["exercise"], self.data["answers"], self.now, self.content, level, load
        )
        decision, self.data["flare"] = flare.adjust(
            decision, self.data.get("flare"), history[-1], position, self.now, self.content
        )
        if self.data["flare"] is None:
            self.data.pop("flare")
        if decision.kind == "wait":
            self.say(decision.reason if self.data.get("schedule") else f"{decision.reason}_unscheduled")
            return False
        history[-1]["decision"] = decision.kind
        names = self.content.exercises
        place = history[-1].get("location")
        spared = decision.reason.startswith("spare_place")  # that message names the place itself
        elsewhere = place not in (None, "lower back") and not spared
        if elsewhere and history[-1]["pain"] > self.content.progression.pain_safe_max:
            self.say("pain_elsewhere", place=place, pain=history[-1]["pain"])
        for skipped, why in decision.skipped:
            self.say(why, exercise=names[skipped].name, needs=self._needs(skipped))
        moved = decision.kind in ("progress", "simplify")
        same = decision.exercise == position["exercise"]
        new_level = (decision.level if same else 0) if moved else level
        new_load = (load if decision.load is None else decision.load) if same else 0
        dose = dose_at(names[decision.exercise], new_level, self.content)
        params = {
            "exercise": names[decision.exercise].name,
            "previous": names[position["exercise"]].name,
            "dose": cards.dose_text(dose, self.content),
        }
        self.say(decision.reason, **{**params, **decision.params})
        if decision.rest_day:
            self._rest_a_day()
        self.effects.append(RecordDecision(decision.kind, decision.exercise, decision.reason))
        decisions = self.data.setdefault("decisions", [])
        told = {**params, **decision.params}
        decisions.append(
            {"at": self.now.isoformat(), "kind": decision.kind, "reason": decision.reason, "params": told}
        )
        del decisions[: -self.content.progression.history_kept]
        if decision.exercise != position["exercise"]:
            position["exercise"] = decision.exercise
            self.effects.append(SetPosition(position["ladder"], decision.exercise, decision.reason))
        position["level"] = new_level
        position["load"] = new_load
        if progression.is_sticking(decisions, self.now, self.content.progression):
            offer = progression.alternative(
                position["ladder"], self.data["answers"], self.content, position["exercise"]
            )
            if offer is not None and not self.data.get("detour"):
                self.data["offer"] = {"ladder": offer[0], "exercise": offer[1]}
                decisions.clear()  # the offer answers this sticking point; count afresh after it
        return True

    def _needs(self, exercise: str) -> str:
        wanted = set(self.content.exercises[exercise].equipment)
        labels = [item.label for item in self.content.screening.equipment if item.id in wanted]
        return self.content.message("list_or").join(labels)

    def _plan_session(self) -> None:
        planned = next_session_prompt(self.data, self.content, self.now)
        if planned is not None:
            self.effects.append(planned)

    def _plan_weekly(self) -> None:
        planned = next_weekly_prompt(self.data, self.content, self.now)
        if planned is not None:
            self.effects.append(planned)

    def _plan_goal(self) -> None:
        """Ask about the function goal again a fixed number of days after the latest rating."""
        plan = self.data.get("schedule")
        ratings = (self.data.get("goal") or {}).get("ratings")
        if not plan or not ratings:
            return
        rated = clock.local_time_in(plan["zone"], datetime.fromisoformat(ratings[-1]["at"]))
        day = rated.date() + timedelta(days=self.content.progression.goal_recheck_days)
        due = clock.to_utc(day, time.fromisoformat(plan["time"]), plan["zone"])
        self.effects.append(SchedulePrompt("goal", max(due, self.now)))

    def _plan_morning(self) -> None:
        """Ask about the morning after the latest session: at the first contact from that morning on,
        and with a prompt at the morning-check time when there is a schedule."""
        plan = self.data.get("schedule")
        history = self.data.get("history") or []
        if not history or history[-1].get("morning") or self.data.get("paused"):
            return
        done_at = datetime.fromisoformat(history[-1]["at"])
        zone = plan["zone"] if plan else "UTC"
        morning = clock.morning_check_due(done_at, zone, self.content.agenda.morning_from)
        agenda.drop(self.data, "morning")  # a newer session's morning is the one that matters
        agenda.add(self.data, "morning", self.now, self.content, after=morning)
        if not plan:
            return
        due = clock.morning_check_due(done_at, plan["zone"], self.content.schedule.morning_check)
        if due > self.now and due - done_at < timedelta(days=2):
            self.effects.append(SchedulePrompt("morning", due))
