"""`sousa-train predict` on files the test writes, and checkpoints loaded as data only.

One real demo-trained `smoke` run is shared by the module; the commands run in this process
through the `sousa-train` entry point (tests/cli.py).
"""

from __future__ import annotations

import json
import pathlib
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

from sousa_train.data.audio import window_starts
from sousa_train.rudiments import SLUGS
from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.tail import iter_events
from tests.agreement import assert_predict_agrees_with_eval
from tests.cli import sousa_train
from tests.conftest import copy_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, finished_smoke: Path) -> RunDir:
    """The module's own copy of the shared real finished smoke run."""
    return RunDir(copy_run(finished_smoke, tmp_path_factory.mktemp("runs")))


def tone(seconds: float, rate: int, hz: float = 220.0) -> np.ndarray:
    t = np.arange(round(seconds * rate)) / rate
    return (0.3 * np.sin(2 * np.pi * hz * t) * (np.sin(2 * np.pi * 3 * t) > 0)).astype("float32")


def test_predict_scores_any_file_and_names_each_bad_one(
    smoke_run: RunDir, smoke_env: dict[str, str], tmp_path: Path
) -> None:
    cfg = json.loads(smoke_run.config.read_text())["experiment"]
    clip_s, hop_s = cfg["loader"]["clip_seconds"], cfg["loader"]["eval_hop_seconds"]
    stereo, mono, long, broken, empty = (
        tmp_path / name
        for name in ("stereo.wav", "mono.flac", "long.flac", "broken.wav", "empty.flac")
    )
    left = tone(1.5, 44100)
    sf.write(stereo, np.stack([left, tone(1.5, 44100, 330.0)], axis=1), 44100)
    sf.write(mono, tone(0.8, 16000), 16000, format="FLAC")
    sf.write(long, tone(4 * clip_s + 0.3, 22050), 22050, format="FLAC")
    broken.write_bytes(b"RIFF\x24\x00\x00\x00WAVEnot really audio")
    empty.write_bytes(b"")
    files = [stereo, broken, mono, empty, long]
    done = sousa_train("predict", str(smoke_run.root), *map(str, files), "--json", env=smoke_env)
    assert done.returncode == 1  # some files failed; the others were still scored
    errors = done.stderr.strip().splitlines()
    assert len(errors) == 2
    assert str(broken) in errors[0] and "cannot decode" in errors[0]
    assert str(empty) in errors[1] and "empty" in errors[1]
    doc = json.loads(done.stdout)
    assert [e["path"] for e in doc["errors"]] == [str(broken), str(empty)]
    by_path = {f["path"]: f for f in doc["files"]}
    assert list(by_path) == [str(stereo), str(mono), str(long)]
    for f in doc["files"]:
        probs = [g["probability"] for g in f["top"]]
        assert len(probs) == 5 and probs == sorted(probs, reverse=True)
        assert 0 < sum(probs) <= 1 + 1e-5 and {g["slug"] for g in f["top"]} <= set(SLUGS)
    assert by_path[str(stereo)]["seconds"] == pytest.approx(1.5, abs=0.01)
    assert by_path[str(stereo)]["windows"] == by_path[str(mono)]["windows"] == []
    # A long file: one row per evaluation window, covering it to its end.
    windows = by_path[str(long)]["windows"]
    rate = doc["sample_rate"]
    n = round(by_path[str(long)]["seconds"] * rate)
    expected = window_starts(n, round(clip_s * rate), round(hop_s * rate))
    assert [round(w["start"] * rate) for w in windows] == expected and len(expected) > 4
    assert windows[-1]["end"] == pytest.approx(by_path[str(long)]["seconds"], abs=1e-3)
    assert all(len(w["top"]) == 3 for w in windows)

    # The same long file for people, with a wider timeline window.
    wider = ("--window-seconds", str(2 * clip_s))
    done = sousa_train("predict", str(smoke_run.root), str(long), *wider, env=smoke_env)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[0].startswith(str(long)) and len([x for x in lines if x[:5] == "  1. "]) == 1
    assert f"over time ({2 * clip_s:g} s windows):" in done.stdout
    rows = lines[lines.index(f"  over time ({2 * clip_s:g} s windows):") + 1 :]
    assert len(rows) == len(window_starts(n, round(2 * clip_s * rate), round(2 * hop_s * rate)))


def test_predict_on_a_clip_agrees_with_its_evaluation(
    smoke_run: RunDir, smoke_env: dict[str, str]
) -> None:
    """A recording is judged exactly as evaluation judges a test clip (same windows, same
    pooling, same audio path), only without its label."""
    assert_predict_agrees_with_eval(smoke_run, smoke_env, clips=3)


class WritesAFile:
    """Unpickling this calls Path.write_text: what a hostile checkpoint would do."""

    def __init__(self, target: Path) -> None:
        self.target = target

    def __reduce__(self) -> tuple:
        return (pathlib.Path.write_text, (self.target, "code ran"))


def test_a_checkpoint_carrying_a_pickled_object_is_refused(
    smoke_run: RunDir, smoke_env: dict[str, str], tmp_path: Path
) -> None:
    run = RunDir(shutil.copytree(smoke_run.root, tmp_path / "smoke" / smoke_run.run_id))
    marker = tmp_path / "pwned.txt"
    state = torch.load(run.best_ckpt, map_location="cpu", weights_only=True)
    state["hyper_parameters"] = WritesAFile(marker)
    torch.save(state, run.best_ckpt)
    # The file really is hostile: an unsafe load runs its code.
    torch.load(run.best_ckpt, map_location="cpu", weights_only=False)
    assert marker.read_text() == "code ran"
    marker.unlink()

    wav = tmp_path / "x.wav"
    sf.write(wav, tone(1.0, 16000), 16000)
    for args in (
        ("eval", str(run.root)),
        ("predict", str(run.root), str(wav)),
        ("export", str(run.root), "--onnx", str(tmp_path / "m.onnx")),
    ):
        done = sousa_train(*args, env=smoke_env)
        assert done.returncode == 1, (args, done.stderr)
        message = done.stderr.strip()
        assert message.startswith(f"sousa-train: {run.best_ckpt}: refused")
        assert "pickled Python object" in message and "\n" not in message
        assert not marker.exists(), args
    assert not (tmp_path / "m.onnx").exists()

    # Resuming loads last.ckpt through Lightning: as data only, refused the same way.
    shutil.copy(run.best_ckpt, run.last_ckpt)
    status = json.loads(run.status.read_text())
    run.status.write_text(json.dumps({**status, "state": "stopped"}))
    manifest = str(REPO / "experiments.toml")
    resume = ("run", "smoke", "--runs-dir", str(tmp_path), "--manifest", manifest)
    done = sousa_train(*resume, env=smoke_env)
    assert done.returncode == 1, done.stderr[-2000:]
    errors = [e["message"] for e in iter_events(run.events) if e["kind"] == "error"]
    assert errors and errors[-1].startswith(f"EvalError: {run.last_ckpt}: refused"), errors
    assert json.loads(run.status.read_text())["state"] == "failed"
    assert not marker.exists()
