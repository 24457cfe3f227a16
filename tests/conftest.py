"""Shared fixtures: the real SOUSA sample, and small real-FLAC data sets the tests write.

Every process of the suite (this one, and the commands it starts, which inherit the
variable) runs torch on one thread unless told otherwise: the tests train tiny models that
gain little from a second thread, and on a 2-core machine kept busy by other processes,
OpenMP threads waiting on each other made a smoke run 1.8x slower (43 s against 24 s).
"""

from __future__ import annotations

import json
import os

os.environ.setdefault("OMP_NUM_THREADS", "1")  # before anything imports torch
import shutil
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf

REPO = Path(__file__).resolve().parents[1]
FIXTURES = Path(__file__).resolve().parent / "fixtures"
FIXTURE = FIXTURES / "sousa-real-mini"


@pytest.fixture(scope="session")
def fixture_root() -> Path:
    """The real generator output (12 clips, 4 rudiments, 3 splits); read-only."""
    if not (FIXTURE / "labels" / "samples.parquet").is_file():
        pytest.fail(f"missing fixture {FIXTURE}: the repository checkout is incomplete")
    return FIXTURE


@pytest.fixture
def fixture_copy(tmp_path: Path, fixture_root: Path) -> Path:
    """A writable copy of the real fixture, for tests that damage it."""
    copy = Path(shutil.copytree(fixture_root, tmp_path / "sousa"))
    for path in (copy, *copy.rglob("*")):  # a checkout may be read-only
        path.chmod(path.stat().st_mode | 0o200)
    return copy


@pytest.fixture(scope="session")
def smoke_env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    """The environment of the shared smoke run: its own demo-data and waveform cache."""
    cache = tmp_path_factory.mktemp("smoke-cache")
    return {**os.environ, "SOUSA_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="session")
def finished_smoke(tmp_path_factory: pytest.TempPathFactory, smoke_env: dict[str, str]) -> Path:
    """One real finished `sousa-train run smoke`, trained once for every test that starts from
    a finished run; tests take a private copy (``copy_run``), never change this one."""
    from sousa_train.rundir.scan import find_runs
    from tests.cli import sousa_train_process

    runs = tmp_path_factory.mktemp("smoke-runs")
    manifest = str(REPO / "experiments.toml")
    done = sousa_train_process(
        *("run", "smoke", "--runs-dir", str(runs), "--manifest", manifest), env=smoke_env
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (runs / "terminal.txt").write_text(done.stdout + done.stderr)
    (run,) = find_runs(runs, "smoke")
    return run.root


GRID_MANIFEST = """
[datasets.demo-tiny]
demo = { clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }

[defaults]
data = "demo-tiny"
train = { max_epochs = 2, early_stop_patience = 0, log_every_steps = 2 }
loader = { batch_size = 16, num_workers = 0, clip_seconds = 2.0, eval_hop_seconds = 1.0 }

[models.efficientat]
pretrained = "run:grid-efficientat-from_scratch"
[models.rhythmcnn]
pretrained = "run:grid-rhythmcnn-from_scratch"

[matrix.grid]
model = ["efficientat", "rhythmcnn"]
variant = "tiny"
strategy = ["from_scratch", "full_finetune"]

[matrix.empty]
model = ["efficientat"]
variant = "tiny"
strategy = ["from_scratch"]
data = "demo-tiny"
"""
GRID_TRAINED = (
    "grid-efficientat-from_scratch",
    "grid-rhythmcnn-from_scratch",
    "grid-efficientat-full_finetune",
)


@pytest.fixture(scope="session")
def grid_runs(tmp_path_factory: pytest.TempPathFactory, smoke_env: dict[str, str]) -> Path:
    """A 2 x 2 matrix of tiny models (``[matrix.grid]`` in ``experiments.toml`` beside the
    runs), three cells trained for real (two epochs each) and the fourth,
    rhythmcnn/full_finetune, left missing; tests copy it before changing anything."""
    from tests.cli import sousa_train

    root = tmp_path_factory.mktemp("grid")
    (root / "experiments.toml").write_text(GRID_MANIFEST)
    for name in GRID_TRAINED:
        args = (
            "run",
            name,
            "--runs-dir",
            str(root / "runs"),
            "--manifest",
            str(root / "experiments.toml"),
        )
        done = sousa_train(*args, env=smoke_env)
        assert done.returncode == 0, done.stderr[-3000:]
    return root


@pytest.fixture(scope="session")
def smoke_terminal(finished_smoke: Path) -> str:
    """What the shared smoke run printed to its terminal (stdout, then stderr)."""
    return (finished_smoke.parents[1] / "terminal.txt").read_text()


def copy_run(run: Path, runs_dir: Path) -> Path:
    """A private copy of a run directory, as ``runs_dir/<experiment>/<run_id>``."""
    return Path(shutil.copytree(run, runs_dir / run.parent.name / run.name))


def mirrored_metric(target: Path) -> bool:
    """Whether a run mirrored under ``target`` (--sync-to) holds a training metric yet."""
    from sousa_train.rundir.tail import iter_events

    return any(
        e.get("kind") == "metric"
        for events in target.rglob("events.jsonl")
        for e in iter_events(events)
    )


def write_tone_set(
    root: Path, slugs: list[str], per_split: int = 2, rate: int = 22050, seconds: float = 1.0
) -> Path:
    """A small SOUSA-layout data set of real FLAC tones, one profile per split."""
    rows = []
    splits = {
        "train_profile_ids": ["p-train"],
        "val_profile_ids": ["p-val"],
        "test_profile_ids": ["p-test"],
    }
    t = np.arange(int(rate * seconds)) / rate
    for s_i, split in enumerate(("train", "val", "test")):
        for slug_i, slug in enumerate(slugs):
            for k in range(per_split):
                sid = f"{split}_{slug}_{k}"
                rel = f"audio/{slug}/{sid}.flac"
                (root / rel).parent.mkdir(parents=True, exist_ok=True)
                tone = 0.3 * np.sin(2 * np.pi * (220 + 40 * slug_i + 5 * k + s_i) * t)
                sf.write(root / rel, tone.astype(np.float32), rate, subtype="PCM_16")
                rows.append(
                    {
                        "sample_id": sid,
                        "profile_id": f"p-{split}",
                        "rudiment_slug": slug,
                        "tempo_bpm": 100 + 10 * k,
                        "skill_tier": "beginner",
                        "augmentation_preset": "clean_studio",
                        "soundfont": "synth",
                        "audio_path": rel,
                        "duration_sec": seconds,
                    }
                )
    (root / "labels").mkdir(parents=True, exist_ok=True)
    pq.write_table(pa.Table.from_pylist(rows), root / "labels" / "samples.parquet")
    (root / "splits.json").write_text(json.dumps(splits))
    return root


def damage_audio(paths: list[Path]) -> dict[str, Path]:
    """Break the first four files in the four ways real copies break; returns them by kind.

    ``garbage``: a FLAC magic number then random bytes; ``empty``: zero bytes; ``missing``:
    deleted; ``truncated``: the first third of a valid FLAC (header intact, body cut).
    """
    garbage, empty, missing, truncated = paths[:4]
    rng = np.random.default_rng(0)
    garbage.write_bytes(b"fLaC" + rng.bytes(2048))
    empty.write_bytes(b"")
    missing.unlink()
    whole = truncated.read_bytes()
    truncated.write_bytes(whole[: len(whole) // 3])
    return {"garbage": garbage, "empty": empty, "missing": missing, "truncated": truncated}
