"""`hipcoach chat --json` as a new user would drive it: one JSON line out for every line in."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.e2e

SCREENING = ["hello", "Yes, that's okay", "None of these", "None of these"]


def hipcoach() -> list[str]:
    """The console script installed beside this Python (the one under test), else the module."""
    script = Path(sys.executable).parent / "hipcoach"
    return [str(script)] if script.exists() else [sys.executable, "-m", "hipcoach.bot"]


def clean_env(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    return {**env, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}


def chat(tmp_path, lines: list[str], user: int = 1001) -> list[list[dict]]:
    db = f"sqlite:///{tmp_path / 'chat.db'}"
    result = subprocess.run(
        [*hipcoach(), "chat", "--json", "--user", str(user), "--db", db],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path),
    )
    assert result.returncode == 0, result.stderr
    outputs = [json.loads(line) for line in result.stdout.splitlines()]
    assert len(outputs) == len(lines), result.stdout
    return outputs


def texts(output: list[dict]) -> str:
    return "\n".join(message["text"] for message in output)


@pytest.mark.parametrize(
    ("answers", "start"),
    [
        (["yes", "yeah", "no"], "Four-point rock back"),
        (["yes, lifting hurts", "my knees are bad", "yes"], "Glute bridge"),
        (["nope", "no problem", "no, my knees are fine"], "Kneeling hip thrust"),
        (["not really", "not really", "no"], "Glute bridge"),
    ],
)
def test_each_screening_profile_lands_on_its_start_rung(tmp_path, answers, start):
    outputs = chat(tmp_path, [*SCREENING, *answers, "nothing", "Skip this"])
    card = outputs[-1][-1]
    assert card["text"].startswith(start)
    assert card["buttons"][0] == [
        {"label": "Done", "value": "session:done"},
        {"label": "Not now", "value": "session:later"},
    ]
    assert card["buttons"][1][0]["value"].startswith("show:")
    animation, reason = outputs[-1][-2]["text"], outputs[-1][-3]["text"]
    assert animation.startswith(start) and "saved to" in animation  # the first card comes with its movement
    assert start.lower() in reason.lower()
    assert reason.startswith("Because")


def test_an_urgent_red_flag_stops_the_programme(tmp_path):
    outputs = chat(tmp_path, ["hi", "yes", "numb down there", "no", "/today"])
    assert "urgent medical help" in texts(outputs[2])
    assert "urgent medical help" in texts(outputs[3])
    assert "urgent medical help" in texts(outputs[4])
    assert outputs[3][-1]["buttons"] == [
        [{"label": "A clinician has assessed me", "value": "urgent_stop:assessed"}]
    ]


def test_numbness_with_no_place_is_asked_about_before_the_screening_goes_on(tmp_path):
    outputs = chat(tmp_path, ["hi", "yes", "yes, I have some numbness", "yes"])
    assert "quick safety check" in texts(outputs[2])
    assert outputs[2][-1]["buttons"][0][0]["value"] == "safety:yes"
    assert "urgent medical help" in texts(outputs[3])


def test_a_clinician_red_flag_pauses_until_clearance(tmp_path):
    outputs = chat(tmp_path, ["hi", "yes", "none of these", "yes", "no", "I've been cleared", "no limits"])
    assert "doctor or physiotherapist" in texts(outputs[3])
    assert "no rush" in texts(outputs[4])
    assert "limits" in texts(outputs[5])
    assert "worse when you stand" in texts(outputs[6])


def test_a_second_run_continues_where_the_user_left_off(tmp_path):
    chat(tmp_path, ["hi", "yes"])
    outputs = chat(tmp_path, ["/start"])
    assert "Welcome back" in texts(outputs[0])
    assert outputs[0][-1]["buttons"][0][0]["value"] == "red_flags_urgent:yes"


def test_users_sharing_a_database_do_not_see_each_other(tmp_path):
    chat(tmp_path, ["hi", "yes"], user=1)
    outputs = chat(tmp_path, ["hi"], user=2)
    assert "Hip Coach" in texts(outputs[0])


def human_chat(tmp_path, lines: list[str], user: int = 1001) -> subprocess.CompletedProcess[str]:
    """The terminal chat as a person sees it: numbered buttons, prompts, a goodbye at the end of input."""
    db = f"sqlite:///{tmp_path / 'chat.db'}"
    return subprocess.run(
        [*hipcoach(), "chat", "--user", str(user), "--db", db],
        input="".join(line + "\n" for line in lines),
        capture_output=True,
        text=True,
        timeout=60,
        env=clean_env(tmp_path),
        umask=0o022,  # the usual one: files the bot saves must not depend on it
    )


def test_a_superscript_digit_typed_in_the_terminal_chat_is_read_as_text_not_a_crash(tmp_path):
    result = human_chat(tmp_path, ["²", "1²"])
    assert result.returncode == 0
    assert "Traceback" not in result.stderr
    assert result.stdout.count("Sorry, I didn't catch that.") == 2


def test_delete_in_the_terminal_removes_the_saved_exports_and_the_goodbye_says_nothing_is_kept(tmp_path):
    files = tmp_path / "hipcoach" / "files"
    kept = human_chat(tmp_path, ["yes", "/export"])
    saved = sorted(files.iterdir())
    assert [path.name for path in saved] == ["hipcoach-1001-check-ins.csv", "hipcoach-1001.json"]
    assert {oct(path.stat().st_mode & 0o777) for path in saved} == {"0o600"}
    assert oct(files.stat().st_mode & 0o777) == "0o700"
    assert kept.stdout.rstrip().endswith("Bye for now. Your progress is saved.")

    deleted = human_chat(tmp_path, ["/delete", "yes"])
    assert deleted.returncode == 0, deleted.stderr
    assert list(files.iterdir()) == []
    assert all(f"(deleted {path})" in deleted.stdout for path in saved)
    assert "Your progress is saved" not in deleted.stdout
    assert deleted.stdout.rstrip().endswith("Bye for now. Nothing about you is kept here.")
