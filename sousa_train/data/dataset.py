"""The torch Dataset of clips: read the cache or decode and resample, then crop. Nothing more.

Features and augmentation run on whole batches on the training device, so loader workers
only do the work that must happen per file; speed perturbation is the exception, because a
window played faster is cut from more of the clip than one window. A clip whose audio cannot
be read yields a marker instead of raising; :func:`collate_clips` drops it and reports its
path, so one bad file among thousands never kills a run.
"""

from __future__ import annotations

import logging
import math
from typing import Any

import torch
from torch.utils.data import Dataset

from sousa_train.data.audio import (
    AudioError,
    load_audio,
    random_crop,
    speed_crop,
    windows_at_speeds,
)
from sousa_train.data.cache import NoCache, WaveCache
from sousa_train.data.clips import Clip
from sousa_train.data.shards import ShardError, read_audio

log = logging.getLogger(__name__)
_warned: set[str] = set()  # per process: each bad path is logged once, not once per epoch

Item = dict[str, Any]


class ClipDataset(Dataset[Item]):
    """Train items are one random crop ``wave`` [clip_samples]; eval items are all windows
    ``wave`` [W, clip_samples] of the clip (see :func:`eval_windows`), so nothing is unseen,
    for the clip played at each of ``eval_speeds`` (all pooled together as one clip's)."""

    def __init__(
        self,
        clips: list[Clip],
        *,
        sample_rate: int,
        clip_samples: int,
        train: bool,
        cache: WaveCache | None = None,
        eval_hop: int | None = None,
        unreadable: dict[str, str] | None = None,
        speed: float = 0.0,
        eval_speeds: tuple[float, ...] = (1.0,),
    ) -> None:
        self.clips = clips
        self.sample_rate = sample_rate
        self.clip_samples = clip_samples
        self.train = train
        self.cache: WaveCache = cache if cache is not None else NoCache()
        self.eval_hop = eval_hop or max(1, clip_samples // 2)
        self.unreadable = unreadable or {}
        self.log_speed = math.log1p(speed) if speed > 0 else 0.0
        self.eval_speeds = eval_speeds

    def __len__(self) -> int:
        return len(self.clips)

    def waveform(self, clip: Clip) -> torch.Tensor:
        """The whole clip, mono at ``sample_rate``: from the cache, else decoded and cached.

        Shard clips are in the cache already (data/fill.py) unless they would not decode
        (``unreadable``) or the cache could not keep them; only then is their row read here.
        """
        wave = self.cache.get(clip)
        if wave is not None:
            return wave
        if clip.row is None:
            return self.cache.put(clip, load_audio(clip.path, self.sample_rate))
        reason = self.unreadable.get(clip.audio_path)
        if reason is not None:
            raise AudioError(clip.where, reason)
        try:
            data = read_audio(clip.path, clip.row)
        except ShardError as exc:
            raise AudioError(clip.where, str(exc)) from exc
        return self.cache.put(clip, load_audio(clip.where, self.sample_rate, data or b""))

    def __getitem__(self, index: int) -> Item:
        clip = self.clips[index]
        try:
            wave = self.waveform(clip)
        except AudioError as exc:
            if str(exc.path) not in _warned:
                _warned.add(str(exc.path))
                log.warning("skipping clip %s: %s", exc.path, exc.reason)
            return {"skipped": str(clip.where), "index": index, "clip_samples": self.clip_samples}
        if self.train and self.log_speed > 0:
            factor = math.exp(self.log_speed * (2 * float(torch.rand(())) - 1))
            wave = speed_crop(wave, self.clip_samples, factor)
        elif self.train:
            wave = random_crop(wave, self.clip_samples)
        else:
            wave = windows_at_speeds(wave, self.clip_samples, self.eval_hop, self.eval_speeds)
        return {"wave": wave, "label": clip.label, "index": index}


def collate_clips(items: list[Item]) -> dict[str, Any]:
    """Batch the good clips and report the bad ones.

    ``wave`` [M, clip_samples] holds every window of every good clip (M == B in train mode),
    ``owner`` [M] says which of the B good clips a row belongs to, ``label`` and ``index``
    [B] are per clip, ``skipped`` lists the paths of the clips dropped. A batch of only bad
    clips has B == 0 (callers skip it).
    """
    good = [item for item in items if "skipped" not in item]
    skipped = [item["skipped"] for item in items if "skipped" in item]
    if not good:
        width = items[0]["clip_samples"] if items else 0
        return {
            "wave": torch.zeros(0, width),
            "owner": torch.zeros(0, dtype=torch.long),
            "label": torch.zeros(0, dtype=torch.long),
            "index": torch.zeros(0, dtype=torch.long),
            "skipped": skipped,
        }
    waves = [item["wave"] if item["wave"].dim() == 2 else item["wave"][None] for item in good]
    counts = torch.tensor([w.shape[0] for w in waves])
    return {
        "wave": torch.cat(waves),
        "owner": torch.repeat_interleave(torch.arange(len(waves)), counts),
        "label": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "skipped": skipped,
    }


def pool_windows(logits: torch.Tensor, owner: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Per-clip scores [B, C]: the mean of each clip's window log-probabilities.

    Averaging log-probabilities (a geometric mean of the window distributions) lets a window
    that clearly hears the rudiment outweigh windows of near-silence that are merely unsure,
    where averaging raw logits would let one window's large scale dominate. The result is a
    valid input to softmax, argmax and cross-entropy.
    """
    logp = logits.float().log_softmax(-1)
    sums = logp.new_zeros(batch_size, logp.shape[-1]).index_add_(0, owner, logp)
    counts = torch.bincount(owner, minlength=batch_size).clamp_min(1).unsqueeze(-1)
    return sums / counts
