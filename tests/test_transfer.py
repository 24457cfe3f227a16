"""`pretrained = "run:NAME"`: a real smoke run's best checkpoint initialises the next experiment."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest
import torch

from sousa_train.config.manifest import ManifestError, load_manifest
from sousa_train.finetune.strategies import apply_strategy
from sousa_train.models.pretrained import names_run
from sousa_train.models.registry import build_model
from sousa_train.models.transfer import TransferError, initial_model, load_run_weights
from sousa_train.models.weights import CheckpointMismatchError
from sousa_train.rundir.layout import RunDir, write_json_atomic
from sousa_train.rundir.scan import find_runs
from tests.cli import Result, sousa_train
from tests.conftest import copy_run

TINY = """
model = "efficientat"
variant = "tiny"
data = "demo-tiny"
train = { max_epochs = 1, early_stop_patience = 0, log_every_steps = 2 }
loader = { batch_size = 16, num_workers = 0, clip_seconds = 2.0, eval_hop_seconds = 1.0 }
"""
MANIFEST = f"""
[datasets.demo-tiny]
demo = {{ clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }}

[experiments.smoke]
strategy = "from_scratch"
{TINY}
[experiments.transfer]
strategy = "full_finetune"
pretrained = "run:smoke"
{TINY}
[experiments.transfer-lora]
strategy = "lora"
pretrained = "run:smoke"
{TINY}
[experiments.transfer-mn04]
strategy = "full_finetune"
pretrained = "run:smoke"
{TINY.replace('"tiny"', '"mn04"')}
[experiments.never-ran]
strategy = "from_scratch"
{TINY}
[experiments.transfer-none]
strategy = "full_finetune"
pretrained = "run:never-ran"
{TINY}
"""


@pytest.fixture(scope="module")
def manifest(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("transfer") / "experiments.toml"
    path.write_text(MANIFEST)
    return path


@pytest.fixture(scope="module")
def world(manifest: Path, finished_smoke: Path, smoke_env: dict[str, str]) -> dict:
    """A copy of the shared real finished smoke run (from scratch) in a temp runs folder, for
    the module: the source the transfer experiments start from."""
    root = manifest.parent
    runs = root / "runs"
    world = {"root": root, "manifest": manifest, "env": smoke_env, "runs": runs}
    world["source"] = RunDir(copy_run(finished_smoke, runs))
    return world


def train(world: dict, name: str) -> Result:
    return sousa_train(
        *("run", name, "--manifest", str(world["manifest"]), "--runs-dir", str(world["runs"])),
        env=world["env"],
        cwd=world["root"],
    )


def best_weights(run: RunDir) -> dict[str, torch.Tensor]:
    state = torch.load(run.best_ckpt, map_location="cpu", weights_only=True)["state_dict"]
    return {k.removeprefix("model."): v for k, v in state.items()}


def experiment(world: dict, name: str):
    return load_manifest(world["manifest"]).get(name, [])


@pytest.mark.parametrize("name", ["transfer", "transfer-lora"])
def test_initial_weights_are_the_source_runs_best_checkpoint(world: dict, name: str) -> None:
    expected = best_weights(world["source"])
    cfg = experiment(world, name)
    model, provenance = initial_model(cfg, world["runs"])
    assert provenance is not None and provenance["run_dir"] == str(world["source"].root)
    state = model.state_dict()
    assert set(state) == set(expected)
    for key, tensor in expected.items():
        assert torch.equal(state[key], tensor), key
    fresh = build_model("efficientat", variant="tiny", num_classes=40)
    assert not torch.equal(  # a fresh build differs, so equality above is the transfer's doing
        fresh.state_dict()["network.features.0.0.weight"], expected["network.features.0.0.weight"]
    )
    apply_strategy(model, cfg.strategy)
    if cfg.strategy == "lora":  # the adapters wrap the transferred weights, not fresh ones
        wrapped = dict(model.network.named_parameters())
        base = next(k for k in wrapped if k.endswith("base_layer.weight"))
        plain = base.removeprefix("base_model.model.").replace(".base_layer", "")
        assert torch.equal(wrapped[base], expected[f"network.{plain}"])


def test_fine_tuned_run_records_where_its_weights_came_from(world: dict) -> None:
    done = train(world, "transfer")
    assert done.returncode == 0, done.stdout + done.stderr
    (run,) = find_runs(world["runs"], "transfer")
    weights_from = json.loads(run.config.read_text())["weights_from"]
    source = world["source"]
    assert weights_from["pretrained"] == "run:smoke"
    assert weights_from["run_dir"] == str(source.root)
    assert weights_from["run_id"] == source.run_id
    assert weights_from["checkpoint"] == str(source.best_ckpt)


def test_a_run_of_another_variant_is_one_paragraph_naming_both(world: dict) -> None:
    with pytest.raises(CheckpointMismatchError) as info:
        initial_model(experiment(world, "transfer-mn04"), world["runs"])
    message = str(info.value)
    assert "\n" not in message
    assert f"run {world['source'].run_id} of experiment smoke: efficientat/tiny" in message
    assert "experiment transfer-mn04 (efficientat/mn04" in message
    assert "shape mismatches" in message and "set model, variant" in message


def test_a_run_directory_path_works_and_an_unfinished_name_does_not(world: dict) -> None:
    cfg = experiment(world, "transfer")
    by_path = dataclasses.replace(cfg, pretrained=str(world["source"].root))
    _, provenance = initial_model(by_path, world["runs"])
    assert provenance is not None and provenance["run_id"] == world["source"].run_id
    with pytest.raises(TransferError, match="no finished run"):
        initial_model(experiment(world, "transfer-none"), world["runs"])


def test_a_saved_model_folder_is_not_taken_for_a_run(tmp_path: Path) -> None:
    """transformers' save_pretrained folders hold a config.json, as run directories do."""
    folder = tmp_path / "ast-local"
    folder.mkdir()
    (folder / "config.json").write_text("{}")
    assert not names_run(str(folder))
    assert names_run("run:smoke") and not names_run("MIT/ast-finetuned-audioset-10-10-0.4593")


def test_rhythmcnn_transfers_from_a_run_though_it_has_no_published_weights(
    tmp_path: Path,
) -> None:
    """RhythmCNN's full_finetune is valid only from a run; its checkpoint loads strictly."""
    body = """
[datasets.d]
demo = { clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }
[experiments.rhythm]
model = "rhythmcnn"
variant = "tiny"
data = "d"
strategy = "from_scratch"
[experiments.from-run]
model = "rhythmcnn"
variant = "tiny"
data = "d"
strategy = "full_finetune"
pretrained = "run:rhythm"
"""
    manifest = tmp_path / "m.toml"
    manifest.write_text(body)
    cfg = load_manifest(manifest).get("from-run", [])
    manifest.write_text(body.replace('pretrained = "run:rhythm"\n', 'pretrained = "x.pt"\n'))
    with pytest.raises(ManifestError, match="no pretrained weights"):
        load_manifest(manifest)

    # The run directory a RhythmCNN run leaves: config.json and a Lightning best.ckpt.
    source = RunDir(tmp_path / "runs" / "rhythm" / "20260101-000000-0001")
    torch.manual_seed(3)
    trained = build_model("rhythmcnn", variant="tiny", num_classes=40)
    source.checkpoints.mkdir(parents=True)
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in trained.state_dict().items()}},
        source.best_ckpt,
    )
    scratch = dataclasses.replace(cfg, name="rhythm", strategy="from_scratch", pretrained=None)
    write_json_atomic(source.config, {"experiment": scratch.to_dict(), "sample_rate": 16000})
    write_json_atomic(source.status, {"state": "finished", "pid": 1})

    model, provenance = initial_model(cfg, tmp_path / "runs")
    assert provenance is not None and provenance["run_id"] == source.run_id
    for key, tensor in trained.state_dict().items():
        assert torch.equal(model.state_dict()[key], tensor), key
    wider = build_model("rhythmcnn", variant="small", num_classes=40)
    with pytest.raises(CheckpointMismatchError, match="rhythmcnn/tiny"):
        load_run_weights(wider, cfg, source)


def test_a_source_run_that_trained_adapters_is_merged_first(tmp_path: Path, manifest: Path) -> None:
    """A LoRA run's checkpoint holds peft-wrapped keys; the new run starts from the merged
    weights its source predicted with, not from the source's frozen base."""
    lora_cfg = load_manifest(manifest).get("transfer-lora", [])
    torch.manual_seed(5)
    trained = build_model("efficientat", variant="tiny", num_classes=40)
    apply_strategy(trained, "lora")
    with torch.no_grad():
        for name, p in trained.network.named_parameters():
            if "lora_B" in name:
                p.normal_(0.0, 0.1)  # a trained adapter: zero-initialised B has moved
    source = RunDir(tmp_path / "runs" / "adapted" / "20260101-000000-0002")
    source.checkpoints.mkdir(parents=True)
    torch.save(
        {"state_dict": {f"model.{k}": v for k, v in trained.state_dict().items()}},
        source.best_ckpt,
    )
    write_json_atomic(source.config, {"experiment": lora_cfg.to_dict(), "sample_rate": 32000})
    write_json_atomic(source.status, {"state": "finished", "pid": 1})
    base = {k: v.clone() for k, v in trained.network.base_model.model.state_dict().items()}
    trained.network = trained.network.merge_and_unload()
    expected = trained.state_dict()

    cfg = load_manifest(manifest).get("transfer", [])
    cfg = dataclasses.replace(cfg, pretrained=str(source.root))
    model, _ = initial_model(cfg, tmp_path / "runs")
    state = model.state_dict()
    assert set(state) == set(expected)
    for key, tensor in expected.items():
        assert torch.allclose(state[key], tensor), key
    merged_layer = next(k for k in base if k.endswith("base_layer.weight"))
    plain = "network." + merged_layer.replace(".base_layer", "")
    assert not torch.allclose(state[plain], base[merged_layer])  # the adapter was folded in
