"""Messages with a count say '1 reminder' and '2 reminders': plural forms in content, Babel's rules."""

import shutil

import pytest
import yaml

from hipcoach.bot.entrypoints.cli import main
from hipcoach.content import DEFAULT_DIR
from hipcoach.content.plurals import category, plural_problems
from hipcoach.content.schema import Dose
from hipcoach.flows import Due, Reply, State, render, render_all, step
from hipcoach.flows.cards import dose_text
from hipcoach.flows.summary import progress_text
from tests.unit.test_training_flow import chat_now, trained


@pytest.fixture
def messages_changed(tmp_path, capsys):
    """Check a copy of the shipped content whose English messages were changed; the problems printed."""

    def check(change) -> tuple[int, list[str]]:
        root = tmp_path / "content"
        shutil.copytree(DEFAULT_DIR, root)
        path = root / "messages" / "en.yaml"
        data = yaml.safe_load(path.read_text())
        change(data)
        path.write_text(yaml.safe_dump(data, sort_keys=False, allow_unicode=True))
        code = main(["content", "check", str(root)])
        return code, capsys.readouterr().out.splitlines()

    return check


def said(content, key: str, **params) -> str:
    return render(Reply(key, params), content).text


def test_babel_gives_english_one_and_other():
    assert [category(n, "en") for n in (0, 1, 2, 21)] == ["other", "one", "other", "other"]


def test_one_missed_reminder_is_a_reminder_and_two_are_reminders(content):
    assert "for 1 session reminder while" in said(content, "missed_note", count=1)
    assert "for 2 session reminders while" in said(content, "missed_note", count=2)


def test_reminders_missed_while_busy_are_counted_in_the_words_of_the_next_offer(content):
    busy_twice = State("idle", {**trained(content).state.data, "missed": 2})
    offered = step(busy_twice, Due("session", 3, chat_now()), chat_now(), content)
    text = "\n".join(m.text for m in render_all(offered.replies, content))
    assert "I missed you for 2 session reminders while" in text


def test_no_message_hedges_a_plural_with_s_in_brackets(content):
    for key, message in content.messages["en"].items():
        for template in message.templates() if hasattr(message, "templates") else (message,):
            assert "(s)" not in template, key


def test_decisions_count_one_session_in_the_singular(content):
    one = said(content, "hold_one_more", count=1, exercise="Glute bridge", previous="", pain=0)
    two = said(content, "hold_one_more", count=2, exercise="Glute bridge", previous="", pain=0)
    assert "After a smooth, comfortable session we move on" in one
    assert "After 2 smooth, comfortable sessions in a row" in two


def test_a_message_can_count_by_another_parameter(content):
    assert said(content, "summary_sessions", count=3, weeks=1) == "Sessions in the last week: 3."
    assert said(content, "summary_sessions", count=1, weeks=4) == "Sessions in the last 4 weeks: 1."


def test_a_dose_of_one_set_of_one_rep_is_singular(content):
    one = Dose(sets=1, reps=1, tempo="2-1-2", rest_seconds=30)
    many = Dose(sets=3, seconds=20, tempo="hold", rest_seconds=30)
    assert dose_text(one, content).startswith("1 set of 1 rep;")
    assert dose_text(many, content).startswith("3 sets of 20 seconds;")


def test_the_progress_summary_still_counts_sessions(content):
    chat = trained(content)
    assert "Sessions in the last 4 weeks: 1." in progress_text(chat.state.data, chat_now(), content)


def test_a_streak_of_one_is_one_planned_session(content):
    assert said(content, "weekly_streak", count=1).startswith("Streak: 1 planned session done.")
    assert said(content, "weekly_streak", count=3).startswith("Streak: 3 planned sessions done in a row.")


# --- checked at load -------------------------------------------------------------------------------


def test_a_plural_message_without_other_is_reported_with_file_field_and_reason(messages_changed):
    code, out = messages_changed(lambda d: d["missed_note"].pop("other"))
    assert (code, out) == (
        1,
        ["messages/en.yaml: missed_note.other: missing plural form 'other' (en needs one, other)"],
    )


def test_a_plural_message_without_one_is_reported(messages_changed):
    code, out = messages_changed(lambda d: d.update(missed_note={"other": "Missed {count}."}))
    assert (code, out) == (
        1,
        ["messages/en.yaml: missed_note.one: missing plural form 'one' (en needs one, other)"],
    )


def test_an_unknown_plural_form_is_reported(messages_changed):
    code, out = messages_changed(lambda d: d["missed_note"].update(sevral="Missed {count}."))
    assert code == 1
    assert out[0].startswith("messages/en.yaml: missed_note.sevral: unknown plural form")


def test_a_plural_form_with_a_placeholder_the_flow_does_not_fill_is_reported(messages_changed):
    code, out = messages_changed(lambda d: d["missed_note"].update(other="Missed {cuont}."))
    assert (code, out) == (1, ["messages/en.yaml: missed_note: unknown placeholder {cuont}"])


def test_a_plural_counted_by_a_parameter_the_flow_does_not_pass_is_reported(messages_changed):
    code, out = messages_changed(lambda d: d["weekly_streak"].update(by="days"))
    assert (code, out) == (
        1,
        ["messages/en.yaml: weekly_streak.by: counts by {days}, which this message is not given"],
    )


def test_a_locale_with_more_plural_forms_needs_them_all():
    found = plural_problems({"one": "{count} день", "other": "{count} дня"}, "ru")
    assert [form for form, _ in found] == ["few", "many"]
