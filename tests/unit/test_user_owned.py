"""Progress, summaries, the function goal, export, deletion and the human coach, through the engine."""

from datetime import UTC, datetime, timedelta

from hipcoach.flows import Choice, Command, Context, Due, State, Text, step
from hipcoach.flows.summary import streak
from hipcoach.flows.values import ForgetUser, NotifyCoach, RecordGoal, SchedulePrompt
from tests.chat import EngineChat
from tests.unit.test_training_flow import trained

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
COACH = Context(coach_available=True, handle="@sam")


def send(state, event, content, context=None, now=NOW):
    return step(state, event, now, content, context)


def test_onboarding_asks_for_a_function_goal_and_records_its_rating(content):
    chat = EngineChat(content)
    chat.screen(load_pain=False, kneeling_ok=True, knee_issues=False)
    assert chat.state.data["goal"]["activity"] == content.screening.goal_examples[0]
    assert RecordGoal(content.screening.goal_examples[0], 6) in chat.effects
    assert any("6 out of 10 today" in m.text for m in chat.last)


def test_a_typed_goal_activity_is_kept_in_the_users_words(content):
    chat = EngineChat(content)
    for value in ("hi", "yes", "no", "no", "no", "yes", "no", "nothing"):
        chat.send(value)
    chat.send("getting out of the car")
    assert chat.state.name == "goal_rating"
    assert '"getting out of the car"' in chat.text
    chat.send("seven")
    assert chat.state.data["goal"]["ratings"][0]["score"] == 7


def test_the_goal_is_asked_again_every_two_weeks_and_a_two_point_change_is_called_out(content):
    chat = trained(content)
    assert any(isinstance(e, SchedulePrompt) and e.kind == "goal" for e in chat.effects)
    later = NOW + timedelta(days=14)
    asked = send(chat.state, Due("goal", 1, later), content, now=later)
    assert asked.state.name == "goal_recheck"
    answered = send(asked.state, Choice("goal_recheck:3"), content, now=later)
    text = "\n".join(r.params.get("text", "") for r in answered.replies)
    assert "3 points easier" in text
    assert RecordGoal(content.screening.goal_examples[0], 3) in answered.effects


def test_progress_gives_a_text_summary_and_asks_the_shell_for_the_chart_under_it(content):
    chat = trained(content)
    outcome = send(chat.state, Command("progress"), content)
    assert outcome.replies[0].key == "progress_summary"
    summary = outcome.replies[0].params["summary"]
    assert "Sessions in the last 4 weeks: 1." in summary
    assert "You are working on: Kneeling hip thrust." in summary
    assert outcome.replies[0].attachment == "progress_chart"  # the summary is the chart's caption


def test_the_weekly_summary_reports_sessions_pain_rung_changes_and_the_streak(content):
    chat = trained(content)
    sunday = datetime(2026, 12, 6, 19, 0, tzinfo=UTC)
    outcome = send(chat.state, Due("weekly", 1, sunday), content, now=sunday)
    summary = outcome.replies[0].params["summary"]
    assert "Sessions done: 1 of 2 planned." in summary  # Wed and Fri after the Tuesday start
    assert "Average pain during sessions this week: 0.0 out of 10." in summary
    assert any(isinstance(e, SchedulePrompt) and e.kind == "weekly" for e in outcome.effects)


def test_the_streak_counts_planned_sessions_and_rest_days_never_break_it():
    data = {
        "schedule": {"days": [0, 2, 4], "time": "18:00", "zone": "UTC"},
        "history": [
            {"at": "2026-11-30T18:00:00+00:00"},  # Mon
            {"at": "2026-12-02T18:00:00+00:00"},  # Wed
            {"at": "2026-12-03T18:00:00+00:00"},  # Thu: off-plan, neither counts nor breaks
            {"at": "2026-12-04T18:00:00+00:00"},  # Fri
        ],
    }
    assert streak(data, datetime(2026, 12, 6, 12, 0, tzinfo=UTC)) == 3
    assert streak(data, datetime(2026, 12, 7, 12, 0, tzinfo=UTC)) == 3  # Monday's session still to come
    assert streak(data, datetime(2026, 12, 8, 12, 0, tzinfo=UTC)) == 0  # Monday missed


def test_export_asks_the_shell_for_the_users_data(content):
    outcome = send(trained(content).state, Command("export"), content)
    assert outcome.replies[0].attachment == "export"


def test_delete_asks_first_and_then_forgets_everything(content):
    state = trained(content).state
    asked = send(state, Command("delete"), content)
    assert asked.replies[-1].buttons[0][0].value == "delete:yes"
    kept = send(asked.state, Choice("delete:no"), content)
    assert kept.effects == () and kept.state.data["position"]
    gone = send(asked.state, Choice("delete:yes"), content)
    assert gone.effects == (ForgetUser(),)
    assert gone.state == State()


def test_without_a_coach_connected_coach_explains_how_to_find_help(content):
    outcome = send(trained(content).state, Command("coach"), content)
    assert outcome.replies[0].key == "coach_unavailable"
    assert not any(isinstance(e, NotifyCoach) for e in outcome.effects)


def test_the_coach_gets_a_summary_only_with_consent_and_the_handle_only_if_agreed(content):
    state = trained(content).state
    asked = send(state, Command("coach"), content, COACH)
    refused = send(asked.state, Choice("coach:no"), content, COACH)
    assert not any(isinstance(e, NotifyCoach) for e in refused.effects)

    anonymous = send(asked.state, Choice("coach:yes"), content, COACH)
    [note] = [e for e in anonymous.effects if isinstance(e, NotifyCoach)]
    assert "@sam" not in note.text and "Kneeling hip thrust" in note.text

    named = send(asked.state, Choice("coach:handle"), content, COACH)
    [note] = [e for e in named.effects if isinstance(e, NotifyCoach)]
    assert "@sam" in note.text


def test_a_red_flag_offers_to_share_with_the_coach_when_one_is_connected(content):
    state = trained(content).state
    outcome = send(state, Text("numbness in my groin"), content, COACH)
    assert outcome.state.name == "urgent_stop"
    assert outcome.replies[-1].buttons[0][0].value == "coach:open"
    asked = send(outcome.state, Choice("coach:open"), content, COACH)
    assert asked.replies[-1].key == "coach_question"


def test_stats_are_for_admins_only(content):
    state = trained(content).state
    refused = send(state, Command("stats"), content)
    assert refused.replies[0].key == "not_allowed"
    allowed = send(state, Command("stats"), content, Context(is_admin=True))
    assert allowed.replies[0].attachment == "stats"
