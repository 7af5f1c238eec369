"""Figures: a median over repeated runs with its spread, a target, and the machine they came from."""

from __future__ import annotations

import os
import platform
import sqlite3
import statistics
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


@dataclass
class Figure:
    name: str
    runs: list[float]
    target: float | None = None
    at_most: bool = True  # the target is an upper bound (else a lower bound)
    unit: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def median(self) -> float:
        return statistics.median(self.runs)

    @property
    def passed(self) -> bool | None:
        if self.target is None:
            return None
        return self.median <= self.target if self.at_most else self.median >= self.target

    @property
    def target_text(self) -> str:
        if self.target is None:
            return ""
        return f"{'<=' if self.at_most else '>='} {_number(self.target)}"

    def to_json(self) -> dict[str, Any]:
        return {
            "value": round(self.median, 4),
            "min": round(min(self.runs), 4),
            "max": round(max(self.runs), 4),
            "runs": [round(value, 4) for value in self.runs],
            "unit": self.unit,
            "target": self.target_text or None,
            "pass": self.passed,
            "note": self.note,
            **self.extra,
        }

    def row(self) -> tuple[str, str, str, str, str]:
        spread = f"{_number(min(self.runs))} - {_number(max(self.runs))}"
        verdict = {True: "pass", False: "MISS", None: ""}[self.passed]
        value = f"{_number(self.median)} {self.unit}".strip()
        return self.name, value, spread, self.target_text, verdict


def _number(value: float) -> str:
    if value == int(value) and abs(value) >= 10:
        return f"{int(value)}"
    if abs(value) >= 100:
        return f"{value:.0f}"
    if abs(value) >= 10:
        return f"{value:.1f}"
    return f"{value:.2f}"


def ratios(numerators: list[float], denominators: list[float]) -> list[float]:
    return [a / b for a, b in zip(numerators, denominators, strict=True)]


def table(figures: list[Figure]) -> str:
    """A Markdown table: figure, median, spread (min - max over runs), target, verdict."""
    rows = [("figure", "median", "spread (min - max)", "target", "result"), ("---",) * 5]
    rows += [figure.row() for figure in figures]
    return "\n".join("| " + " | ".join(row) + " |" for row in rows)


def machine() -> dict[str, Any]:
    model = ""
    try:
        with open("/proc/cpuinfo") as cpuinfo:
            model = next(
                (line.split(":", 1)[1].strip() for line in cpuinfo if line.startswith("model name")), ""
            )
    except OSError:
        pass
    ram_gb = None
    try:
        with open("/proc/meminfo") as meminfo:
            kb = next(int(line.split()[1]) for line in meminfo if line.startswith("MemTotal"))
            ram_gb = round(kb / 1024 / 1024, 1)
    except (OSError, StopIteration):
        pass
    versions = {
        name: _version(name) for name in ("python-telegram-bot", "SQLAlchemy", "aiosqlite", "asyncpg")
    }
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
