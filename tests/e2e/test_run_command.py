"""`hipcoach` with no token opens the terminal chat on the default SQLite database."""

import os
import subprocess
import sys

import pytest

from hipcoach.bot.storage.db import head_revision

pytestmark = pytest.mark.e2e


def env_without_token(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    return {**env, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}


def test_without_a_token_the_coach_opens_the_terminal_chat_and_says_how_to_serve_telegram(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot"],
        input="1\n",
        env=env_without_token(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "TELEGRAM_BOT_TOKEN" in result.stdout
    assert "not a clinician" in result.stdout
    assert "[1] Yes, that's okay" in result.stdout
    assert "safety check" in result.stdout  # "1" pressed the first button: consent given
    assert (tmp_path / "data" / "hipcoach" / "hipcoach.db").exists()


def test_db_upgrade_reports_the_newest_revision(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", "db", "upgrade", "--db", f"sqlite:///{tmp_path / 'x.db'}"],
        env=env_without_token(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    head = head_revision()
    assert head is not None
    assert result.stdout.strip() == f"revision {head} (newest: {head})"
