"""Decoded, resampled waveforms kept between epochs (and, on disk, between runs).

Decoding 24-bit FLAC and resampling it costs far more than a training step's share of a
clip, so only the first epoch pays it. Caches are keyed by the data set's fingerprint and
the sample rate (the disk folder is ``waves/<fingerprint>-<rate>/``), so a changed data set
or a model with another rate never reads stale audio; within one, by the clip's audio_path.

Waveforms are stored as float16: half the memory and disk of float32 (full SOUSA at 16 kHz
is tens of GB either way), and its relative error of at most 2**-11 (about -66 dB) is far
below the room, noise and mic colouring the data set itself carries. Reads give float32.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import re
import threading
from pathlib import Path
from typing import Literal, Protocol

import numpy as np
import torch

from sousa_train.data.clips import Clip

CacheKind = Literal["memory", "disk", "none"]

log = logging.getLogger(__name__)
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class WaveCache(Protocol):
    def has(self, clip: Clip) -> bool:
        """Whether ``get`` would find the clip, without reading it."""
        ...

    def get(self, clip: Clip) -> torch.Tensor | None:
        """The clip's float32 waveform if cached, else None."""
        ...

    def put(self, clip: Clip, wave: torch.Tensor) -> torch.Tensor:
        """Keep ``wave`` for later; failing to keep it is never an error.

        Returns the wave as ``get`` will serve it (float16-rounded), so the first epoch sees
        exactly what later epochs and runs see.
        """
        ...


class NoCache:
    """Decode every time: for one-off passes such as a single evaluation."""

    def has(self, clip: Clip) -> bool:
        return False

    def get(self, clip: Clip) -> torch.Tensor | None:
        return None

    def put(self, clip: Clip, wave: torch.Tensor) -> torch.Tensor:
        return wave


class MemoryCache:
    """A dict in this process: for num_workers=0 or persistent workers.

    Each loader worker holds its own copy, so with N workers memory can grow to N times the
    data set; use the disk cache when workers are many or the data set is large.
    """

    def __init__(self) -> None:
        self._waves: dict[str, torch.Tensor] = {}

    def has(self, clip: Clip) -> bool:
        return clip.audio_path in self._waves

    def get(self, clip: Clip) -> torch.Tensor | None:
        wave = self._waves.get(clip.audio_path)
        return None if wave is None else wave.float()

    def put(self, clip: Clip, wave: torch.Tensor) -> torch.Tensor:
        stored = wave.detach().to(torch.float16)
        self._waves[clip.audio_path] = stored
        return stored.float()


class DiskCache:
    """One .npy per clip under ``folder``: shared by loader workers and reused across runs.

    Writes go to a temporary file in the same folder and are renamed into place, so a
    reader (another worker, another run) sees either nothing or a whole file. Reads are
    memory-mapped, so only the pages of the clip being read are touched.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)
        self._root = str(self.folder)
        self._failed = False

    def path(self, clip: Clip) -> Path:
        """The cache file: readable stem plus a hash of audio_path, unique per audio file."""
        return Path(self._file(clip))

    def _file(self, clip: Clip) -> str:
        # Strings, not pathlib: this runs for every clip of a first epoch, next to the decode.
        digest = hashlib.sha1(clip.audio_path.encode()).hexdigest()[:10]
        stem = os.path.splitext(os.path.basename(clip.audio_path))[0]
        return os.path.join(self._root, f"{_UNSAFE.sub('_', stem)[:80]}-{digest}.npy")

    def has(self, clip: Clip) -> bool:
        return os.path.isfile(self._file(clip))

    def get(self, clip: Clip) -> torch.Tensor | None:
        try:
            data = np.load(self._file(clip), mmap_mode="r")
            return torch.from_numpy(np.asarray(data, dtype=np.float32))
        except (OSError, ValueError, EOFError):  # absent, or not a whole .npy: decode again
            return None

    def put(self, clip: Clip, wave: torch.Tensor) -> torch.Tensor:
        # torch's casts are vectorised; numpy's float16 ones cost as much as the resampling.
        half = wave.detach().cpu().to(torch.float16)
        served = half.float()
        if self._failed:
            return served
        target = self._file(clip)
        # Unique among live writers (loader workers, shard-filling threads), with no random
        # name to draw and no file to probe for; a leftover from a dead writer is overwritten.
        folder, name = os.path.split(target)
        tmp = os.path.join(folder, f".{name}.{os.getpid()}-{threading.get_ident()}.tmp")
        stored = half.numpy()
        try:
            try:
                fh = open(tmp, "wb")
            except FileNotFoundError:  # the first write, or the folder was removed meanwhile
                self.folder.mkdir(parents=True, exist_ok=True)
                fh = open(tmp, "wb")
            with fh:  # numpy's own header, then the samples in one write
                header = np.lib.format.header_data_from_array_1_0(stored)
                np.lib.format.write_array_header_1_0(fh, header)
                fh.write(stored.data)
            os.replace(tmp, target)
        except OSError as exc:  # a full or read-only disk slows training down, nothing more
            with contextlib.suppress(OSError):
                os.unlink(tmp)
            self._failed = True
            log.warning("waveform cache disabled: cannot write %s (%s)", target, exc)
        return served


def make_cache(
    kind: CacheKind, *, fingerprint: str, sample_rate: int, cache_dir: Path
) -> WaveCache:
    """The cache for one data set version at one sample rate."""
    if kind == "memory":
        return MemoryCache()
    if kind == "disk":
        return DiskCache(Path(cache_dir) / "waves" / f"{fingerprint}-{sample_rate}")
    if kind == "none":
        return NoCache()
    raise ValueError(f"unknown waveform cache {kind!r}; choose memory, disk or none")
