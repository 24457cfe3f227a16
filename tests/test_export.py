"""ONNX export of a real smoke run, checked against PyTorch with onnxruntime, and peft merging."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from peft import LoraConfig, get_peft_model, inject_adapter_in_model
from peft.tuners.tuners_utils import BaseTunerLayer
from torch import nn

from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.sources import open_experiment_data
from sousa_train.evaluate import load_classifier, load_run_config
from sousa_train.export import merge_adapters
from sousa_train.rudiments import SLUGS
from sousa_train.rundir.layout import RunDir
from tests.cli import sousa_train
from tests.conftest import copy_run

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def exported(
    tmp_path_factory: pytest.TempPathFactory, finished_smoke: Path, smoke_env: dict[str, str]
) -> Iterator[tuple[Path, RunDir, str]]:
    tmp = tmp_path_factory.mktemp("export")
    run = RunDir(copy_run(finished_smoke, tmp / "runs"))
    onnx_file = tmp / "out" / "smoke.onnx"
    result = sousa_train("export", str(run.root), "--onnx", str(onnx_file), env=smoke_env, cwd=tmp)
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]
    with pytest.MonkeyPatch.context() as patch:  # the in-process checks read the same demo set
        patch.setenv("SOUSA_CACHE_DIR", smoke_env["SOUSA_CACHE_DIR"])
        yield onnx_file, run, result.stdout


def test_export_reports_a_match_on_the_demo_test_clips(exported) -> None:
    _, run, stdout = exported
    found = re.search(r"on (\d+) windows of (\d+) test clips: max abs diff (\S+)", stdout)
    assert found, stdout
    config = json.loads(run.config.read_text())
    assert int(found[2]) == config["clips"]["test"]
    assert float(found[3]) <= 1e-4


def test_onnx_file_is_waveform_in_scores_out(exported) -> None:
    """Checked here independently of the exporter's own check: real clips, fresh session."""
    path, run, _ = exported
    cfg = load_run_config(run)
    model = load_classifier(cfg, run.best_ckpt).eval()
    data = ClipDataModule(open_experiment_data(cfg), cfg.loader, model.sample_rate)
    wave = next(iter(data.loader_for("test", train=False)))["wave"][:3]
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    (scores,) = session.run(None, {"wave": wave.numpy()})
    with torch.no_grad():
        expected = model(wave).numpy()
    assert scores.shape == (3, len(SLUGS))
    assert np.abs(scores - expected).max() <= 1e-4
    meta = {p.key: p.value for p in onnx.load(str(path)).metadata_props}
    assert int(meta["sample_rate"]) == model.sample_rate
    assert int(meta["clip_samples"]) == wave.shape[1]
    assert json.loads(meta["classes"]) == list(SLUGS)


def test_merge_adapters_refuses_a_run_without_adapters(
    exported, tmp_path: Path, smoke_env: dict[str, str]
) -> None:
    _, run, _ = exported
    result = sousa_train(
        *("export", str(run.root), "--onnx", "x.onnx", "--merge-adapters"),
        env=smoke_env,
        cwd=tmp_path,
    )
    assert result.returncode == 1
    assert "no adapter layers to merge" in result.stderr and str(run.root) in result.stderr
    assert not (tmp_path / "x.onnx").exists()


class _Net(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.body = nn.Sequential(nn.Linear(8, 16), nn.ReLU(), nn.Linear(16, 4))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.body(x)


def _randomise_lora(model: nn.Module) -> None:
    """peft starts lora_B at zero (a no-op adapter); a trained one is not."""
    torch.manual_seed(0)
    for name, p in model.named_parameters():
        if "lora_B" in name:
            nn.init.normal_(p)


@pytest.mark.parametrize("wrapping", ["peft_model", "injected"])
def test_merge_adapters_folds_lora_into_plain_layers(wrapping: str) -> None:
    config = LoraConfig(r=2, lora_alpha=4, target_modules=["body.0", "body.2"])
    outer = nn.Sequential(_Net())
    if wrapping == "peft_model":
        outer[0] = get_peft_model(outer[0], config)
    else:
        inject_adapter_in_model(config, outer[0])
    _randomise_lora(outer)
    x = torch.randn(5, 8)
    with torch.no_grad():
        before = outer(x)
    merged, count = merge_adapters(outer)
    assert count == 2
    assert not any(isinstance(m, BaseTunerLayer) for m in merged.modules())
    assert not any("lora" in name for name, _ in merged.named_parameters())
    with torch.no_grad():
        torch.testing.assert_close(merged(x), before, atol=1e-5, rtol=1e-5)
