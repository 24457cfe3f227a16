"""Batch augmentation: shapes, safety on tiny batches, that each does what it claims, and
that the trainer applies it inside a real fit."""

from __future__ import annotations

import math
from pathlib import Path

import lightning as L
import torch

from sousa_train.config.manifest import load_manifest
from sousa_train.config.settings import AugmentSettings
from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.sources import open_experiment_data
from sousa_train.models.base import AudioClassifier
from sousa_train.models.registry import experiment_model
from sousa_train.training.augment import SpecAugment, mixup, time_stretch
from sousa_train.training.module import RudimentClassifier
from tests.conftest import write_tone_set


def test_mixup_is_safe_for_a_batch_of_one_and_keeps_probabilities() -> None:
    x = torch.randn(1, 8, 10)
    y = torch.nn.functional.one_hot(torch.tensor([3]), 40).float()
    mixed, targets = mixup(x, y, alpha=0.4)
    assert torch.allclose(mixed, x) and torch.allclose(targets, y)
    x = torch.randn(16, 8, 10)
    y = torch.nn.functional.one_hot(torch.arange(16), 40).float()
    mixed, targets = mixup(x, y, alpha=0.4)
    assert torch.allclose(targets.sum(-1), torch.ones(16))
    assert (targets.max(-1).values >= 0.5).all()  # the original stays dominant
    assert not torch.allclose(mixed, x)


def test_spec_augment_masks_bands_and_frames_per_example() -> None:
    torch.manual_seed(0)
    aug = SpecAugment(
        AugmentSettings(freq_masks=1, freq_mask_width=20, time_masks=1, time_mask_width=30)
    )
    x = torch.randn(8, 64, 200)
    out = aug(x)
    assert out.shape == x.shape
    changed = (out != x).flatten(1).any(-1)
    assert changed.sum() >= 6
    masks = [(out[i] != x[i]) for i in range(8)]
    assert not all(torch.equal(masks[0], m) for m in masks[1:])  # independent masks
    off = SpecAugment(AugmentSettings(freq_mask_width=0, time_mask_width=0))
    assert torch.equal(off(x), x)


def test_time_stretch_changes_tempo_not_pitch() -> None:
    rate, n = 16000, 16000
    t = torch.arange(n) / rate
    tone = torch.sin(2 * math.pi * 1000 * t) * torch.exp(-((t % 0.25) * 40))
    wave = tone.unsqueeze(0)  # a 1 kHz blip every 0.25 s
    slower = time_stretch(wave, 0.8)
    assert slower.shape == wave.shape
    spectrum = torch.fft.rfft(slower[0]).abs()
    peak_hz = spectrum.argmax().item() * rate / n
    assert abs(peak_hz - 1000) < 30  # pitch kept
    env = slower[0].abs().unfold(0, 400, 400).max(-1).values
    onsets = ((env[1:] > 0.5 * env.max()) & (env[:-1] <= 0.5 * env.max())).nonzero().flatten()
    gaps = onsets.diff().float().mean() * 400 / rate
    assert abs(gaps.item() - 0.25 / 0.8) < 0.04  # beats further apart


FIT_MANIFEST = """
[datasets.tones]
path = "{root}"

[experiments.fit]
model = "efficientat"
variant = "tiny"
strategy = "from_scratch"
data = "tones"
loader = {{ batch_size = 6, num_workers = 0, clip_seconds = 1.0, cache = "none" }}
augment = {{ freq_masks = 0, time_masks = 0, mixup_alpha = {alpha}, time_stretch = {stretch} }}
"""


class Seen(L.Callback):
    """What the loader gave the first training step, and what reached the model's parts."""

    def __init__(self, model: AudioClassifier) -> None:
        self.tensors: dict[str, torch.Tensor] = {}
        model.frontend.register_forward_pre_hook(self._keep("frontend in", lambda a, _: a[0]))
        model.frontend.register_forward_hook(self._keep("frontend out", lambda _, out: out))
        model.network.register_forward_pre_hook(self._keep("network in", lambda a, _: a[0]))

    def _keep(self, name: str, pick):
        def hook(module: torch.nn.Module, args: tuple, out: object = None) -> None:
            if module.training:
                self.tensors.setdefault(name, pick(args, out).detach().clone())

        return hook

    def on_train_batch_start(self, trainer, pl_module, batch, batch_idx: int) -> None:
        self.tensors.setdefault("batch", batch["wave"].clone())


def first_training_step(tmp_path: Path, alpha: float, stretch: float) -> dict[str, torch.Tensor]:
    """One real optimiser step of a Lightning fit of the tiny model over real FLAC tones."""
    root = tmp_path / "tones"
    if not root.exists():
        write_tone_set(root, ["flam", "drag", "lesson_25"], per_split=2)
    manifest = tmp_path / f"fit-{alpha}-{stretch}.toml"
    manifest.write_text(FIT_MANIFEST.format(root=root, alpha=alpha, stretch=stretch))
    cfg = load_manifest(manifest).get("fit", [])
    model = experiment_model(cfg, pretrained=None)
    seen = Seen(model)
    module = RudimentClassifier(model, cfg.optim, cfg.augment)
    data = ClipDataModule(open_experiment_data(cfg), cfg.loader, model.sample_rate)
    trainer = L.Trainer(
        accelerator="cpu",
        max_steps=1,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[seen],
    )
    trainer.fit(module, datamodule=data)
    assert trainer.global_step == 1
    return seen.tensors


def test_mixup_and_time_stretch_are_applied_inside_a_real_fit(tmp_path: Path) -> None:
    """Off, the model sees the loader's batch as it is; on, the waveform entering the
    frontend is stretched and the features entering the network are mixed."""
    off = first_training_step(tmp_path, alpha=0, stretch=0)
    assert torch.equal(off["frontend in"], off["batch"])
    assert torch.equal(off["network in"], off["frontend out"])
    on = first_training_step(tmp_path, alpha=0.4, stretch=0.1)
    assert on["frontend in"].shape == on["batch"].shape
    assert not torch.allclose(on["frontend in"], on["batch"], atol=1e-3)
    assert on["network in"].shape == on["frontend out"].shape
    assert not torch.allclose(on["network in"], on["frontend out"], atol=1e-4)
