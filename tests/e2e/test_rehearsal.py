"""Weeks of training rehearsed with `hipcoach chat --json --now ...` on one database."""

import json
import os
import subprocess
import sys

import pytest

pytestmark = pytest.mark.e2e

ONBOARDING = [
    "hi", "Yes, that's okay", "None of these", "None of these", "no", "yes", "no", "nothing",
    "getting out of the car", "6", "Done", "pain 1, easy and smooth", "mon wed fri", "6pm", "Europe/London",
    "sunday", "yes",
]  # fmt: skip


def rehearse(tmp_path, now: str, lines: list[str]) -> tuple[list[dict], list[list[dict]]]:
    """One run at `now`: the prompts due by then, and the reply to every line."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", "chat", "--json", "--user", "5", "--now", now],
        input="".join(f"{line}\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
        env={**env, "HIPCOACH_DATABASE_URL": f"sqlite:///{tmp_path / 'rehearsal.db'}"},
    )
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == len(lines) + 1
    return outputs[0], outputs[1:]


def text(messages: list[dict]) -> str:
    return "\n".join(m["text"] for m in messages)


def test_weeks_of_sessions_progress_by_the_rules_with_every_reason_given(tmp_path):
    due, replies = rehearse(tmp_path, "2026-12-07T09:00", ONBOARDING)
    assert due == []
    assert '"getting out of the car" is 6 out of 10' in text(replies[9])
    assert "Kneeling hip thrust" in text(replies[9])
    assert "tomorrow morning" in text(replies[11])
    assert "Europe/London" in text(replies[15]) and "weekly summary on Sun" in text(replies[15])
    assert "Your next session is today at 18:00" in text(replies[16])  # a Monday morning

    due, replies = rehearse(tmp_path, "2026-12-07T18:05", ["Start", "Done", "no pain, easy, smooth"])
    assert text(due).startswith("Time for your session: Kneeling hip thrust")
    assert "Dose:" in text(replies[0]) and "Full instructions" in str(replies[0])  # a familiar exercise
    assert "Only one session a day counts" in text(replies[-1])  # the morning's onboarding session did

    due, replies = rehearse(tmp_path, "2026-12-08T08:02", ["better"])
    assert text(due).startswith("Good morning")
    said = []
    for session, morning in (
        ("2026-12-09T18:00", "2026-12-10T08:02"),
        ("2026-12-11T18:00", "2026-12-12T08:02"),
        ("2026-12-14T18:00", "2026-12-15T08:02"),
    ):
        rehearse(tmp_path, session, ["Start", "Done", "no pain, easy, smooth"])
        due, replies = rehearse(tmp_path, morning, ["better"])
        said.append(text(replies[0]))
    # dose before rung: two good sessions at each dose take it up a step; the exercise stays
    assert "goes up a step, to 2 sets of 12 reps" in said[0]
    assert "we stay with Kneeling hip thrust" in said[1]
    assert "goes up a step, to 3 sets of 10 reps" in said[2]

    due, replies = rehearse(tmp_path, "2026-12-16T18:00", ["Start", "Done", "back hurt about 7/10"])
    assert text(due).startswith("Time for your session: Kneeling hip thrust")
    # pain above the acceptable zone is acted on at once, the dose first
    assert "lighten Kneeling hip thrust to 2 sets of 12 reps" in text(replies[-1])


def test_a_session_missed_while_away_is_mentioned_kindly_next_time(tmp_path):
    rehearse(tmp_path, "2026-12-07T09:00", ONBOARDING)
    due, _ = rehearse(tmp_path, "2026-12-07T23:30", [])
    assert due == []  # beyond the grace window, and inside quiet hours: skipped, not sent late
    due, _ = rehearse(tmp_path, "2026-12-09T18:00", [])
    assert "missed you" in text(due)


def test_a_time_without_a_zone_is_read_in_the_users_own_zone(tmp_path):
    new_york = [*ONBOARDING[:-5], "mon wed fri", "1pm", "New York", "Sun", "yes"]
    rehearse(tmp_path, "2026-12-07T09:00", new_york)  # no zone known yet: UTC
    due, _ = rehearse(tmp_path, "2026-12-07T13:05", [])  # 13:05 in New York is 18:05 UTC
    assert text(due).startswith("Time for your session")


def test_feedback_prints_its_reading_as_json():
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", "feedback", "knee was sore, three out of ten"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == {
        "pain": 3,
        "effort": None,
        "control": None,
        "location": "knee",
        "red_flag": False,
        "tier": None,
        "signs": [],
    }


def test_feedback_reads_one_text_a_line_from_stdin_in_one_process():
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", "feedback", "-"],
        input="numb when i wipe\n3 outta 10, knackered\nI have sciatica down my left leg\n",
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    readings = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(r["tier"], r["red_flag"]) for r in readings] == [("urgent", True), (None, False), ("ask", False)]
    assert readings[0]["signs"] == ["saddle_numbness"] and readings[1]["pain"] == 3


def test_progress_in_the_terminal_saves_the_chart_and_prints_its_path(tmp_path):
    rehearse(tmp_path, "2026-12-07T09:00", ONBOARDING)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    env["HIPCOACH_DATABASE_URL"] = f"sqlite:///{tmp_path / 'rehearsal.db'}"
    env["HIPCOACH_FILES_DIR"] = str(tmp_path)
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", "chat", "--json", "--user", "5", "--now", "2026-12-07T10:00"],
        input="/progress\n/export\n",
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    _due, progress, export = (json.loads(line) for line in result.stdout.splitlines())
    assert "Sessions in the last 4 weeks: 1." in text(progress)
    assert f"(saved to {tmp_path / 'hipcoach-5-progress.png'})" in text(progress)  # named for its user
    assert (tmp_path / "hipcoach-5-progress.png").read_bytes().startswith(b"\x89PNG")
    exported = json.loads((tmp_path / "hipcoach-5.json").read_text())
    assert exported["tables"]["check_ins"][0]["pain"] == 1
    assert "hipcoach-5-check-ins.csv" in text(export)
