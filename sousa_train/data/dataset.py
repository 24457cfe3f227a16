"""The torch Dataset of clips: decode (or read the cache), resample, crop. Nothing more.

A clip whose audio cannot be read yields a marker instead of raising; the collate
function drops it and reports its path, so one bad file never kills a run.
"""

from __future__ import annotations

import logging
from typing import Any

import torch
from torch.utils.data import Dataset

from sousa_train.data.audio import AudioError, eval_windows, load_audio, random_crop
from sousa_train.data.cache import NoCache, WaveCache
from sousa_train.data.clips import Clip

log = logging.getLogger(__name__)
_warned: set[str] = set()


class ClipDataset(Dataset):
    def __init__(
        self,
        clips: list[Clip],
        *,
        sample_rate: int,
        clip_samples: int,
        train: bool,
        cache: WaveCache | None = None,
        eval_hop: int | None = None,
    ) -> None:
        self.clips = clips
        self.sample_rate = sample_rate
        self.clip_samples = clip_samples
        self.train = train
        self.cache = cache or NoCache()
        self.eval_hop = eval_hop or clip_samples // 2

    def __len__(self) -> int:
        return len(self.clips)

    def waveform(self, clip: Clip) -> torch.Tensor:
        wave = self.cache.get(clip)
        if wave is None:
            wave = load_audio(clip.path, self.sample_rate)
            self.cache.put(clip, wave)
        return wave

    def __getitem__(self, index: int) -> dict[str, Any]:
        clip = self.clips[index]
        try:
            wave = self.waveform(clip)
        except AudioError as exc:
            if str(exc.path) not in _warned:
                _warned.add(str(exc.path))
                log.warning("skipping unreadable clip %s", exc)
            return {"bad": str(clip.path), "index": index}
        if self.train:
            wave = random_crop(wave, self.clip_samples)
        else:
            wave = eval_windows(wave, self.clip_samples, self.eval_hop)
        return {"wave": wave, "label": clip.label, "index": index}


def collate_clips(items: list[dict[str, Any]]) -> dict[str, Any]:
    """Stack good clips; eval windows of all clips are concatenated with an owner index."""
    good = [item for item in items if "bad" not in item]
    skipped = [item["bad"] for item in items if "bad" in item]
    if not good:
        return {
            "wave": torch.zeros(0, 0),
            "owner": torch.zeros(0, dtype=torch.long),
            "label": torch.zeros(0, dtype=torch.long),
            "index": torch.zeros(0, dtype=torch.long),
            "skipped": skipped,
        }
    waves = [
        item["wave"] if item["wave"].dim() == 2 else item["wave"].unsqueeze(0) for item in good
    ]
    owner = torch.cat([torch.full((w.shape[0],), i, dtype=torch.long) for i, w in enumerate(waves)])
    return {
        "wave": torch.cat(waves),
        "owner": owner,
        "label": torch.tensor([item["label"] for item in good], dtype=torch.long),
        "index": torch.tensor([item["index"] for item in good], dtype=torch.long),
        "skipped": skipped,
    }


def pool_windows(logits: torch.Tensor, owner: torch.Tensor, batch_size: int) -> torch.Tensor:
    """Per-clip scores: the mean of each clip's window log-probabilities [B, C].

    Averaging log-probabilities (a product of window likelihoods) lets one confident
    window outvote several unsure ones, and stays a valid input to softmax/argmax.
    """
    logp = logits.float().log_softmax(-1)
    sums = torch.zeros(batch_size, logp.shape[-1], device=logp.device).index_add_(0, owner, logp)
    counts = torch.bincount(owner, minlength=batch_size).clamp_min(1).unsqueeze(-1)
    return sums / counts
