"""Real 2-process DDP runs on CPU (gloo): the run directory is whole and written once.

Both launchers are run for real: Lightning's own (`--devices 2`, the process starts its
second rank itself) and torchrun (both ranks start at once and must agree on a run).
"""

from __future__ import annotations

import collections
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "experiments.toml"
DDP = ("--devices", "2", "--strategy", "ddp", "--accelerator", "cpu", "train.max_epochs=1")


def _smoke(tmp: Path, launcher: list[str], *extra: str) -> tuple[RunDir, str]:
    runs = tmp / "runs"
    env = {**os.environ, "SOUSA_CACHE_DIR": str(tmp.parent / "cache"), "PYTHONUNBUFFERED": "1"}
    cmd = [*launcher, "-m", "sousa_train.cli", "run", "smoke", "--manifest", str(MANIFEST)]
    result = subprocess.run(
        [*cmd, "--runs-dir", str(runs), *DDP, *extra],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    found = find_runs(runs, "smoke")
    assert len(found) == 1, f"every rank must share one run directory, got {found}"
    return found[0], result.stdout + result.stderr


@pytest.fixture(scope="module")
def lightning_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunDir, str]:
    return _smoke(tmp_path_factory.mktemp("lightning"), [sys.executable])


@pytest.fixture(scope="module")
def torchrun_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[RunDir, str]:
    torchrun = shutil.which("torchrun", path=str(Path(sys.executable).parent))
    assert torchrun, "torchrun comes with torch; the venv should have it"
    launcher = [torchrun, "--standalone", "--nproc-per-node", "2"]
    return _smoke(
        tmp_path_factory.mktemp("torchrun"), launcher, "optim.scale_lr_with_world_size=true"
    )


def _check_written_once(run: RunDir) -> list[dict]:
    assert read_json(run.status)["state"] == "finished"
    events = list(iter_events(run.events))
    assert len(events) == len(run.events.read_text().splitlines()), "a torn or garbled line"
    kinds = collections.Counter(e["kind"] for e in events)
    assert kinds["start"] == 1 and kinds["end"] == 1 and kinds["epoch"] == 1, kinds
    assert kinds["eval"] == 2, kinds
    steps = [e["step"] for e in events if e["kind"] == "metric"]
    assert steps and len(steps) == len(set(steps)), f"step events repeated: {steps}"
    saves = [(e["path"], e["step"]) for e in events if e["kind"] == "checkpoint"]
    assert len(saves) == len(set(saves)), saves
    assert run.log.read_text().count("run directory:") == 1
    config = read_json(run.config)
    for split in ("val", "test"):
        table = pq.read_table(run.eval_dir(split) / "predictions.parquet").to_pylist()
        ids = [row["sample_id"] for row in table]
        assert len(ids) == len(set(ids)) == config["clips"][split], split
    return events


def test_lightning_ddp_writes_one_whole_run(lightning_run: tuple[RunDir, str]) -> None:
    run, _ = lightning_run
    events = _check_written_once(run)
    config = read_json(run.config)
    assert config["experiment"]["train"]["parallel_strategy"] == "ddp"
    assert config["experiment"]["train"]["devices"] == 2
    # Data is sharded: each rank takes half the training clips per epoch.
    per_rank_steps = -(-config["clips"]["train"] // 2 // 16)
    assert max(e["step"] for e in events if e["kind"] == "metric") == per_rank_steps


def test_validation_metrics_are_reduced_over_ranks(lightning_run: tuple[RunDir, str]) -> None:
    """Each rank validates half the clips; the epoch event must describe all of them, as
    rank 0 alone evaluating the same (only, so best) checkpoint on the whole split does."""
    run, _ = lightning_run
    epoch = next(e for e in iter_events(run.events) if e["kind"] == "epoch")
    whole = read_json(run.eval_dir("val") / "metrics.json")
    for key in ("accuracy", "balanced_accuracy", "top5_accuracy", "macro_f1"):
        assert epoch[f"val/{key}"] == pytest.approx(whole[key], abs=1e-6), key


def test_torchrun_ranks_agree_on_one_run(
    torchrun_run: tuple[RunDir, str], lightning_run: tuple[RunDir, str]
) -> None:
    scaled = _check_written_once(torchrun_run[0])
    plain = list(iter_events(lightning_run[0].events))
    # optim.scale_lr_with_world_size doubles the learning rate at every step with two ranks.
    lrs = {e["step"]: e["lr"] for e in plain if e["kind"] == "metric"}
    for event in (e for e in scaled if e["kind"] == "metric"):
        assert event["lr"] == pytest.approx(2 * lrs[event["step"]], rel=1e-6)
