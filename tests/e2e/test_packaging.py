"""The plain (non-editable) install carries the content and the migrations, and runs."""

import subprocess
import sys
import zipfile

import pytest

pytestmark = pytest.mark.e2e


@pytest.fixture(scope="module")
def wheel(tmp_path_factory):
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", ".", "--no-deps", "-q", "-w", str(out)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    return next(out.glob("hipcoach-*.whl"))


def test_the_wheel_contains_every_content_file_and_migration(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    for required in (
        "hipcoach/content/data/exercises.yaml",
        "hipcoach/content/data/ladders.yaml",
        "hipcoach/content/data/screening.yaml",
        "hipcoach/content/data/starting_point.yaml",
        "hipcoach/content/data/messages/en.yaml",
        "hipcoach/bot/storage/migrations/env.py",
        "hipcoach/bot/storage/migrations/script.py.mako",
        "hipcoach/bot/storage/migrations/versions/0001_initial_schema.py",
        "hipcoach/flows/engine.py",
    ):
        assert required in names, required
    tops = {name.split("/")[0] for name in names if not name.startswith("hipcoach-")}
    assert tops == {"hipcoach"}, "the wheel adds one top-level package and nothing else"


def test_the_installed_wheel_checks_its_content_and_chats(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(target), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    run = [sys.executable, "-m", "hipcoach.bot"]
    check = subprocess.run([*run, "content", "check"], env=env, cwd=tmp_path, capture_output=True, text=True)
    assert check.returncode == 0, check.stderr
    assert str(target) in check.stdout

    chat = subprocess.run(
        [*run, "chat", "--json"],
        input="hi\n",
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert chat.returncode == 0, chat.stderr
    assert "Hip Coach" in chat.stdout
    assert (tmp_path / "hipcoach" / "hipcoach.db").exists()
