"""The benchmark command produces every figure, well-formed, at tiny sizes (nothing here is timed)."""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest

from tests.bench import run

TINY = dict(
    small_turn_users=60,
    small_due_users=200,
    large_users=300,
    due=150,
    runs=1,
    turns_per_run=3,
    pickle_large_turns=2,
    pickle_runs=1,
    limit_rtt=0.0,
    limit_seconds=1,
    limit_runs=1,
    other_rtts=(),
    claim=20,
    throughput_runs=1,
    history=600,
    history_users=200,
    history_pending=40,
    history_selects=2,
    history_runs=1,
)


@pytest.fixture
def tiny_plan(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> run.Plan:
    monkeypatch.setenv("HIPCOACH_BENCH_CACHE", str(tmp_path))
    return dataclasses.replace(run.Plan.make(quick=True), **TINY)


def test_every_figure_is_produced_with_its_runs_target_and_load_flag(
    tiny_plan: run.Plan, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setattr(run.Plan, "make", classmethod(lambda cls, quick: tiny_plan))
    assert run.main(["--json", "--no-postgres", "--only", "limit,throughput,cpu,pickle,history,scale"]) == 0
    report = json.loads(capsys.readouterr().out)
    figures = report["figures"]
    expected = {
        "limit_use_prompts_sqlite_0ms",
        "seconds_over_limit_replies_sqlite_0ms",
        "prompts_per_s_sqlite",
        "turn_cpu_floor_ratio_sqlite",
        "turn_cpu_peer_ratio_sqlite",
        "pickle_flushed_ms_1k",
        "pickle_defaults_ms_large",
        "outbox_claim_history_ratio_sqlite",
        "due_select_history_ratio_sqlite",
        "users_scale_ratio",
        "turn_alloc_peak_kb",
    }
    assert expected <= set(figures)
    for name, figure in figures.items():
        assert figure["runs"] and figure["min"] <= figure["value"] <= figure["max"], name
        assert isinstance(figure["loaded"], bool), name
    assert report["machine"]["nproc"] == os.cpu_count()
    assert figures["turn_cpu_floor_ratio_sqlite"]["statements"] > 0
    assert figures["limit_use_replies_sqlite_0ms"]["busiest_chat_second"][0] >= 1
