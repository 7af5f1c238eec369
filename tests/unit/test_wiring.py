"""The shell is wired once, in bot/bootstrap.py: nothing is handed to a built object afterwards."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
SET_ON_A_COACH = re.compile(r"\bcoach\.\w+\s*=[^=]")
LOOKED_UP = re.compile(r"bot_data\[|(?:getattr|hasattr)\([^)]*storage")


def sources(*folders: str) -> list[Path]:
    return [path for folder in folders for path in sorted((ROOT / folder).rglob("*.py"))]


def test_no_code_or_test_sets_a_collaborator_on_a_coach_after_it_is_built():
    found = [f"{p.relative_to(ROOT)}: {line.strip()}" for p in sources("bot", "tests") for line in
             p.read_text().splitlines() if SET_ON_A_COACH.search(line)]  # fmt: skip
    assert found == []


def test_no_collaborator_is_looked_up_in_bot_data_or_by_probing_the_storage():
    found = [f"{p.relative_to(ROOT)}: {line.strip()}" for p in sources("bot") for line in
             p.read_text().splitlines() if LOOKED_UP.search(line)]  # fmt: skip
    assert found == []


def test_the_telegram_adapter_does_not_import_the_terminal():
    adapter = (ROOT / "bot" / "telegram" / "adapter.py").read_text()
    assert "entrypoints.terminal" not in adapter
    assert "from hipcoach.bot.text_input import parse_input" in adapter


def test_storage_imports_neither_the_coach_nor_the_engine_s_decision_or_rendering():
    imported = set()
    for path in sources("bot/storage"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom):
                imported |= {f"{node.module}.{alias.name}" for alias in node.names}
    assert imported
    assert {name for name in imported if name.startswith("hipcoach.bot.coach")} == set()
    assert {name for name in imported if name.rsplit(".", 1)[1] in ("step", "render", "render_all")} == set()
