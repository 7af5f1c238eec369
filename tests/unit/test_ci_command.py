"""CI runs exactly the README's test command, and that command lints, type-checks and tests."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]


def readme_commands() -> list[str]:
    blocks = re.findall(r"```sh\n(.*?)```", (ROOT / "README.md").read_text(), flags=re.S)
    return [line.strip() for block in blocks for line in block.splitlines() if line.strip()]


def test_ci_runs_the_readme_test_command_and_nothing_else():
    ci_lines = [
        line for line in (ROOT / ".ci" / "run").read_text().splitlines() if line.startswith("python3")
    ]
    assert len(ci_lines) == 1
    assert ci_lines[0] in readme_commands()


def test_the_test_command_lints_checks_formatting_and_types_before_the_tests():
    command = next(c for c in readme_commands() if "pytest" in c)
    steps = [step.strip() for step in command.split("&&")]
    order = ["ruff check", "ruff format --check", "tests.typecheck", "pytest"]
    places = [next(i for i, step in enumerate(steps) if name in step) for name in order]
    assert places == sorted(places)
