"""Figures: a median over repeated runs with its spread, a target, peers, and the load they ran under."""

from __future__ import annotations

import contextlib
import os
import platform
import sqlite3
import statistics
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from importlib import metadata
from typing import Any


class LoadWatch(threading.Thread):
    """The 1-minute load average every few seconds; `during()` gives the most seen while a figure ran."""

    def __init__(self, every: float = 5.0) -> None:
        super().__init__(daemon=True)
        self.every = every
        self.samples: list[float] = []
        self.open: list[list[float]] = []
        self.done = threading.Event()

    def sample(self) -> None:
        value = os.getloadavg()[0]
        self.samples.append(value)
        for watching in self.open:
            watching.append(value)

    def run(self) -> None:
        while not self.done.wait(self.every):
            self.sample()

    def __enter__(self) -> LoadWatch:
        self.sample()
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.done.set()
        self.sample()

    @contextlib.contextmanager
    def during(self) -> Iterator[list[float]]:
        """Load samples taken while the block ran (at least one at each end)."""
        watching: list[float] = []
        self.open.append(watching)
        self.sample()
        try:
            yield watching
        finally:
            self.sample()
            self.open.remove(watching)

    def summary(self) -> dict[str, float]:
        return {"mean": round(statistics.mean(self.samples), 2), "max": round(max(self.samples), 2)}


def overloaded(samples: list[float]) -> bool:
    """More runnable work than cores at some point: the figure is noisy and says so."""
    return bool(samples) and max(samples) > (os.cpu_count() or 1)


@dataclass
class Figure:
    name: str
    runs: list[float]
    target: float | None = None
    at_most: bool = True  # the target is an upper bound (else a lower bound)
    unit: str = ""
    note: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    peers: str = ""  # what it is compared with, in a few words and figures
    load: list[float] = field(default_factory=list)  # 1-minute load averages seen while it ran

    @property
    def loaded(self) -> bool:
        return overloaded(self.load)

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
            "loaded": self.loaded,
            "load_max": round(max(self.load), 2) if self.load else None,
            "peers": self.peers,
            "note": self.note,
            **self.extra,
        }

    def row(self) -> tuple[str, ...]:
        spread = f"{_number(min(self.runs))} - {_number(max(self.runs))}"
        verdict = {True: "pass", False: "MISS", None: ""}[self.passed]
        value = f"{_number(self.median)} {self.unit}".strip()
        name = f"{self.name} (loaded)" if self.loaded else self.name
        return name, value, spread, self.target_text, verdict, self.peers


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
    """A Markdown table: figure, median, spread (min - max over runs), target, verdict, peers.

    "(loaded)" marks a figure measured while the load average exceeded the core count."""
    rows: list[tuple[str, ...]] = [
        ("figure", "median", "spread (min - max)", "target", "pass/miss", "peers"),
        ("---",) * 6,
    ]
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
    load = [round(value, 2) for value in os.getloadavg()]
    return {
        "nproc": os.cpu_count(),
        "cpu": model or platform.processor(),
        "ram_gb": ram_gb,
        "python": platform.python_version(),
        "sqlite": sqlite3.sqlite_version,
        **versions,
        "load_at_start": load,
    }


def _version(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None
