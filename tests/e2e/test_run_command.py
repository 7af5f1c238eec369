"""`hipcoach` with no token: the terminal chat for a person at a terminal, a loud refusal for anyone else."""

import os
import pty
import select
import subprocess
import sys
import time

import pytest

from hipcoach.bot.storage.db import head_revision

pytestmark = pytest.mark.e2e

NO_TERMINAL = (
    "TELEGRAM_BOT_TOKEN is not set and standard input is not a terminal: "
    "set the token to serve Telegram, or run `hipcoach chat` to chat here\n"
)


def env_without_token(tmp_path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("HIPCOACH_", "TELEGRAM_"))}
    return {**env, "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path / "data")}


@pytest.mark.parametrize("args", [[], ["run"]])
@pytest.mark.parametrize("stdin", ["1\n", ""], ids=["piped", "empty"])
def test_without_a_token_or_a_terminal_it_fails_with_one_line_and_touches_nothing(tmp_path, args, stdin):
    """A container with the token missing: no chat that reads end of input, exits 0 and is restarted."""
    result = subprocess.run(
        [sys.executable, "-m", "hipcoach.bot", *args],
        input=stdin,
        env=env_without_token(tmp_path),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert (result.returncode, result.stderr, result.stdout) == (2, NO_TERMINAL, "")
    assert not (tmp_path / "data").exists()  # no database, no files


def read_until(fd: int, wanted: str, timeout: float = 60) -> str:
    """What the terminal showed, read until `wanted` appears (or the program ends, or time runs out)."""
    seen = ""
    deadline = time.monotonic() + timeout
    while wanted not in seen and time.monotonic() < deadline:
        ready, _, _ = select.select([fd], [], [], 0.5)
        if not ready:
            continue
        try:
            chunk = os.read(fd, 4096)
        except OSError:  # the program ended and closed the terminal
            break
        if not chunk:
            break
        seen += chunk.decode(errors="replace")
    return seen


def test_without_a_token_in_a_terminal_the_coach_opens_the_terminal_chat_and_says_how_to_serve_telegram(
    tmp_path,
):
    main, child = pty.openpty()
    process = subprocess.Popen(
        [sys.executable, "-m", "hipcoach.bot"],
        stdin=child,
        stdout=child,
        stderr=child,
        env=env_without_token(tmp_path),
        close_fds=True,
    )
    os.close(child)
    try:
        intro = read_until(main, "[1] Yes, that's okay")
        os.write(main, b"1\n")
        answered = read_until(main, "safety check")
        os.write(main, b"\x04")  # end of input, as Ctrl-D at the start of a line
        goodbye = read_until(main, "\x00")  # everything until the program ends
        assert process.wait(timeout=60) == 0, goodbye
    finally:
        if process.poll() is None:
            process.kill()
        os.close(main)
    assert "TELEGRAM_BOT_TOKEN" in intro
    assert "not a clinician" in intro
    assert "safety check" in answered  # "1" pressed the first button: consent given
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
