"""Batch augmentation: shapes, safety on tiny batches, and that each does what it claims."""

from __future__ import annotations

import math

import torch

from sousa_train.config.settings import AugmentSettings
from sousa_train.training.augment import SpecAugment, mixup, time_stretch


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
