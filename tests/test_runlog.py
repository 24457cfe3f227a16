"""The run directory writer and reader: torn lines, atomic status, finding runs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from sousa_train.rundir.layout import RunDir, new_run_id
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import effective_state
from sousa_train.rundir.tail import iter_events
from sousa_train.rundir.writer import RunLog


def test_events_survive_a_torn_tail_and_append_cleanly(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "exp" / new_run_id())
    log = RunLog(run)
    log.event("start", experiment="exp")
    log.event("metric", step=1, loss=2.5)
    log.close()
    with open(run.events, "a") as fh:
        fh.write('{"t": 1, "kind": "metr')  # a crash mid-write
    assert [e["kind"] for e in iter_events(run.events)] == ["start", "metric"]
    log = RunLog(run)  # a resumed run reopens the same file
    log.event("start", resumed=True)
    log.close()
    lines = run.events.read_text().splitlines()
    assert len(lines) == 3
    assert all(json.loads(line)["kind"] for line in lines)


def test_status_is_replaced_whole_and_keeps_fields(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "exp" / new_run_id())
    log = RunLog(run)
    log.status("running", experiment="exp")
    log.status("finished", reason="completed")
    status = json.loads(run.status.read_text())
    assert status["state"] == "finished" and status["experiment"] == "exp"
    assert status["reason"] == "completed" and isinstance(status["pid"], int)
    assert not list(run.root.glob(".*tmp"))


def test_a_running_status_with_a_dead_pid_reads_as_failed(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "exp" / new_run_id())
    RunLog(run).status("running")
    run.config.write_text("{}")
    assert effective_state(run) == "running"
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    ).stdout.strip()
    status = json.loads(run.status.read_text())
    status["pid"] = int(dead)
    run.status.write_text(json.dumps(status))
    assert effective_state(run) == "failed"


def test_find_runs_sorts_by_time_and_filters_by_experiment(tmp_path: Path) -> None:
    for exp, rid in (
        ("a", "20260101-000002-aaaa"),
        ("b", "20260101-000001-bbbb"),
        ("a", "20260101-000000-cccc"),
    ):
        d = tmp_path / exp / rid
        d.mkdir(parents=True)
        (d / "config.json").write_text("{}")
    (tmp_path / "a" / "not-a-run").mkdir()
    assert [r.run_id for r in find_runs(tmp_path)] == [
        "20260101-000000-cccc",
        "20260101-000001-bbbb",
        "20260101-000002-aaaa",
    ]
    assert [r.run_id for r in find_runs(tmp_path, "a")] == [
        "20260101-000000-cccc",
        "20260101-000002-aaaa",
    ]
    assert find_runs(tmp_path / "missing") == []
