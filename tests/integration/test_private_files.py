"""Files about users are private whatever the umask: the data folder 0700, the database (with its
-wal and -shm) and the terminal's saved files 0600 (issue 15: they were 0644 and 0755)."""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from hipcoach.bot.bootstrap import Settings, build_coach, ensure_sqlite_directory, load_content, open_database
from hipcoach.bot.entrypoints.terminal import SavedFiles
from hipcoach.flows import Text
from hipcoach.flows.values import File
from tests.fakes import said

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
USUAL_UMASK = 0o022


@pytest.fixture
def usual_umask() -> Iterator[None]:
    previous = os.umask(USUAL_UMASK)
    yield
    os.umask(previous)


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


async def test_the_database_with_its_wal_and_shm_and_its_folder_are_private(tmp_path, usual_umask):
    folder = tmp_path / "data" / "hipcoach"
    database = folder / "hipcoach.db"
    settings = Settings(database_url=f"sqlite+aiosqlite:///{database}")
    opened = await open_database(settings)
    coach = build_coach(settings, load_content(), opened, clock=lambda: NOW)
    try:
        await said(coach, 1, Text("hello"))  # a write: SQLite makes the -wal and -shm files
        files = [database, *(database.with_name(database.name + s) for s in ("-wal", "-shm"))]
        assert {path.name: mode(path) for path in files} == {path.name: 0o600 for path in files}
        assert (mode(tmp_path / "data"), mode(folder)) == (0o700, 0o700)
    finally:
        await opened.close()


def test_a_database_left_readable_by_an_earlier_run_is_made_private(tmp_path, usual_umask):
    database = tmp_path / "hipcoach.db"
    wal = tmp_path / "hipcoach.db-wal"
    for path in (database, wal):
        path.write_bytes(b"")
        path.chmod(0o644)
    ensure_sqlite_directory(f"sqlite+aiosqlite:///{database}")
    assert (mode(database), mode(wal)) == (0o600, 0o600)


def test_the_terminal_saves_files_in_a_private_folder_each_private_and_named_for_its_user(
    tmp_path, usual_umask
):
    saved = SavedFiles(tmp_path / "files")
    chart = saved.save(5, File("progress.png", b"png"))
    export = saved.save(5, File("hipcoach-5.json", b"{}"))
    assert (chart.name, export.name) == ("hipcoach-5-progress.png", "hipcoach-5.json")
    assert (mode(tmp_path / "files"), mode(chart), mode(export)) == (0o700, 0o600, 0o600)


def test_forgetting_a_user_removes_their_saved_files_and_no_one_elses(tmp_path):
    saved = SavedFiles(tmp_path)
    for user in (5, 55):
        for name in ("progress.png", f"hipcoach-{user}.json", f"hipcoach-{user}-check-ins.csv"):
            saved.save(user, File(name, b"x"))
    (tmp_path / "notes.txt").write_text("not the bot's")
    saved.forget(5)
    assert sorted(path.name for path in saved.removed) == [
        "hipcoach-5-check-ins.csv",
        "hipcoach-5-progress.png",
        "hipcoach-5.json",
    ]
    assert sorted(path.name for path in tmp_path.iterdir()) == [
        "hipcoach-55-check-ins.csv",
        "hipcoach-55-progress.png",
        "hipcoach-55.json",
        "notes.txt",
    ]
