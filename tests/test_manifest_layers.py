"""Settings tables per model, strategy, data set and platform; default weights; the paper matrix."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from sousa_train.config.manifest import ManifestError, load_manifest
from sousa_train.finetune.strategies import STRATEGIES
from sousa_train.models.pretrained import default_pretrained
from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs
from tests.cli import sousa_train
from tests.manifests import assert_refused, write

REPO = Path(__file__).resolve().parents[1]
SHIPPED = REPO / "experiments.toml"
# to_dict() of every experiment of the shipped manifest, written by the code before settings
# tables existed (commit bdc1314): moving settings into tables must not change any of them.
# Deliberate changes: beats-adalora and efficientat-finetune name no file and start from
# their variant's official one, looked up in the weights folder (`sousa-train weights`);
# demo-quick's windows are 4.5 s every 2 s (renderer v3's cycles, README "The demo").
BEFORE = Path(__file__).parent / "fixtures" / "manifest-resolved-bdc1314.json"
PAPER_MODELS = ("ast", "htsat", "beats", "efficientat")
PAPER_STRATEGIES = ("lora", "adalora", "ia3", "full_finetune", "from_scratch")


def test_paper_matrix_is_20_experiments_on_official_weights() -> None:
    manifest = load_manifest(SHIPPED)
    paper = {n: c for n, c in manifest.experiments.items() if n.startswith("paper-")}
    assert sorted(paper) == sorted(f"paper-{m}-{s}" for m in PAPER_MODELS for s in PAPER_STRATEGIES)
    for name, cfg in paper.items():
        assert cfg.data.name == "sousa" and cfg.data.hub == "zkeown/sousa", name
        if STRATEGIES[cfg.strategy].needs_pretrained:
            official = default_pretrained(cfg.model, cfg.variant or "")
            assert official is not None and cfg.pretrained == official, name
        else:
            assert cfg.pretrained is None, name
    for model in PAPER_MODELS:
        runs = [paper[f"paper-{model}-{s}"] for s in PAPER_STRATEGIES]
        # the model's batch is written once and reaches all five strategies
        assert len({c.loader.batch_size for c in runs}) == 1, model
        by = {c.strategy: c for c in runs}
        # adapters train few parameters from identity: a larger step than moving every weight
        for adapter in ("lora", "adalora", "ia3"):
            assert by[adapter].optim.lr > by["full_finetune"].optim.lr, (model, adapter)
    # the transformers' batch comes from [models.*], not from [defaults]
    assert (
        paper["paper-ast-lora"].loader.batch_size != manifest.experiments["smoke"].loader.batch_size
    )


# Settings added since, with the value that leaves an experiment as it was (off).
ADDED_OFF = {
    ".augment.speed": 0.0,
    ".augment.slip_ms": 0.0,
    ".loader.eval_speeds": [1.0],
    ".train.ema_decay": 0.0,
}


def _same_where_known(before: Any, after: Any, at: str = "") -> list[str]:
    """Keys of ``before`` whose value differs in ``after``; keys new in ``after`` must be None
    or, for those in :data:`ADDED_OFF`, off."""
    if not isinstance(before, dict):
        return [] if before == after else [f"{at}: {before!r} -> {after!r}"]
    diffs = [
        f"{at}.{k}: new, {v!r}"
        for k, v in after.items()
        if k not in before and v is not None and ADDED_OFF.get(f"{at}.{k}") != v
    ]
    for key, value in before.items():
        diffs += _same_where_known(value, after.get(key), f"{at}.{key}")
    return diffs


# Experiments changed on purpose since, and why; the rest must resolve as they did.
RECIPE_CHANGED = {"demo-quick": "StrokeCNN on whole clips since 2026-12-03 (README, The demo)"}


def test_existing_experiments_resolve_exactly_as_before() -> None:
    before = json.loads(BEFORE.read_text())
    manifest = load_manifest(SHIPPED)
    assert set(RECIPE_CHANGED) <= set(before)
    for name, old in before.items():
        if name in RECIPE_CHANGED:
            continue
        after = json.loads(json.dumps(manifest.experiments[name].to_dict()))
        assert _same_where_known(old, after) == [], name


LEVELS = ("defaults", "model", "strategy", "data", "experiment", "platform", "command line")


def _levels_manifest(upto: int) -> str:
    """optim.lr set at LEVELS[0..upto], each to its level's number; loader keys spread out."""

    def lr(level: str) -> str:
        i = LEVELS.index(level)
        return f"optim = {{ lr = {float(i + 1)} }}\n" if i <= upto else ""

    return f"""
[datasets.d]
demo = {{ clips_per_rudiment = 3 }}
{lr("data")}
[defaults]
strategy = "lora"
data = "d"
loader = {{ batch_size = 5 }}
{lr("defaults")}
[models.efficientat]
variant = "mn10"
pretrained = "model.pt"
loader = {{ num_workers = 3 }}
{lr("model")}
[strategies.lora]
train = {{ max_epochs = 4 }}
{lr("strategy")}
[platforms.p]
loader = {{ cache = "memory" }}
{lr("platform")}
[experiments.e]
model = "efficientat"
loader = {{ clip_seconds = 2.0 }}
{lr("experiment")}
"""


@pytest.mark.parametrize("upto", range(len(LEVELS)))
def test_each_level_wins_over_every_level_below(tmp_path: Path, upto: int) -> None:
    manifest = load_manifest(write(tmp_path, _levels_manifest(upto)))
    overrides = [f"optim.lr={float(upto + 1)}"] if LEVELS[upto] == "command line" else []
    cfg = manifest.get("e", overrides, platform="p")
    assert cfg.optim.lr == float(upto + 1), LEVELS[upto]
    # tables merge key by key: what each level sets alone survives the levels above it
    assert (cfg.loader.batch_size, cfg.loader.num_workers) == (5, 3)
    assert (cfg.loader.clip_seconds, cfg.loader.cache) == (2.0, "memory")
    assert cfg.train.max_epochs == 4
    assert (cfg.variant, cfg.pretrained, cfg.platform) == ("mn10", "model.pt", "p")


def test_experiment_beats_model_scalars_and_from_scratch_ignores_weights(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        _levels_manifest(0)
        + """
[experiments.mine]
model = "efficientat"
variant = "mn20"
pretrained = "mine.pt"
[experiments.scratch]
model = "efficientat"
strategy = "from_scratch"
""",
    )
    manifest = load_manifest(path)
    mine = manifest.experiments["mine"]
    assert (mine.variant, mine.pretrained) == ("mn20", "mine.pt")
    # [models.efficientat] names weights, but from_scratch starts from random ones
    assert manifest.experiments["scratch"].pretrained is None


def test_unset_pretrained_is_the_variants_official_weights(tmp_path: Path) -> None:
    text = _levels_manifest(0).replace('pretrained = "model.pt"\n', "")
    text += '[experiments.mn40]\nmodel = "efficientat"\nvariant = "mn40"\n'
    manifest = load_manifest(write(tmp_path, text))
    assert manifest.experiments["e"].pretrained == "mn10_as_mAP_471.pt"  # [models] variant
    assert manifest.experiments["mn40"].pretrained == default_pretrained("efficientat", "mn40")
    assert manifest.experiments["mn40"].pretrained != manifest.experiments["e"].pretrained


def test_overrides_do_not_leak_into_the_settings_tables(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, _levels_manifest(1)))
    changed = manifest.get("e", ["loader.num_workers=7", "train.max_epochs=9"], platform="p")
    assert (changed.loader.num_workers, changed.train.max_epochs) == (7, 9)
    again = manifest.get("e", ["optim.lr=0.5"], platform="p")
    assert (again.loader.num_workers, again.train.max_epochs) == (3, 4)
    assert manifest.experiments["e"].platform is None
    assert manifest.experiments["e"].loader.cache == "disk"  # the platform only when asked


RUNS_BASE = """
[datasets.d]
demo = { clips_per_rudiment = 3 }
[experiments.first]
model = "rhythmcnn"
strategy = "from_scratch"
data = "d"
"""


@pytest.mark.parametrize("strategy", ["full_finetune", "lora", "adalora", "ia3"])
def test_a_run_supplies_weights_even_for_rhythmcnn(tmp_path: Path, strategy: str) -> None:
    run_dir = tmp_path / "runs" / "first" / "20260101-000000-abcd"
    run_dir.mkdir(parents=True)
    (run_dir / "config.json").write_text("{}")
    # A run has a status too; a saved transformers folder (config.json alone) is not a run.
    (run_dir / "status.json").write_text('{"state": "finished"}')
    path = write(
        tmp_path,
        RUNS_BASE
        + f"""
[experiments.by-name]
model = "rhythmcnn"
strategy = "{strategy}"
pretrained = "run:first"
data = "d"
[experiments.by-dir]
model = "rhythmcnn"
strategy = "{strategy}"
pretrained = "{run_dir}"
data = "d"
""",
    )
    manifest = load_manifest(path)
    assert manifest.experiments["by-name"].pretrained == "run:first"
    assert manifest.experiments["by-dir"].pretrained == str(run_dir)


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        (
            "[models.ast]\nloader = { batch_sise = 8 }\n",
            ["models.ast.loader.batch_sise", "batch_size"],
        ),
        ("[models.ast]\nstrategy = 'lora'\n", ["unknown key 'models.ast.strategy'", "variant"]),
        ("[models.ast]\nn_mels = 64\n", ["models.ast.n_mels", "fixed mel filterbank"]),
        ("[models.ast]\nvariant = 'huge'\n", ["models.ast.variant", "tiny, base"]),
        (
            "[models.ast.loader]\nbatch_size = 'big'\n",
            ["models.ast.loader.batch_size", "integer"],
        ),
        ("[models.nope]\nvariant = 'x'\n", ["[models.nope]", "model", "efficientat, ast"]),
        (
            "[strategies.nope]\noptim = { lr = 1.0 }\n",
            ["[strategies.nope]", "strategy", "from_scratch, full_finetune, lora"],
        ),
        ("[strategies.lora]\npretrained = 'x'\n", ["unknown key 'strategies.lora.pretrained'"]),
        ("[platforms.big]\nvariant = 'mn10'\n", ["unknown key 'platforms.big.variant'"]),
        (
            "[platforms.big.train]\nprecision = 'half'\n",
            ["platforms.big.train.precision", "bf16-mixed"],
        ),
        ("[datasets.x]\nhub = 'a/b'\nloader = { cahce = 'disk' }\n", ["datasets.x.loader.cahce"]),
        ("[datasets.x]\npath = 'a'\nrevision = 'v1'\n", ["datasets.x.revision", "needs 'hub'"]),
        ("[datasets.x]\nhub = 'a/b'\npath = 'a'\n", ["datasets.x", "exactly one", "'hub'"]),
        (
            "[experiments.y]\nmodel = 'efficientat'\nstrategy = 'lora'\n"
            "pretrained = 'run:nobody'\ndata = 'd'\n",
            ["experiments.y.pretrained", "'run:nobody'", "no experiment 'nobody'", "first"],
        ),
        (
            "[experiments.y]\nmodel = 'rhythmcnn'\nstrategy = 'lora'\ndata = 'd'\n",
            ["experiments.y", "'rhythmcnn' has no pretrained weights", "run:NAME"],
        ),
    ],
)
def test_settings_table_errors_name_the_table(
    tmp_path: Path, extra: str, needles: list[str]
) -> None:
    path = write(tmp_path, RUNS_BASE + extra)
    assert_refused(path, needles)


def test_hub_data_set_with_revision(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        RUNS_BASE + "[datasets.h]\nhub = 'zkeown/sousa'\nrevision = 'v1.0'\nselect = "
        "{ max_clips_per_split = 7 }\n[experiments.on-hub]\nmodel = 'rhythmcnn'\n"
        "strategy = 'from_scratch'\ndata = 'h'\n",
    )
    manifest = load_manifest(path)
    cfg = manifest.experiments["on-hub"]
    assert (cfg.data.hub, cfg.data.revision, cfg.data.path) == ("zkeown/sousa", "v1.0", None)
    assert cfg.select.max_clips_per_split == 7  # the data set's own settings
    assert manifest.experiments["first"].select.max_clips_per_split is None


def test_unknown_platform_is_refused(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, _levels_manifest(0)))
    with pytest.raises(
        ManifestError, match=r"no platform named 'gpu'.*Platforms in this manifest: p"
    ):
        manifest.get("e", platform="gpu")
    result = sousa_train(
        "run", "smoke", "--platform", "gpu", "--manifest", str(SHIPPED), cwd=tmp_path
    )
    assert result.returncode == 2
    assert "no platform named 'gpu'" in result.stderr and "gpu24" in result.stderr
    assert result.stderr.count("\n") == 1 and "Traceback" not in result.stderr


def test_sbatch_script_passes_the_platform_on(tmp_path: Path) -> None:
    result = sousa_train(
        "sbatch", "smoke", "--platform", "cpu", "--manifest", str(SHIPPED), cwd=tmp_path
    )
    assert result.returncode == 0, result.stderr
    srun = result.stdout[result.stdout.index("srun ") :]
    assert "--platform cpu" in srun


def test_run_with_platform_records_it_in_config_json(tmp_path: Path) -> None:
    """A real one-epoch smoke run on the shipped `cpu` platform: its settings reach the run's
    config.json."""
    runs = tmp_path / "runs"
    done = sousa_train(
        *("run", "smoke", "--platform", "cpu", "--manifest", str(SHIPPED)),
        *("--runs-dir", str(runs), "train.max_epochs=1"),
        env={"SOUSA_CACHE_DIR": str(tmp_path / "cache")},
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    (found,) = find_runs(runs, "smoke")
    saved = read_json(found.config)["experiment"]
    assert saved["platform"] == "cpu"
    assert (saved["train"]["accelerator"], saved["train"]["precision"]) == ("cpu", "32")
    assert saved["train"]["max_epochs"] == 1  # the command line still above the platform
