"""Real `sousa-train run smoke` processes: the run directory contract, stop, kill, resume."""

from __future__ import annotations

import json
import math
import os
import signal
import subprocess
from collections import Counter
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sousa_train.rudiments import SLUGS
from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status
from sousa_train.rundir.sync import pull
from sousa_train.rundir.tail import iter_events
from tests.cli import CLI, Result, sousa_train
from tests.conftest import copy_run, damage_audio, mirrored_metric, write_tone_set
from tests.waiting import wait_for

REPO = Path(__file__).resolve().parents[1]
MANIFEST = REPO / "experiments.toml"
RUN_DEADLINE = 900  # seconds: a smoke run takes ~16 s alone, minutes on a loaded machine


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """One cache folder for the module, so the tiny demo set is rendered once."""
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "SOUSA_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}


def smoke_args(runs: Path, *extra: str) -> list[str]:
    """`sousa-train` arguments of a smoke run into ``runs``."""
    return ["run", "smoke", "--manifest", str(MANIFEST), "--runs-dir", str(runs), *extra]


def train_cmd(runs: Path, *extra: str) -> list[str]:
    """The same run as the process a user starts, for the tests that signal it."""
    return [*CLI, *smoke_args(runs, *extra)]


def run_smoke(runs: Path, env: dict[str, str], *extra: str) -> Result:
    """A whole run in this process (tests/cli.py)."""
    return sousa_train(*smoke_args(runs, *extra), env=env, cwd=runs.parent)


def only_run(runs: Path) -> RunDir:
    found = find_runs(runs, "smoke")
    assert len(found) == 1, found
    return found[0]


def first_metric_logged(runs: Path) -> bool:
    found = find_runs(runs, "smoke")
    return bool(found) and any(e["kind"] == "metric" for e in iter_events(found[0].events))


def assert_events_whole(run: RunDir) -> list[dict]:
    lines = run.events.read_text().splitlines()
    for line in lines:
        json.loads(line)
    return list(iter_events(run.events))


# `sousa-train runs`, README "Commands": state, step, best validation and test balanced accuracy.
RUNS_HEADER = [
    "experiment", "run", "state", "step", "best", "val", "bal.acc", "test", "bal.acc",
    "model", "strategy", "data",
]  # fmt: skip

# README, "The run directory": one row per clip with these columns.
PREDICTION_COLUMNS = {
    "sample_id": pa.string(),
    "audio_path": pa.string(),
    "label": pa.int32(),
    "pred": pa.int32(),
    "label_slug": pa.string(),
    "pred_slug": pa.string(),
    "confidence": pa.float32(),
    "top5_ids": pa.list_(pa.int32()),
    "top5_probs": pa.list_(pa.float32()),
    "tempo_bpm": pa.float64(),
    "skill_tier": pa.string(),
    "augmentation_preset": pa.string(),
    "soundfont": pa.string(),
    "profile_id": pa.string(),
    "duration_sec": pa.float64(),
}


def assert_prediction_columns(table: pa.Table, config: dict, split: str) -> None:
    """Every README column with its type, and values a reader can rely on."""
    assert {f.name: f.type for f in table.schema} == PREDICTION_COLUMNS
    rows = table.to_pylist()
    assert len(rows) == config["clips"][split]
    assert len({r["sample_id"] for r in rows}) == len(rows)
    data_root = Path(config["data_root"])
    for r in rows:
        assert 0 <= r["label"] < 40 and 0 <= r["pred"] < 40
        assert (r["label_slug"], r["pred_slug"]) == (SLUGS[r["label"]], SLUGS[r["pred"]])
        assert r["audio_path"].endswith(".flac") and (data_root / r["audio_path"]).is_file()
        ids, probs = r["top5_ids"], r["top5_probs"]
        assert len(ids) == len(set(ids)) == 5 and all(0 <= i < 40 for i in ids)
        assert ids[0] == r["pred"] and probs == sorted(probs, reverse=True)
        assert probs[-1] > 0 and sum(probs) <= 1 + 1e-5
        assert r["confidence"] == probs[0]
        assert r["tempo_bpm"] > 0 and r["duration_sec"] > 0
        for key in ("skill_tier", "augmentation_preset", "soundfont", "profile_id"):
            assert r[key], key


def test_smoke_run_writes_the_whole_run_directory(
    tmp_path: Path, env: dict[str, str], finished_smoke: Path, smoke_terminal: str
) -> None:
    """The shared finished smoke run (conftest.py), read file by file."""
    assert "test balanced accuracy" in smoke_terminal
    runs = tmp_path / "runs"
    run = RunDir(copy_run(finished_smoke, runs))

    config = json.loads(run.config.read_text())
    assert config["experiment"]["name"] == "smoke"
    assert [c["slug"] for c in config["classes"]][:2] == [
        "single_stroke_roll",
        "single_stroke_four",
    ]
    assert len(config["classes"]) == 40
    assert 0 < config["parameters"]["trainable"] <= config["parameters"]["total"]
    assert config["versions"]["torch"] and config["versions"]["lightning"]

    status = json.loads(run.status.read_text())
    assert status["state"] == "finished" and status["reason"] in ("completed", "early_stopped")

    events = assert_events_whole(run)
    kinds = [e["kind"] for e in events]
    assert kinds[0] == "start" and kinds[-1] == "end"
    for kind in ("metric", "epoch", "checkpoint", "eval"):
        assert kind in kinds, kind
    metric = next(e for e in events if e["kind"] == "metric")
    for key in (
        "step",
        "epoch",
        "train/loss",
        "lr",
        "samples_per_sec",
        "epoch_progress",
        "eta_sec",
        "grad_norm",
        "peak_mem_mb",
    ):
        assert key in metric, key
    epochs = [e for e in events if e["kind"] == "epoch"]
    assert len(epochs) == 2 and all(0 <= e["val/balanced_accuracy"] <= 1 for e in epochs)

    assert run.best_ckpt.is_file() and run.last_ckpt.is_file()
    log_text = run.log.read_text()
    assert "run directory" in log_text and "\r" not in log_text  # no progress-bar debris
    assert "Tip:" not in log_text  # nor advertisements

    for split in ("val", "test"):
        out = run.eval_dir(split)
        metrics = json.loads((out / "metrics.json").read_text())
        confusion = json.loads((out / "confusion.json").read_text())
        table = pq.read_table(out / "predictions.parquet")
        assert_prediction_columns(table, config, split)
        predictions = table.to_pylist()
        assert len(confusion["matrix"]) == 40 and all(len(r) == 40 for r in confusion["matrix"])
        assert sum(map(sum, confusion["matrix"])) == metrics["num_clips"] == len(predictions) > 0
        correct = sum(p["label"] == p["pred"] for p in predictions)
        assert metrics["accuracy"] == pytest.approx(correct / len(predictions))
        assert metrics["checkpoint"] == "best"
        assert set(metrics["per_class"]) >= {"flam", "lesson_25"}

    listed = sousa_train("runs", "--runs-dir", str(runs))
    header, row = listed.stdout.splitlines()
    assert header.split() == RUNS_HEADER
    end = events[-1]
    assert row.split() == [
        "smoke",
        run.run_id,
        "finished",
        str(end["step"]),
        f"{max(e['val/balanced_accuracy'] for e in epochs):.4f}",
        f"{end['test_balanced_accuracy']:.4f}",
        "efficientat/tiny",
        "from_scratch",
        "demo-tiny",
    ]

    again = sousa_train("eval", str(run.root), "--split", "val", "--checkpoint", "last", env=env)
    assert again.returncode == 0, again.stderr
    assert json.loads((run.eval_dir("val") / "metrics.json").read_text())["checkpoint"] == "last"


def test_sigkill_mid_run_leaves_a_mirror_read_as_failed_then_resume_in_the_same_directory(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """A run mirrored to a file:// folder (--sync-to) is killed: the mirror, pulled home,
    reads as failed without any half-sent upload; here the run resumes where it was."""
    runs, target = tmp_path / "runs", tmp_path / "mirror"
    proc = subprocess.Popen(
        train_cmd(runs, "train.max_epochs=4", "--sync-to", f"file://{target}"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:

        def saved_and_mirrored() -> bool:
            found = find_runs(runs, "smoke")
            saved = bool(found) and any(
                e["kind"] == "checkpoint" and e["path"].endswith("last.ckpt")
                for e in iter_events(found[0].events)
            )
            return saved and mirrored_metric(target)

        wait_for(saved_and_mirrored, "last.ckpt and a mirrored metric", RUN_DEADLINE)
        proc.send_signal(signal.SIGKILL)
    finally:
        proc.wait(timeout=300)
    run = only_run(runs)
    assert json.loads(run.status.read_text())["state"] == "running"  # as the kill left it
    steps_before = max(e.get("step", 0) for e in iter_events(run.events))

    (mirrored,) = find_runs(target, "smoke")
    # What a SIGKILL during an upload leaves behind: a half-written temporary beside the file.
    mirrored.checkpoints.mkdir(exist_ok=True)
    (mirrored.checkpoints / f"last.ckpt.{proc.pid}.tmp").write_bytes(b"half a checkpoint")
    home = tmp_path / "home"
    pull(f"file://{target}", home)
    (pulled,) = find_runs(home, "smoke")
    assert not list(pulled.root.rglob("*.tmp")), "a half-sent upload was pulled"
    status = read_status(pulled)
    assert status.state == "failed" and "without a final status" in (status.error or "")
    assert any(e.get("kind") == "metric" for e in iter_events(pulled.events))

    result = run_smoke(runs, env, "train.max_epochs=4")
    assert result.returncode == 0, result.stdout + result.stderr
    assert only_run(runs).root == run.root
    events = assert_events_whole(run)
    starts = [e for e in events if e["kind"] == "start"]
    assert [s["resumed"] for s in starts] == [False, True]
    resumed_at = events.index(starts[1])
    first_metric = next(e for e in events[resumed_at:] if e["kind"] == "metric")
    assert first_metric["step"] > 0 and first_metric["step"] <= steps_before + 20
    assert json.loads(run.status.read_text())["state"] == "finished"
    assert max(e["epoch"] for e in events if e["kind"] == "epoch") == 3


def test_sigterm_with_a_loader_worker_saves_a_checkpoint_and_ends_as_stopped(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """The workers ignore SIGTERM, and the process must still exit. (Without workers the
    same stop is tested through SIGINT below and the console's `s` in test_tui_runs.py.)"""
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        train_cmd(runs, "train.max_epochs=50", "loader.num_workers=1"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or first_metric_logged(runs), "a metric", RUN_DEADLINE
        )
        proc.send_signal(signal.SIGTERM)
        code = proc.wait(timeout=300)
    finally:
        proc.kill()
    assert code == 128 + signal.SIGTERM
    run = only_run(runs)
    assert json.loads(run.status.read_text())["state"] == "stopped"
    assert run.last_ckpt.is_file()
    events = assert_events_whole(run)
    assert events[-1]["kind"] == "end" and events[-1]["reason"] == "stopped"
    assert "stopping after this batch" in run.log.read_text()


def test_time_limit_still_anneals_the_learning_rate(tmp_path: Path, env: dict[str, str]) -> None:
    """A 500-epoch schedule cut at 9 s must still decay, by the clock."""
    runs = tmp_path / "runs"
    result = run_smoke(
        runs, env, "train.max_epochs=500", "train.max_minutes=0.15", "train.log_every_steps=1"
    )
    assert result.returncode == 0, result.stdout + result.stderr
    events = assert_events_whole(only_run(runs))
    assert [e["reason"] for e in events if e["kind"] == "end"] == ["time_limit"]
    metrics = [e for e in events if e["kind"] == "metric"]
    lrs = [e["lr"] for e in metrics]
    assert lrs[-1] < 0.3 * max(lrs)  # by steps alone it would still be at its peak
    assert max(e["eta_sec"] for e in metrics) <= 9.5  # the ETA knows the clock will stop it


def test_divergence_fails_the_run_naming_the_step(
    tmp_path: Path, env: dict[str, str], finished_smoke: Path
) -> None:
    """Beside a finished run of the same experiment, which is never resumed: a new run starts."""
    runs = tmp_path / "runs"
    finished = RunDir(copy_run(finished_smoke, runs))
    events_before = finished.events.read_text()
    result = run_smoke(runs, env, "optim.lr=1e30", "optim.warmup_fraction=0")
    assert result.returncode == 1
    assert finished.events.read_text() == events_before
    (run,) = [r for r in find_runs(runs, "smoke") if r.root != finished.root]
    status = json.loads(run.status.read_text())
    assert status["state"] == "failed" and "at step" in status["error"]
    errors = [e for e in iter_events(run.events) if e["kind"] == "error"]
    assert len(errors) == 1 and "diverged" in errors[0]["message"]
    assert "Traceback" in run.log.read_text()


def test_ctrl_c_stops_then_resume_is_refused_while_live_or_changed_then_resumes(
    tmp_path: Path, env: dict[str, str]
) -> None:
    runs = tmp_path / "runs"
    proc = subprocess.Popen(
        train_cmd(runs, "train.max_epochs=3"),
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,  # Ctrl-C signals the terminal's whole process group
    )
    try:
        wait_for(
            lambda: proc.poll() is not None or first_metric_logged(runs), "a metric", RUN_DEADLINE
        )
        os.killpg(proc.pid, signal.SIGINT)
        code = proc.wait(timeout=300)
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    assert code == 128 + signal.SIGINT
    run = only_run(runs)
    status_text = run.status.read_text()
    assert json.loads(status_text)["state"] == "stopped" and run.last_ckpt.is_file()
    last = assert_events_whole(run)[-1]
    assert last["kind"] == "end" and last["reason"] == "stopped"
    assert "received SIGINT: stopping after this batch" in run.log.read_text()

    changed = run_smoke(runs, env, "train.max_epochs=3", "optim.lr=0.5")
    assert changed.returncode == 1, changed.stdout + changed.stderr
    assert changed.stderr.startswith(f"sousa-train: {run.config}: the unfinished run was started")
    assert "different settings" in changed.stderr and "--fresh" in changed.stderr

    # The run as a live process leaves it: running, with a pid that exists (this one).
    live = {**json.loads(status_text), "state": "running", "pid": os.getpid()}
    run.status.write_text(json.dumps(live))
    busy = run_smoke(runs, env, "train.max_epochs=3")
    assert busy.returncode == 1, busy.stdout + busy.stderr
    assert busy.stderr.startswith(f"sousa-train: {run.root}: this experiment is already running")
    assert f"as pid {os.getpid()}" in busy.stderr and "--fresh" in busy.stderr
    run.status.write_text(status_text)
    assert [e["kind"] for e in iter_events(run.events)].count("start") == 1  # neither touched it

    resumed = run_smoke(runs, env, "train.max_epochs=3")
    assert resumed.returncode == 0, resumed.stdout + resumed.stderr
    assert only_run(runs).root == run.root
    events = assert_events_whole(run)
    assert [e["resumed"] for e in events if e["kind"] == "start"] == [False, True]
    assert json.loads(run.status.read_text())["state"] == "finished"
    assert max(e["epoch"] for e in events if e["kind"] == "epoch") == 2


def test_early_stopping_fires_inside_a_fit_with_accumulation_mixup_and_time_stretch(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """One real fit for two promises. With lr 0 the weights never change, so val balanced
    accuracy cannot keep improving and early stopping must end the run. Two batches per
    optimiser step halve the steps of every epoch it ran (mixup and time stretch on too; what
    they do to a batch inside the fit is checked in test_augment.py)."""
    runs = tmp_path / "runs"
    result = run_smoke(
        runs,
        env,
        "optim.lr=0",
        "train.early_stop_patience=1",
        "train.max_epochs=8",
        "augment.freq_masks=0",
        "augment.time_masks=0",
        "optim.accumulate_grad_batches=2",
        "augment.mixup_alpha=0.4",
        "augment.time_stretch=0.1",
        "train.log_every_steps=1",
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run = only_run(runs)
    events = assert_events_whole(run)
    assert events[-1]["kind"] == "end" and events[-1]["reason"] == "early_stopped"
    assert json.loads(run.status.read_text())["reason"] == "early_stopped"
    scores = [e["val/balanced_accuracy"] for e in events if e["kind"] == "epoch"]
    assert 2 <= len(scores) < 8  # stopped before max_epochs
    assert scores[-1] <= max(scores[:-1])  # the last epoch brought no gain

    config = json.loads(run.config.read_text())
    assert config["experiment"]["optim"]["accumulate_grad_batches"] == 2
    batches = math.ceil(config["clips"]["train"] / config["experiment"]["loader"]["batch_size"])
    assert events[-1]["step"] == len(scores) * math.ceil(batches / 2)
    assert {e["total_steps"] for e in events if e["kind"] == "metric"} == {
        8 * math.ceil(batches / 2)
    }
    assert all(math.isfinite(e["train/loss"]) for e in events if e["kind"] == "metric")


CORRUPT_MANIFEST = """
[datasets.tones]
path = "{root}"

[experiments.smoke]
model = "efficientat"
variant = "tiny"
strategy = "from_scratch"
data = "tones"
train = {{ max_epochs = 2, early_stop_patience = 0, log_every_steps = 1 }}
loader = {{ batch_size = 4, num_workers = 0, clip_seconds = 1.0, eval_hop_seconds = 1.0 }}
"""


def test_corrupt_clips_met_in_training_are_skipped_and_counted(
    tmp_path: Path, env: dict[str, str]
) -> None:
    root = write_tone_set(tmp_path / "tones", ["flam", "drag", "lesson_25"], per_split=3)
    train = sorted((root / "audio").rglob("train_*.flac"))
    broken = damage_audio(train)
    manifest = tmp_path / "experiments.toml"
    manifest.write_text(CORRUPT_MANIFEST.format(root=root))
    runs = tmp_path / "runs"
    result = sousa_train(
        *("run", "smoke", "--manifest", str(manifest), "--runs-dir", str(runs)),
        env=env,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    run = only_run(runs)
    events = assert_events_whole(run)
    skipped = [p for e in events if e["kind"] == "skip" for p in e["paths"]]
    # Each of the four broken training clips is met once per epoch, and nothing else is.
    assert Counter(Path(p).name for p in skipped) == {p.name: 2 for p in broken.values()}
    assert events[-1]["kind"] == "end" and json.loads(run.status.read_text())["state"] == "finished"
    log_text = run.log.read_text()
    assert all(f"skipping clip {p}" in log_text for p in broken.values())
    evals = {e["split"]: e for e in events if e["kind"] == "eval"}
    assert evals["test"]["num_clips"] == 9  # the intact splits are scored whole
