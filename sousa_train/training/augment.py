"""Batch-level augmentation on the training device: SpecAugment, mixup, time stretch."""

from __future__ import annotations

import math

import torch
import torchaudio
from torch import Tensor, nn

from sousa_train.config.settings import AugmentSettings
from sousa_train.data.audio import fit_length


class SpecAugment(nn.Module):
    """Independent frequency and time masks per example on features [B, F, T]."""

    def __init__(self, cfg: AugmentSettings) -> None:
        super().__init__()
        masks: list[nn.Module] = []
        if cfg.freq_mask_width > 0:
            masks += [
                torchaudio.transforms.FrequencyMasking(cfg.freq_mask_width, iid_masks=True)
                for _ in range(cfg.freq_masks)
            ]
        if cfg.time_mask_width > 0:
            masks += [
                torchaudio.transforms.TimeMasking(cfg.time_mask_width, iid_masks=True)
                for _ in range(cfg.time_masks)
            ]
        self.masks = nn.Sequential(*masks)

    def forward(self, features: Tensor) -> Tensor:
        if len(self.masks) == 0:
            return features
        # iid masks need a channel axis; the mask value is the batch mean, not a
        # spurious zero that log-mel features never take.
        x = features.unsqueeze(1)
        fill = x.mean()
        for mask in self.masks:
            x = mask(x, mask_value=float(fill))
        return x.squeeze(1)


def mixup(features: Tensor, targets: Tensor, alpha: float) -> tuple[Tensor, Tensor]:
    """Mix each example with a random partner; a batch of one mixes with itself harmlessly.

    ``targets`` are class probabilities [B, C]; the mix weight is drawn once per batch.
    """
    lam = float(torch.distributions.Beta(alpha, alpha).sample())
    lam = max(lam, 1.0 - lam)
    perm = torch.randperm(features.shape[0], device=features.device)
    mixed = features * lam + features[perm] * (1.0 - lam)
    return mixed, targets * lam + targets[perm] * (1.0 - lam)


def time_stretch(wave: Tensor, rate: float, n_fft: int = 512, hop: int = 128) -> Tensor:
    """Change tempo by ``rate`` keeping pitch (phase vocoder), then crop or zero-pad to length."""
    length = wave.shape[-1]
    window = torch.hann_window(n_fft, device=wave.device)
    spec = torch.stft(wave.float(), n_fft, hop, window=window, return_complex=True)
    advance = torch.linspace(0, math.pi * hop, n_fft // 2 + 1, device=wave.device)[..., None]
    stretched = torchaudio.functional.phase_vocoder(spec, rate, advance)
    out = torch.istft(stretched, n_fft, hop, window=window)
    return fit_length(out, length).to(wave.dtype)
