"""flows/ is the functional core: it may not import I/O, the shell, the clock or the environment."""

import ast
from pathlib import Path

FLOWS = Path(__file__).resolve().parents[2] / "flows"
FORBIDDEN_MODULES = {"telegram", "sqlalchemy", "aiosqlite", "asyncpg", "httpx", "bot", "os", "socket", "time"}
FORBIDDEN_CALLS = {"now", "utcnow", "today", "getenv", "open"}


def top_module(name: str) -> str:
    """The package a module belongs to; ours are named by their part (hipcoach.bot -> bot)."""
    parts = name.split(".")
    return parts[1] if parts[0] == "hipcoach" and len(parts) > 1 else parts[0]


def imported_modules(tree: ast.AST) -> set[str]:
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names |= {top_module(alias.name) for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(top_module(node.module))
    return names


def called_names(tree: ast.AST) -> set[str]:
    calls = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Call):
            func = node.func
            calls.add(func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", ""))
    return calls


def test_flows_imports_no_io_and_never_reads_the_clock_or_environment():
    sources = sorted(FLOWS.glob("*.py"))
    assert sources
    for path in sources:
        tree = ast.parse(path.read_text())
        assert not imported_modules(tree) & FORBIDDEN_MODULES, path.name
        assert not called_names(tree) & FORBIDDEN_CALLS, path.name


def docstrings(tree: ast.AST) -> set[int]:
    owners = (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)
    return {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, owners) and node.body and isinstance(node.body[0], ast.Expr)
    }


def test_flows_contains_no_user_facing_sentence():
    for path in sorted(FLOWS.glob("*.py")):
        tree = ast.parse(path.read_text())
        skip = docstrings(tree)
        for node in ast.walk(tree):
            if isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
                sentence = " " in node.value.strip() and node.value.rstrip().endswith((".", "?", "!"))
                assert not sentence, f"{path.name}: {node.value!r} belongs in content/messages"
