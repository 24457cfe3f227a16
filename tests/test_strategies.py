"""Strategies through peft: targets by role, AdaLoRA's schedule, and a real LoRA run."""

from __future__ import annotations

import re
from pathlib import Path

import lightning as L
import pytest
import torch
from peft import PeftModel
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn
from torch.utils.data import DataLoader

from sousa_train.config.settings import AugmentSettings, OptimSettings
from sousa_train.evaluate import load_classifier, load_run_config
from sousa_train.finetune.adapters import AdaLoraSchedule, NoAdapterTargetError
from sousa_train.finetune.strategies import apply_strategy
from sousa_train.finetune.targets import find_targets
from sousa_train.models.base import AudioClassifier
from sousa_train.models.beats import build as build_beats
from sousa_train.models.registry import build_model
from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.scan import find_runs
from sousa_train.training.module import RudimentClassifier
from tests.cli import sousa_train
from tests.test_beats import official_checkpoint


@pytest.mark.parametrize(
    ("model", "attention", "feed_forward"),
    [("ast", 8, 4), ("beats", 8, 4), ("htsat", 6, 4), ("efficientat", 0, 41)],
)
def test_targets_are_found_by_role(model: str, attention: int, feed_forward: int) -> None:
    built = build_model(model, variant="tiny", num_classes=40)
    targets = find_targets(built.network, built.head_name)
    assert (len(targets.attention), len(targets.feed_forward)) == (attention, feed_forward)
    modules = dict(built.network.named_modules())
    assert all(isinstance(modules[n], nn.Linear) for n in targets.attention)
    assert not any(n.startswith(built.head_name) for n in targets.all)


def test_a_network_without_targets_is_an_error() -> None:
    network = nn.Sequential(nn.Conv1d(8, 8, 3), nn.Flatten(), nn.LazyLinear(40))
    model = AudioClassifier(
        nn.Identity(), network, sample_rate=16000, num_classes=40, head_name="2"
    )
    with pytest.raises(NoAdapterTargetError, match=r"lora.*full_finetune"):
        apply_strategy(model, "lora")


def test_adalora_takes_its_steps_from_the_trainer_and_reallocates() -> None:
    torch.manual_seed(0)
    model = build_model("beats", variant="tiny", num_classes=40)
    apply_strategy(model, "adalora")
    module = RudimentClassifier(model, OptimSettings(), AugmentSettings(freq_masks=0, time_masks=0))
    batches = [{"wave": torch.randn(4, 8000), "label": torch.randint(0, 40, (4,))}] * 8
    trainer = L.Trainer(
        max_epochs=1,
        accelerator="cpu",
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=0,
    )
    trainer.fit(module, train_dataloaders=DataLoader(batches, batch_size=None))
    schedule = AdaLoraSchedule.of(model)
    assert schedule is not None and schedule.config.total_step == 8
    assert schedule.config.rank_pattern  # update_and_allocate ran and masked ranks
    assert float(schedule.regulariser().detach()) > 0


@pytest.fixture(scope="module")
def lora_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A real `sousa-train run` of tiny BEATs with LoRA from an official-format file."""
    root = tmp_path_factory.mktemp("lora")
    weights = root / "BEATs_iter3.pt"
    official_checkpoint(weights)
    manifest = root / "experiments.toml"
    manifest.write_text(
        "[datasets.demo-tiny]\ndemo = { clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }\n"
        "[experiments.beats-lora]\n"
        'model = "beats"\nvariant = "tiny"\nstrategy = "lora"\ndata = "demo-tiny"\n'
        f'pretrained = "{weights}"\n'
        "train = { max_epochs = 2, early_stop_patience = 0 }\n"
        "loader = { batch_size = 16, num_workers = 0, clip_seconds = 2.0 }\n"
    )
    runs = root / "runs"
    done = sousa_train(
        *("run", "beats-lora", "--manifest", str(manifest), "--runs-dir", str(runs)),
        env={"SOUSA_CACHE_DIR": str(root / "cache")},
    )
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = find_runs(runs, "beats-lora")
    return weights, run.root


def test_lora_trains_only_adapters_and_head(lora_run: tuple[Path, Path]) -> None:
    weights, root = lora_run
    pretrained = torch.load(weights, weights_only=True)["model"]
    state = torch.load(root / "checkpoints" / "best.ckpt", weights_only=False)["state_dict"]
    prefix = "model.network.base_model.model."
    trained = {
        k.removeprefix(prefix).replace(".base_layer.", "."): v
        for k, v in state.items()
        if k.startswith(prefix)
    }
    for key, value in pretrained.items():
        assert torch.equal(trained[key], value), key  # frozen: bit-identical
    lora_b = [v for k, v in trained.items() if ".lora_B." in k]
    assert lora_b and all(v.abs().sum() > 0 for v in lora_b)  # LoRA B starts at zero
    head = trained["predictor.modules_to_save.default.weight"]
    assert not torch.equal(head, trained["predictor.original_module.weight"])


def test_saved_adapter_reloads_to_the_same_predictions(lora_run: tuple[Path, Path]) -> None:
    weights, root = lora_run
    run = RunDir(root)
    assert (run.adapter / "adapter_config.json").is_file()
    reference = load_classifier(load_run_config(run), run.best_ckpt).eval()
    fresh = build_beats(variant="tiny", num_classes=40, pretrained=str(weights), sample_rate=16000)
    fresh.network = PeftModel.from_pretrained(fresh.network, str(run.adapter))
    wave = torch.randn(3, 32000)
    with torch.no_grad():
        torch.testing.assert_close(fresh.eval()(wave), reference(wave))


def test_export_merges_the_lora_adapters_and_atol_refuses_a_file_that_differs(
    lora_run: tuple[Path, Path],
) -> None:
    """`export --merge-adapters` on the real LoRA run, with an --atol no float file can meet."""
    _, root = lora_run
    out = root.parents[2] / "merged.onnx"
    done = sousa_train(
        *("export", str(root), "--onnx", str(out), "--merge-adapters", "--atol", "1e-30"),
        env={"SOUSA_CACHE_DIR": str(root.parents[2] / "cache")},
    )
    assert done.returncode == 1, done.stdout + done.stderr[-3000:]
    found = re.search(r"(\d+) adapter layers merged.* max abs diff (\S+)", done.stdout)
    assert found, done.stdout
    run = RunDir(root)
    model = load_classifier(load_run_config(run), run.best_ckpt)
    assert int(found[1]) == sum(isinstance(m, BaseTunerLayer) for m in model.modules()) > 0
    diff = float(found[2])
    assert 0 < diff <= 1e-4  # merged, the file still matches the adapters as trained
    assert (
        f"\nsousa-train: {out}: outputs differ from PyTorch by {diff:.3g}, more than --atol 1e-30;"
        in f"\n{done.stderr}"
    )
    assert "do not deploy this file" in done.stderr
