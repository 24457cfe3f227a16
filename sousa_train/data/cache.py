"""Decoded, resampled waveforms kept between epochs (and, on disk, between runs).

Keyed by the data set's fingerprint and the sample rate, so a changed data set or a model
with another rate never reads stale audio. Stored as float16: half the memory and disk, and
far below the noise floor of any 16/24-bit source.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Protocol

import numpy as np
import torch

from sousa_train.data.clips import Clip


class WaveCache(Protocol):
    def get(self, clip: Clip) -> torch.Tensor | None: ...
    def put(self, clip: Clip, wave: torch.Tensor) -> None: ...


class NoCache:
    def get(self, clip: Clip) -> torch.Tensor | None:
        return None

    def put(self, clip: Clip, wave: torch.Tensor) -> None:
        return None


class MemoryCache:
    """Per process: right for num_workers=0 or persistent workers."""

    def __init__(self) -> None:
        self._waves: dict[str, torch.Tensor] = {}

    def get(self, clip: Clip) -> torch.Tensor | None:
        wave = self._waves.get(clip.sample_id)
        return None if wave is None else wave.float()

    def put(self, clip: Clip, wave: torch.Tensor) -> None:
        self._waves[clip.sample_id] = wave.half()


class DiskCache:
    """One .npy per clip, written atomically, shared by loader workers and later runs."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        folder.mkdir(parents=True, exist_ok=True)

    def _path(self, clip: Clip) -> Path:
        return self.folder / f"{clip.sample_id}.npy"

    def get(self, clip: Clip) -> torch.Tensor | None:
        try:
            data = np.load(self._path(clip))
        except (OSError, ValueError, EOFError):
            return None
        return torch.from_numpy(data.astype(np.float32))

    def put(self, clip: Clip, wave: torch.Tensor) -> None:
        path = self._path(clip)
        tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp.npy")
        np.save(tmp, wave.numpy().astype(np.float16))
        os.replace(tmp, path)


def make_cache(kind: str, *, fingerprint: str, sample_rate: int, cache_dir: Path) -> WaveCache:
    if kind == "memory":
        return MemoryCache()
    if kind == "disk":
        return DiskCache(cache_dir / "waves" / f"{fingerprint}-{sample_rate}")
    return NoCache()
