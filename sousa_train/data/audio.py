"""Decoding, mono mix, resampling and fixed-length windows.

Resampling kernels are built once per (source, target) rate pair and reused, never per clip.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio


class AudioError(Exception):
    """An audio file that cannot be used: missing, empty or undecodable."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@functools.lru_cache(maxsize=16)
def resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    return torchaudio.transforms.Resample(orig, new)


def load_audio(path: Path, sample_rate: int) -> torch.Tensor:
    """A 1-D float32 mono waveform at ``sample_rate``; stereo is averaged."""
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    try:
        data, rate = sf.read(path, dtype="float32", always_2d=True)
    except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
        raise AudioError(path, f"cannot decode ({exc})") from exc
    if data.shape[0] == 0:
        raise AudioError(path, "no audio frames (empty file)")
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if not torch.isfinite(wave).all():
        raise AudioError(path, "contains NaN or infinite samples")
    if rate != sample_rate:
        with torch.no_grad():
            wave = resampler(rate, sample_rate)(wave)
    return wave


def random_crop(
    wave: torch.Tensor, num_samples: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """A random window of exactly ``num_samples``; shorter clips are zero-padded at the end."""
    n = wave.shape[-1]
    if n <= num_samples:
        return torch.nn.functional.pad(wave, (0, num_samples - n))
    start = int(torch.randint(0, n - num_samples + 1, (1,), generator=generator))
    return wave[start : start + num_samples]


def eval_windows(wave: torch.Tensor, num_samples: int, hop: int) -> torch.Tensor:
    """Deterministic windows [W, num_samples] that together cover the whole clip.

    Windows start every ``hop`` samples and the last one ends exactly at the clip's end,
    so a long clip is judged on all of it, not on its first seconds.
    """
    n = wave.shape[-1]
    if n <= num_samples:
        return torch.nn.functional.pad(wave, (0, num_samples - n)).unsqueeze(0)
    starts = list(range(0, n - num_samples, hop))
    starts.append(n - num_samples)
    return torch.stack([wave[s : s + num_samples] for s in starts])
