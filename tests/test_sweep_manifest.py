"""``[sweeps.NAME]`` is validated like every table: a wrong key, range or type exits 2 with one
paragraph naming the sweep's key."""

from __future__ import annotations

from pathlib import Path

import pytest

from sousa_train.config.manifest import load_manifest
from tests.cli import sousa_train
from tests.conftest import REPO

GOOD = """
[sweeps.lr]
experiment = "smoke"
trials = 6
pruner = "median"
warmup_epochs = 1
space.optim.lr = { log_uniform = [1e-4, 1e-2] }
space."loader.batch_size" = { choice = [8, 16] }
space.augment.speed = { uniform = [0.0, 0.3] }
space.augment.freq_masks = { int = [0, 2] }
"""


def _manifest(tmp_path: Path, sweep: str) -> Path:
    path = tmp_path / "experiments.toml"
    path.write_text((REPO / "experiments.toml").read_text() + sweep)
    return path


def test_a_sweep_reads_its_space_in_the_manifests_dotted_keys(tmp_path: Path) -> None:
    path = _manifest(tmp_path, GOOD)
    spec = load_manifest(path).sweep("lr")
    listed = sousa_train("list", "--manifest", str(path)).stdout.splitlines()
    (row,) = [line for line in listed if line.startswith("lr ")]
    assert "sweep of smoke: 6 trials over optim.lr, loader.batch_size" in row
    assert (spec.experiment, spec.trials, spec.pruner, spec.metric) == (
        "smoke",
        6,
        "median",
        "val/balanced_accuracy",
    )
    assert spec.maximize
    assert {d.key: (d.kind, d.values) for d in spec.space} == {
        "optim.lr": ("log_uniform", (1e-4, 1e-2)),
        "loader.batch_size": ("choice", (8, 16)),
        "augment.speed": ("uniform", (0.0, 0.3)),
        "augment.freq_masks": ("int", (0, 2)),
    }


SPACE = "space.optim.lr = { log_uniform = [1e-4, 1e-2] }"


@pytest.mark.parametrize(
    ("old", "new", "named"),
    [
        ("trials = 6", "trials = 0", "sweeps.lr.trials"),
        ("trials = 6", 'trials = "six"', "sweeps.lr.trials"),
        (SPACE, "space.optim.lrr = { uniform = [0.1, 0.2] }", "optim.lrr"),
        (SPACE, "space.optim.lr = { uniform = [0.2, 0.1] }", "sweeps.lr.space.optim.lr"),
        (SPACE, "space.optim.lr = { log_uniform = [0.0, 0.1] }", "optim.lr.log_uniform"),
        (SPACE, "space.loader.num_workers = { int = [0.5, 2] }", "num_workers.int[0]"),
        (SPACE, 'space.loader.clip_seconds = { choice = ["long"] }', "loader.clip_seconds"),
        (SPACE, "space.optim.lr = { normal = [0, 1] }", "sweeps.lr.space.optim.lr"),
        (SPACE, "space.optim.lr = { uniform = [-1.0, 0.1] }", "sweeps.lr.space.optim.lr"),
        ('pruner = "median"', 'pruner = "hyperband"', "sweeps.lr.pruner"),
        ('pruner = "median"', 'sampler = "grid"', "sweeps.lr.sampler"),
        ('pruner = "median"', 'metric = "test/balanced_accuracy"', "sweeps.lr.metric"),
        ('pruner = "median"', "threshold = 0.5", "sweeps.lr.threshold"),
        ('pruner = "median"', "budget = 3", "sweeps.lr.budget"),
        ('experiment = "smoke"', 'experiment = "nope"', "sweeps.lr.experiment"),
    ],
)
def test_a_bad_sweep_entry_exits_2_naming_the_key(
    tmp_path: Path, old: str, new: str, named: str
) -> None:
    assert old in GOOD
    result = sousa_train("list", "--manifest", str(_manifest(tmp_path, GOOD.replace(old, new))))
    assert result.returncode == 2, result.stdout
    assert named in result.stderr
    assert result.stderr.count("\n") == 1  # one paragraph
