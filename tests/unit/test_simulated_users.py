"""Simulated users over many weeks: the rules are never broken, whatever they report."""

from datetime import UTC, datetime, timedelta

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from hipcoach.flows import Choice, Due, State, step
from hipcoach.flows.progression import exclusion
from hipcoach.flows.values import RecordDecision, SetPosition

START = datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # a Monday
EQUIPMENT = ["kettlebell", "dumbbells", "barbell", "band_cable", "dowel", "box_step"]

profiles = st.fixed_dictionaries(
    {
        "load_pain": st.booleans(),
        "kneeling_ok": st.booleans(),
        "knee_issues": st.booleans(),
        "equipment": st.lists(st.sampled_from(EQUIPMENT), unique=True),
    }
)
reports = st.fixed_dictionaries(
    {
        "pain": st.integers(0, 10),
        "effort": st.sampled_from(["easy", "ok", "hard"]),
        "control": st.sampled_from(["smooth", "wobbly", "lost"]),
        "morning": st.sampled_from(["better", "same", "worse", None]),
        "accept_offer": st.booleans(),
    }
)


class Simulation:
    def __init__(self, content, profile):
        self.content = content
        self.state = State()
        self.now = START
        self.decisions: list[tuple[RecordDecision, list[dict]]] = []
        self.positions: list[str] = []
        yn = {True: "yes", False: "no"}
        self.send(Choice("new:start"))
        for value in ("consent:yes", "red_flags_urgent:no", "red_flags_clinician:no"):
            self.send(Choice(value))
        for question in ("load_pain", "kneeling_ok", "knee_issues"):
            self.send(Choice(f"{question}:{yn[profile[question]]}"))
        for item in profile["equipment"]:
            self.send(Choice(f"equipment:{item}"))
        self.send(Choice("equipment:done"))
        self.send(Choice("goal_activity:1"))
        self.send(Choice("goal_rating:5"))
        self.reports: list[dict] = []

    def send(self, event):
        outcome = step(self.state, event, self.now, self.content)
        for effect in outcome.effects:
            if isinstance(effect, RecordDecision):
                self.decisions.append((effect, list(self.reports)))
            if isinstance(effect, SetPosition):
                self.positions.append(effect.exercise)
        self.state = outcome.state
        return outcome

    def session(self, report):
        if self.state.name == "sticking_offer":
            self.send(Choice(f"sticking_offer:{'yes' if report['accept_offer'] else 'no'}"))
        if self.state.name != "session":
            self.send(Due("session", 1, self.now))
            self.send(Choice("session_offer:start"))
        self.send(Choice("session:done"))
        self.reports.append(report)
        for field in ("pain", "effort", "control"):
            self.send(Choice(f"checkin_{field}:{report[field]}"))
        if self.state.name == "schedule_days":
            for value in (
                "schedule_days:mon_wed_fri",
                "schedule_time:1800",
                "schedule_zone:utc",
                "schedule_summary_day:6",
            ):
                self.send(Choice(value))
            self.send(Choice("schedule_confirm:yes"))
        self.now += timedelta(hours=23)
        if report["morning"] and self.state.name != "sticking_offer":
            self.send(Due("morning", 2, self.now))
            self.send(Choice(f"morning_check:{report['morning']}"))
        self.now += timedelta(days=1)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profiles, st.lists(reports, min_size=1, max_size=24))
def test_no_progress_after_too_much_pain_or_a_worse_morning_and_no_excluded_rung(content, profile, sessions):
    sim = Simulation(content, profile)
    for report in sessions:
        sim.session(report)
        assert sim.state.name != "urgent_stop"

    for decision, reports in sim.decisions:
        if decision.kind == "progress":
            latest = reports[-1]
            assert latest["pain"] <= content.progression.pain_safe_max
            assert latest["morning"] in ("better", "same")
            assert latest["control"] == "smooth"
    answers = {**profile}
    for exercise in sim.positions[1:]:
        assert exclusion(content.exercises[exercise], answers) is None, exercise
    assert exclusion(content.exercises[sim.positions[0]], answers) in (None, "skip_knees")


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(profiles, st.lists(reports, min_size=1, max_size=12))
def test_pain_above_five_is_never_followed_by_a_harder_rung(content, profile, sessions):
    sim = Simulation(content, profile)
    for report in sessions:
        sim.session(report)
    for decision, reports in sim.decisions:
        if reports and reports[-1]["pain"] > content.progression.pain_acceptable_max:
            assert decision.kind in ("simplify", "hold")
