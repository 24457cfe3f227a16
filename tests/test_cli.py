"""The `sousa-train` command line as a user meets it: real subprocesses, real run folders.

`runs` against every kind of run directory (and the console's catalog agreeing with it),
`list` with long matrix names, a closed output pipe, and a real smoke run whose terminal
output holds none of Lightning's chatter while its train.log keeps it.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from sousa_train.rundir.layout import RunDir, write_json_atomic
from sousa_train.rundir.writer import RunLog
from sousa_tui.state.catalog import RunCatalog
from tests.cli import CLI, sousa_train_process

REPO = Path(__file__).resolve().parents[1]
LIGHTNING_CHATTER = (
    "GPU available",
    "TPU available",
    "litlogger",
    "💡 Tip",
    "Loading `train_dataloader` to estimate number of stepping batches",
)


def cells(line: str) -> list[str]:
    """A table row's cells: columns are at least two spaces apart, cells hold single spaces."""
    return re.split(r"\s{2,}", line.strip())


def config(model: str, variant: str, strategy: str, data: str) -> dict[str, object]:
    """The parts of config.json that `runs` shows, in the trainer's shape."""
    return {
        "experiment": {
            "model": model,
            "variant": variant,
            "strategy": strategy,
            "data": {"name": data, "path": None},
        },
        "parameters": {"trainable": 1000, "total": 1000},
    }


def dead_pid() -> int:
    """The pid of a process that has already ended."""
    done = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        text=True,
        capture_output=True,
        check=True,
    )
    return int(done.stdout)


@pytest.fixture
def live_process() -> Iterator[subprocess.Popen[bytes]]:
    """A process that lives until the test closes its stdin."""
    proc = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        yield proc
    finally:
        assert proc.stdin is not None
        proc.stdin.close()
        proc.wait(timeout=60)


# experiment, run, state, step, best val, test, model, strategy, data
EXPECTED = [
    ("alpha", "20260101-000001-aaaa", "finished", "20", "0.7500", "0.6000",
     "rhythmcnn/small", "from_scratch", "demo"),
    ("alpha", "20260101-000002-bbbb", "stopped", "7", "0.3125", "-",
     "efficientat/mn04", "lora", "demo-small"),
    ("crashed-early", "20260101-000003-cccc", "failed", "0", "-", "-", "-", "-", "-"),
    ("gamma", "20260101-000004-dddd", "running", "3", "-", "-",
     "ast/base", "ia3", "sousa"),
]  # fmt: skip


def make_runs(runs: Path, live_pid: int) -> None:
    """The four kinds of run directory, written by the real RunLog where its pid may be ours."""
    finished = RunLog(RunDir(runs / "alpha" / EXPECTED[0][1]))
    write_json_atomic(finished.dir.config, config("rhythmcnn", "small", "from_scratch", "demo"))
    finished.event("start")
    finished.event("metric", step=10, epoch=0, total_steps=20, loss=3.0)
    finished.event("epoch", step=10, epoch=0, **{"val/balanced_accuracy": 0.5})
    finished.event("epoch", step=20, epoch=1, **{"val/balanced_accuracy": 0.75})
    finished.event("eval", split="val", balanced_accuracy=0.75)
    finished.event("eval", split="test", balanced_accuracy=0.6)
    finished.event("end", step=20, reason="max_epochs")
    finished.status("finished", reason="max_epochs")

    stopped = RunLog(RunDir(runs / "alpha" / EXPECTED[1][1]))
    write_json_atomic(stopped.dir.config, config("efficientat", "mn04", "lora", "demo-small"))
    stopped.event("start")
    stopped.event("metric", step=7, epoch=0, total_steps=40, loss=3.5)
    stopped.event("epoch", step=7, epoch=0, **{"val/balanced_accuracy": 0.3125})
    stopped.status("stopped", reason="signal")

    # Died before config.json: its status still says running, under a pid that is gone.
    early = RunDir(runs / "crashed-early" / EXPECTED[2][1])
    RunLog(early).event("start")
    write_json_atomic(early.status, {"state": "running", "pid": dead_pid()})

    running = RunLog(RunDir(runs / "gamma" / EXPECTED[3][1]))
    write_json_atomic(running.dir.config, config("ast", "base", "ia3", "sousa"))
    running.event("start")
    running.event("metric", step=3, epoch=0, total_steps=100, loss=3.6)
    write_json_atomic(running.dir.status, {"state": "running", "pid": live_pid})
    for log in (finished, stopped, running):
        log.close()


def test_runs_lists_every_kind_of_run_as_the_console_does(
    tmp_path: Path, live_process: subprocess.Popen[bytes]
) -> None:
    runs = tmp_path / "runs"
    make_runs(runs, live_process.pid)

    listed = sousa_train_process("runs", "--runs-dir", str(runs), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    assert cells(header) == [
        "experiment",
        "run",
        "state",
        "step",
        "best val bal.acc",
        "test bal.acc",
        "model",
        "strategy",
        "data",
    ]
    assert [tuple(cells(row)) for row in rows] == EXPECTED
    # Every column as wide as its widest cell: the longest experiment name is followed by
    # exactly the gap, and every row's run id starts where the header's "run" does.
    start = header.index("run")
    assert start == len("crashed-early") + 2
    assert all(
        row[start:].startswith(expected[1]) for row, expected in zip(rows, EXPECTED, strict=True)
    )

    catalog = RunCatalog(runs)
    assert catalog.refresh()
    seen = sorted(
        (
            s.experiment,
            s.run_id,
            s.state,
            str(s.step),
            "-" if s.best_val_bacc is None else f"{s.best_val_bacc:.4f}",
            "-" if s.test_bacc is None else f"{s.test_bacc:.4f}",
            *((s.info.model, s.info.strategy, s.info.data) if s.info else ("-",) * 3),
        )
        for s in catalog.runs()
    )
    assert seen == sorted(EXPECTED)


def test_runs_without_a_runs_folder_says_so(tmp_path: Path) -> None:
    listed = sousa_train_process("runs", "--runs-dir", str(tmp_path / "none"), cwd=tmp_path)
    assert listed.returncode == 0 and listed.stdout == f"no runs under {tmp_path / 'none'}\n"


def test_a_closed_output_pipe_ends_quietly(tmp_path: Path) -> None:
    """`sousa-train runs | head -1`: far more rows than a pipe buffers, the reader leaves."""
    runs = tmp_path / "runs"
    for i in range(1500):
        run = runs / "many" / f"20260101-{i:06d}-abcd"
        run.mkdir(parents=True)
        (run / "status.json").write_text('{"state": "finished", "pid": 1}')
    proc = subprocess.Popen(
        [*CLI, "runs", "--runs-dir", str(runs)],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        cwd=tmp_path,
    )
    assert proc.stdout is not None and proc.stderr is not None
    first = proc.stdout.readline()
    proc.stdout.close()
    err = proc.stderr.read().decode()
    assert proc.wait(timeout=120) == 0, err
    assert cells(first.decode())[:3] == ["experiment", "run", "state"]
    assert err == ""  # no BrokenPipeError, no "Exception ignored" at exit


LONG = """
[datasets.a-rather-long-data-set-name]
demo = { clips_per_rudiment = 3 }
[datasets.d]
demo = { clips_per_rudiment = 4 }

[matrix.sweep-of-everything]
model = ["efficientat", "rhythmcnn"]
data = ["a-rather-long-data-set-name", "d"]
strategy = "from_scratch"

[experiments.e]
model = "efficientat"
variant = "mn04"
strategy = "from_scratch"
data = "d"
description = "short one"
"""


def test_list_sizes_columns_to_long_matrix_names(tmp_path: Path) -> None:
    manifest = tmp_path / "experiments.toml"
    manifest.write_text(LONG)
    listed = sousa_train_process("list", "--manifest", str(manifest), cwd=tmp_path)
    assert listed.returncode == 0, listed.stderr
    header, *rows = listed.stdout.splitlines()
    names = [cells(row)[0] for row in rows]
    assert names == [
        "e",
        "sweep-of-everything-efficientat-a-rather-long-data-set-name",
        "sweep-of-everything-efficientat-d",
        "sweep-of-everything-rhythmcnn-a-rather-long-data-set-name",
        "sweep-of-everything-rhythmcnn-d",
    ]
    # Each column starts at the same offset on every line, the header's included.
    starts = [header.index(h) for h in ("model", "strategy", "data", "description")]
    assert starts[0] == max(map(len, names)) + 2
    for row in rows:
        parts = cells(row)
        for start, value in zip(starts, parts[1:], strict=False):
            assert row[start:].startswith(value) and row[start - 1] == " ", (row, value)
    assert cells(rows[3])[1:] == [
        "rhythmcnn/small",
        "from_scratch",
        "a-rather-long-data-set-name: demo (3/rudiment)",
    ]
    assert cells(rows[0])[1:] == [
        "efficientat/mn04",
        "from_scratch",
        "d: demo (4/rudiment)",
        "short one",
    ]


def test_lightning_chatter_stays_out_of_the_terminal_but_in_train_log(
    finished_smoke: Path, smoke_terminal: str
) -> None:
    run, terminal = finished_smoke, smoke_terminal
    for phrase in LIGHTNING_CHATTER:
        assert phrase not in terminal, phrase
    # Our own lines still print: where the run is, its progress, its result.
    assert "run directory:" in terminal and "epoch 1: val balanced accuracy" in terminal
    assert "test balanced accuracy" in terminal
    log = (run / "train.log").read_text()
    for line in ("GPU available: False", "TPU available", "Loading `train_dataloader`"):
        assert line in log, line
    assert "run directory:" in log and "epoch 1: val balanced accuracy" in log
    assert "test balanced accuracy" in log
    assert json.loads((run / "status.json").read_text())["state"] == "finished"
