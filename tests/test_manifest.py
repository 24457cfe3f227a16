"""The manifest: the shipped file loads, every mistake is one clear paragraph and exit code 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from sousa_train.config.manifest import ManifestError, load_manifest
from sousa_train.config.settings import experiment_from_dict
from tests.cli import sousa_train
from tests.manifests import assert_refused, write

REPO = Path(__file__).resolve().parents[1]

BASE = """
[datasets.d]
demo = { clips_per_rudiment = 3 }

[experiments.e]
model = "efficientat"
strategy = "from_scratch"
data = "d"
"""


def test_shipped_manifest_has_smoke_and_demo_quick() -> None:
    manifest = load_manifest(REPO / "experiments.toml")
    assert {"smoke", "demo-quick"} <= set(manifest.names())
    smoke = manifest.experiments["smoke"]
    assert smoke.variant == "tiny"
    assert smoke.data.demo is not None and smoke.data.demo.clips_per_rudiment <= 10
    # defaults merge under the experiment's own tables
    loader = manifest.experiments["demo-quick"].loader
    assert (loader.batch_size, loader.num_workers, loader.clip_seconds) == (32, 0, 21.0)


def test_defaults_and_dataset_path_resolution(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        """
[datasets.real]
path = "data/sousa"
[defaults]
model = "efficientat"
strategy = "from_scratch"
data = "real"
[defaults.optim]
lr = 0.01
[experiments.a]
optim = { weight_decay = 0.5 }
""",
    )
    cfg = load_manifest(path).experiments["a"]
    assert cfg.data.path == str((tmp_path / "data/sousa").resolve())
    assert cfg.optim.lr == 0.01 and cfg.optim.weight_decay == 0.5
    assert cfg.variant == "mn04"  # the model's default variant


def test_matrix_expands_every_combination(tmp_path: Path) -> None:
    path = write(
        tmp_path,
        BASE
        + """
[datasets.d2]
demo = { clips_per_rudiment = 4 }
[matrix.grid]
model = ["efficientat"]
variant = ["tiny", "mn04"]
strategy = "from_scratch"
data = ["d", "d2"]
train = { max_epochs = 3 }
""",
    )
    manifest = load_manifest(path)
    grid = [n for n in manifest.names() if n.startswith("grid-")]
    assert sorted(grid) == sorted(
        f"grid-efficientat-{v}-{d}" for v in ("tiny", "mn04") for d in ("d", "d2")
    )
    cfg = manifest.experiments["grid-efficientat-tiny-d2"]
    assert cfg.variant == "tiny" and cfg.data.name == "d2" and cfg.train.max_epochs == 3


@pytest.mark.parametrize(
    ("extra", "needles"),
    [
        ("[experiments.e.train]\nmax_epoch = 3\n", ["experiments.e.train.max_epoch", "max_epochs"]),
        (
            "[experiments.e.train]\nmax_epochs = 'three'\n",
            ["experiments.e.train.max_epochs", "integer"],
        ),
        ("[experiments.e.loader]\ncache = 'ram'\n", ["loader.cache", "disk, memory, none"]),
        ("[experiments.e.train]\nprecision = 'half'\n", ["train.precision", "bf16-mixed"]),
        (
            "[experiments.x]\nmodel = 'wavlm'\nstrategy = 'from_scratch'\ndata = 'd'\n",
            ["experiments.x.model", "'wavlm'", "efficientat"],
        ),
        (
            "[experiments.x]\nmodel = 'efficientat'\nstrategy = 'lorax'\ndata = 'd'\n",
            ["experiments.x.strategy", "from_scratch", "full_finetune"],
        ),
        (
            "[experiments.x]\nmodel = 'efficientat'\nstrategy = 'from_scratch'\ndata = 'nope'\n",
            ["experiments.x.data", "'nope'", "valid choices: d"],
        ),
        (
            "[experiments.x]\nmodel = 'efficientat'\nvariant = 'mn99'\n"
            "strategy = 'from_scratch'\ndata = 'd'\n",
            ["experiments.x.variant", "mn40"],
        ),
        (
            "[experiments.x]\nmodel = 'ast'\nvariant = 'tiny'\n"
            "strategy = 'full_finetune'\ndata = 'd'\n",
            ["full_finetune", "'pretrained' is not set", "variant 'tiny'", "(base)"],
        ),
        (
            "[experiments.x]\nmodel = 'efficientat'\nstrategy = 'from_scratch'\n",
            ["experiments.x", "no 'data'"],
        ),
        (
            "[experiments.x]\nmodel = 'rhythmcnn'\nstrategy = 'full_finetune'\n"
            "pretrained = 'w.pt'\ndata = 'd'\n",
            ["experiments.x", "'rhythmcnn' has no pretrained weights", "from_scratch"],
        ),
        ("[datasets.y]\npath = 'a'\ndemo = {}\n", ["datasets.y", "exactly one"]),
        ("[bogus]\na = 1\n", ["unknown key 'bogus'", "experiments"]),
    ],
)
def test_errors_name_file_key_and_choices(tmp_path: Path, extra: str, needles: list[str]) -> None:
    path = write(tmp_path, BASE + extra)
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert str(path) in message
    for needle in needles:
        assert needle in message
    assert "\n" not in message  # one paragraph


def test_overrides_apply_and_are_validated(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, BASE))
    cfg = manifest.get(
        "e",
        ["train.max_epochs=7", "optim.lr=0.5", "variant=tiny", "select.skill_tiers=['beginner']"],
    )
    assert cfg.train.max_epochs == 7 and cfg.optim.lr == 0.5 and cfg.variant == "tiny"
    assert cfg.select.skill_tiers == ("beginner",)
    assert manifest.experiments["e"].train.max_epochs != 7  # the manifest itself is unchanged
    with pytest.raises(ManifestError, match=r"train\.max_epochs must be an integer"):
        manifest.get("e", ["train.max_epochs=soon"])
    with pytest.raises(ManifestError, match=r"key\.sub=value"):
        manifest.get("e", ["train.max_epochs"])
    with pytest.raises(ManifestError, match="no experiment named 'f'"):
        manifest.get("f")


def test_eval_speeds_are_a_list_of_positive_numbers(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, BASE))
    assert manifest.get("e").loader.eval_speeds == (1.0,)
    cfg = manifest.get("e", ["loader.eval_speeds=[0.8, 1, 1.25]"])
    assert cfg.loader.eval_speeds == (0.8, 1.0, 1.25)
    assert experiment_from_dict(json.loads(json.dumps(cfg.to_dict()))).loader.eval_speeds == (
        0.8,
        1.0,
        1.25,
    )  # as a run's config.json holds it
    for bad, says in (
        ("[]", "at least one number"),
        ("[1.0, 0]", "each above 0"),
        ("1.0", "must be a list of numbers"),
        ("[1.0, 'fast']", r"eval_speeds\[1\] must be a number"),
    ):
        with pytest.raises(ManifestError, match=says):
            manifest.get("e", [f"loader.eval_speeds={bad}"])


def test_the_weight_average_decay_is_off_by_default_and_below_one(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, BASE))
    assert manifest.get("e").train.ema_decay == 0.0
    assert manifest.get("e", ["train.ema_decay=0.99"]).train.ema_decay == 0.99
    for bad, says in (("1.0", "must be below 1"), ("-0.5", "must not be negative")):
        with pytest.raises(ManifestError, match=says):
            manifest.get("e", [f"train.ema_decay={bad}"])


MIXED = (
    BASE
    + """
[datasets.d2]
demo = { clips_per_rudiment = 2, seed = 5 }
[platforms.two]
train = { devices = 2 }
[experiments.j]
model = "efficientat"
strategy = "from_scratch"
data = "d"
mix = { data = "d2", share = 0.25 }
"""
)


def test_a_mix_parses_and_survives_config_json(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, MIXED))
    cfg = manifest.experiments["j"]
    assert cfg.mix is not None and (cfg.mix.data, cfg.mix.share) == (manifest.datasets["d2"], 0.25)
    assert cfg.data.name == "d" and cfg.mix.clips_per_batch(cfg.loader.batch_size) == 8
    assert experiment_from_dict(json.loads(json.dumps(cfg.to_dict()))) == cfg  # config.json
    overridden = manifest.get("j", ["mix.share=0.3"]).mix
    assert overridden is not None and overridden.share == 0.3
    plain = manifest.experiments["e"]
    assert plain.mix is None
    mixed = manifest.get("e", ["mix.data=d2"]).mix
    assert mixed is not None and mixed.share == 0.5  # the default share
    before = plain.to_dict()
    del before["mix"]  # a run made before joint training existed
    assert experiment_from_dict(before) == plain


@pytest.mark.parametrize(
    ("mix", "needles"),
    [
        ("{ data = 'nope' }", ["experiments.x.mix.data", "'nope'", "valid choices: d, d2"]),
        ("{ data = 'd' }", ["experiments.x.mix.data", "own data set", "nothing to mix"]),
        ("{ data = 'd2', share = 1.0 }", ["experiments.x.mix.share", "between 0 and 1"]),
        ("{ data = 'd2', share = 0 }", ["experiments.x.mix.share", "between 0 and 1"]),
        ("{ data = 'd2', share = 'half' }", ["experiments.x.mix.share must be a number"]),
        (
            "{ data = 'd2', shares = 0.5 }",
            ["unknown key 'experiments.x.mix.shares'", "data, share"],
        ),
        ("{ share = 0.5 }", ["experiments.x.mix has no 'data'", "demo-large"]),
        ("'d2'", ["experiments.x.mix must be a table"]),
        (
            "{ data = 'd2', share = 0.1 }\nloader = { batch_size = 4 }",
            ["experiments.x.mix.share", "batch_size = 4", "0 clip(s) of 'd2'", "one of each"],
        ),
        (
            "{ data = 'd2' }\ntrain = { devices = 2, num_nodes = 2 }",
            ["experiments.x.mix", "4 processes", "train.devices = 2", "one device"],
        ),
    ],
)
def test_mix_errors_name_the_key(tmp_path: Path, mix: str, needles: list[str]) -> None:
    experiment = "[experiments.x]\nmodel = 'efficientat'\nstrategy = 'from_scratch'\ndata = 'd'\n"
    path = write(tmp_path, f"{MIXED}{experiment}mix = {mix}\n")
    assert_refused(path, needles)


@pytest.mark.parametrize(
    ("model", "slip", "needles"),
    [
        ("rhythmcnn", 35, ["experiments.x.augment.slip_ms", "'rhythmcnn'", "only strokecnn"]),
        ("strokecnn", -5, ["experiments.x.augment.slip_ms is -5", "must not be negative"]),
    ],
)
def test_slips_need_strokes_to_move(tmp_path: Path, model: str, slip: int, needles: list) -> None:
    experiment = f"[experiments.x]\nmodel = '{model}'\nstrategy = 'from_scratch'\ndata = 'd'\n"
    path = write(tmp_path, f"{BASE}{experiment}augment = {{ slip_ms = {slip} }}\n")
    assert_refused(path, needles)
    good = write(tmp_path, f"{BASE}{experiment.replace(model, 'strokecnn')}augment.slip_ms = 35\n")
    assert load_manifest(good).experiments["x"].augment.slip_ms == 35.0


def test_a_mix_is_checked_again_under_overrides_and_platforms(tmp_path: Path) -> None:
    manifest = load_manifest(write(tmp_path, MIXED))
    with pytest.raises(ManifestError, match=r"command line override.*mix\.share is 1\.5"):
        manifest.get("j", ["mix.share=1.5"])
    with pytest.raises(ManifestError, match=r"mix: .* 2 processes"):
        manifest.get("j", platform="two")
    assert manifest.get("e", platform="two").train.devices == 2  # no mix, no objection


def test_cli_malformed_manifest_exits_2_with_one_paragraph(tmp_path: Path) -> None:
    path = write(tmp_path, "[experiments.e\nmodel = 1\n")
    result = sousa_train("run", "e", "--manifest", str(path), cwd=tmp_path)
    assert result.returncode == 2
    assert str(path) in result.stderr and "not valid TOML" in result.stderr
    assert result.stderr.strip().count("\n") == 0
    assert "Traceback" not in result.stderr


def test_cli_list_and_bad_override(tmp_path: Path) -> None:
    listed = sousa_train("list", "--manifest", str(REPO / "experiments.toml"), cwd=tmp_path)
    assert listed.returncode == 0 and "smoke" in listed.stdout and "demo-quick" in listed.stdout
    bad = sousa_train(
        "run",
        "smoke",
        "train.max_epochz=1",
        "--manifest",
        str(REPO / "experiments.toml"),
        cwd=tmp_path,
    )
    assert bad.returncode == 2 and "train.max_epochz" in bad.stderr and "command line" in bad.stderr
