"""Trackers beside the run directory: manifest validation, and one real smoke run that logs
to TensorBoard, MLflow (SQLite) and W&B (offline, since its service is unreachable)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from mlflow.tracking import MlflowClient
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from sousa_train.config.manifest import ManifestError, load_manifest
from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.tail import iter_events
from sousa_train.training import trackers

REPO = Path(__file__).resolve().parents[1]
BACKENDS = 'trackers.backends=["tensorboard","mlflow","wandb"]'


@pytest.fixture(scope="module")
def tracked(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[RunDir, str]]:
    tmp = tmp_path_factory.mktemp("trackers")
    env = {
        **os.environ,
        "SOUSA_CACHE_DIR": str(tmp / "cache"),
        # A port nothing listens on: W&B must notice and fall back to offline by itself.
        "WANDB_BASE_URL": "http://127.0.0.1:9",
        "WANDB_CONFIG_DIR": str(tmp / "wandb-config"),
        "WANDB_CACHE_DIR": str(tmp / "wandb-cache"),
    }
    env.pop("WANDB_MODE", None)
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "sousa_train.cli",
            "run",
            "smoke",
            "--manifest",
            str(REPO / "experiments.toml"),
            BACKENDS,
            "train.max_epochs=1",
        ],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp,
    )
    assert result.returncode == 0, result.stdout[-2000:] + result.stderr[-3000:]
    (run,) = find_runs(tmp / "runs", "smoke")
    yield run, result.stderr


def _epoch_and_test(run: RunDir) -> tuple[dict, dict]:
    events = list(iter_events(run.events))
    epoch = next(e for e in events if e["kind"] == "epoch")
    test = next(e for e in events if e["kind"] == "eval" and e["split"] == "test")
    return epoch, test


def test_tensorboard_gets_the_validation_metrics(tracked: tuple[RunDir, str]) -> None:
    run, _ = tracked
    epoch, _ = _epoch_and_test(run)
    board = EventAccumulator(str(run.root / "tensorboard")).Reload()
    scalars = board.Tags()["scalars"]
    assert "train/loss_step" in scalars and any(t.startswith("lr-") for t in scalars)
    (value,) = board.Scalars("val/balanced_accuracy")
    assert value.value == pytest.approx(epoch["val/balanced_accuracy"], abs=1e-6)


def test_mlflow_sqlite_store_holds_the_run(tracked: tuple[RunDir, str]) -> None:
    run, _ = tracked
    _, test = _epoch_and_test(run)
    client = MlflowClient(f"sqlite:///{run.root.parents[1] / 'mlflow.db'}")
    experiment = client.get_experiment_by_name("smoke")
    (found,) = client.search_runs([experiment.experiment_id])
    assert found.info.run_name == run.run_id
    assert found.data.params["model"] == "efficientat"
    assert found.data.params["trackers.backends"] == "tensorboard,mlflow,wandb"
    best = found.data.metrics["test/best_balanced_accuracy"]
    assert best == pytest.approx(test["balanced_accuracy"], abs=1e-6)
    assert "val/balanced_accuracy" in found.data.metrics


def test_wandb_falls_back_to_offline_with_a_notice(tracked: tuple[RunDir, str]) -> None:
    run, stderr = tracked
    assert "W&B: cannot reach http://127.0.0.1:9" in run.log.read_text()
    assert "wandb sync" in stderr
    (offline,) = (run.root / "wandb").glob("offline-run-*")
    assert any(offline.glob("*.wandb")), "no offline run data"
    assert read_json(run.config)["experiment"]["trackers"]["backends"] == [
        "tensorboard",
        "mlflow",
        "wandb",
    ]


def test_wandb_mode_set_by_the_user_wins(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("WANDB_MODE", "disabled")
    monkeypatch.setenv("WANDB_BASE_URL", "http://127.0.0.1:9")
    assert trackers.wandb_mode() == "disabled"


def _manifest(tmp_path: Path, trackers_table: str) -> Path:
    path = tmp_path / "experiments.toml"
    path.write_text(
        "[datasets.d]\ndemo = { clips_per_rudiment = 1 }\n"
        '[experiments.e]\nmodel = "efficientat"\nstrategy = "from_scratch"\ndata = "d"\n'
        f"[experiments.e.trackers]\n{trackers_table}\n"
    )
    return path


def test_manifest_rejects_unknown_backends_and_keys(tmp_path: Path) -> None:
    with pytest.raises(ManifestError, match=r"trackers\.backends is 'neptune'.*tensorboard"):
        load_manifest(_manifest(tmp_path, 'backends = ["mlflow", "neptune"]'))
    with pytest.raises(ManifestError, match=r"unknown key 'experiments\.e\.trackers\.project'"):
        load_manifest(_manifest(tmp_path, 'project = "x"'))
    with pytest.raises(ManifestError, match=r"trackers\.backends must be a list of strings"):
        load_manifest(_manifest(tmp_path, 'backends = "mlflow"'))
    cfg = load_manifest(_manifest(tmp_path, 'backends = ["mlflow"]')).get("e")
    assert cfg.trackers.backends == ("mlflow",) and cfg.trackers.mlflow_uri is None


def test_missing_tracker_package_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = load_manifest(_manifest(tmp_path, 'backends = ["wandb"]')).get("e")
    monkeypatch.setitem(trackers.PACKAGES, "wandb", "wandb_is_not_installed_here")
    with pytest.raises(trackers.TrackerError, match=r"sousaphone\[trackers\]"):
        trackers.make_loggers(cfg, RunDir(tmp_path / "runs" / "e" / "r"), is_zero=True)


def test_hyperparameters_are_flat(tmp_path: Path) -> None:
    cfg = load_manifest(_manifest(tmp_path, "backends = []")).get("e")
    flat = trackers.hyperparameters(cfg)
    assert flat["optim.lr"] == cfg.optim.lr and flat["data.demo.clips_per_rudiment"] == 1
    assert all(not isinstance(v, (dict, list, tuple)) for v in flat.values())
    json.dumps(flat)
