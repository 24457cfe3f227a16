"""Decoding, mono mix, resampling and fixed-length windows.

Resampling kernels are built once per (source, target) rate pair per process and reused,
never per clip: building one costs more than applying it to a few seconds of audio.
"""

from __future__ import annotations

import functools
from pathlib import Path

import numpy as np
import soundfile as sf
import torch
import torchaudio
from torch.nn import functional as F


class AudioError(Exception):
    """An audio file that cannot be used: missing, empty, truncated or undecodable."""

    def __init__(self, path: Path, reason: str) -> None:
        super().__init__(f"{path}: {reason}")
        self.path = Path(path)
        self.reason = reason


@functools.lru_cache(maxsize=16)
def resampler(orig: int, new: int) -> torchaudio.transforms.Resample:
    """The sinc resampler for one rate pair, built on first use and kept for the process."""
    return torchaudio.transforms.Resample(orig, new)


def read_mono(path: Path) -> tuple[torch.Tensor, int]:
    """The whole file decoded to a 1-D float32 mono waveform (channels averaged), and its rate.

    Decodes every frame, so a damaged FLAC body is an :class:`AudioError` here rather than a
    silent short clip; any subtype libsndfile reads (16/24-bit, float) is accepted.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioError(path, "file not found")
    if path.stat().st_size == 0:
        raise AudioError(path, "empty file (0 bytes)")
    try:
        with sf.SoundFile(path) as fh:
            rate, expected = fh.samplerate, fh.frames
            data = fh.read(dtype="float32", always_2d=True)
    except sf.LibsndfileError as exc:
        raise AudioError(
            path, f"cannot decode: {exc.error_string.removeprefix('Error : ')}"
        ) from exc
    except (RuntimeError, OSError, ValueError) as exc:
        raise AudioError(path, f"cannot decode: {exc}") from exc
    if data.shape[0] == 0:
        raise AudioError(path, "no audio frames")
    if data.shape[0] < expected:
        raise AudioError(path, f"truncated: {data.shape[0]} of {expected} frames decode")
    wave = torch.from_numpy(np.ascontiguousarray(data.mean(axis=1)))
    if not torch.isfinite(wave).all():
        raise AudioError(path, "contains NaN or infinite samples")
    return wave, rate


def load_audio(path: Path, sample_rate: int) -> torch.Tensor:
    """A 1-D float32 mono waveform at ``sample_rate``: :func:`read_mono`, then resampled."""
    wave, rate = read_mono(path)
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
        return F.pad(wave, (0, num_samples - n))
    start = int(torch.randint(0, n - num_samples + 1, (1,), generator=generator))
    return wave[start : start + num_samples]


def eval_windows(wave: torch.Tensor, num_samples: int, hop: int) -> torch.Tensor:
    """Deterministic windows [W, num_samples] that together cover the whole clip.

    Windows start every ``hop`` samples from 0 and the last one ends exactly at the clip's
    end, so a long clip is judged on all of it, not on its first seconds. A clip shorter than
    one window becomes one zero-padded window.
    """
    n = wave.shape[-1]
    starts = window_starts(n, num_samples, hop)
    if n <= num_samples:
        return F.pad(wave, (0, num_samples - n)).unsqueeze(0)
    return torch.stack([wave[s : s + num_samples] for s in starts])


def window_starts(length: int, num_samples: int, hop: int) -> list[int]:
    """Where each of :func:`eval_windows`' windows starts in a clip of ``length`` samples."""
    if hop <= 0 or num_samples <= 0:
        raise ValueError(f"window {num_samples} and hop {hop} must be positive sample counts")
    if length <= num_samples:
        return [0]
    return [*range(0, length - num_samples, hop), length - num_samples]
