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
        "content/data/exercises.yaml",
        "content/data/ladders.yaml",
        "content/data/screening.yaml",
        "content/data/starting_point.yaml",
        "content/data/messages/en.yaml",
        "bot/migrations/env.py",
        "bot/migrations/script.py.mako",
        "bot/migrations/versions/0001_initial_schema.py",
        "flows/engine.py",
    ):
        assert required in names, required
    assert not any(name.startswith("tests/") for name in names)


def test_the_installed_wheel_checks_its_content_and_chats(wheel, tmp_path):
    target = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--no-deps", "-q", "--target", str(target), str(wheel)],
        check=True,
        timeout=300,
        capture_output=True,
    )
    env = {"PYTHONPATH": str(target), "HOME": str(tmp_path), "XDG_DATA_HOME": str(tmp_path)}
    run = [sys.executable, "-m", "bot"]
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
