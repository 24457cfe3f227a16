"""Joint training: batches that hold a fixed share of clips from a second data set.

The training loader reads ``ConcatDataset([own, mix])``: indices below ``len(own)`` are the
experiment's own train clips, the rest the mix set's. An epoch is still one pass over the own
clips, so the schedule, early stopping and "epochs" mean what they do without a mix; the mix
clips come on top, in an order that carries on from epoch to epoch. Each item's ``index`` is
its place in its own set (``ConcatDataset`` hands the set its local index); training reads
none, and evaluation never sees a mixed loader.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import Sampler

from sousa_train.config.settings import MixSettings
from sousa_train.data.reader import SousaDataset


@dataclass(frozen=True)
class Mix:
    """The opened ``mix`` data set, its settings, and the seed of the order its clips are
    drawn in (the run's ``train.seed``)."""

    dataset: SousaDataset
    settings: MixSettings
    seed: int

    def record(self) -> dict[str, Any]:
        """config.json's ``mix_data``: which version of the set was mixed in, as ``data_root``
        and ``data_fingerprint`` record the experiment's own."""
        return {
            "root": str(self.dataset.root),
            "fingerprint": self.dataset.fingerprint,
            "train_clips": len(self.dataset.clips("train")),
        }

    def describe(self) -> str:
        """For the run log's clip counts: ``+3,360 mix from demo-large at share 0.5``."""
        clips = len(self.dataset.clips("train"))
        return f"+{clips:,} mix from {self.settings.data.name} at share {self.settings.share:g}"


class MixedBatchSampler(Sampler[list[int]]):
    """Batches of indices into ``ConcatDataset([own, mix])``.

    Each epoch visits every own index once, in a new random order, ``batch_size -
    mix_per_batch`` to a batch, and adds ``mix_per_batch`` mix indices to each (the last,
    shorter batch keeps the same proportion, rounded). Mix indices follow a shuffled order of
    the whole mix set that continues across epochs, so every mix clip is seen once before
    any is seen twice, however small the own set is beside it. One generator seeded with
    ``seed`` draws every order, so a seed gives the same batches every run (a resumed run
    draws its orders afresh from the seed).
    """

    def __init__(
        self, own: int, mix: int, *, batch_size: int, mix_per_batch: int, seed: int
    ) -> None:
        if own < 1 or mix < 1:
            raise ValueError(f"mixed batches need clips of both sets, got {own} and {mix}")
        if not 0 < mix_per_batch < batch_size:
            raise ValueError(
                f"{mix_per_batch} mix clips in a batch of {batch_size} leaves no room for one "
                "of each set"
            )
        self.own = own
        self.mix = mix
        self.own_per_batch = batch_size - mix_per_batch
        self.mix_per_batch = mix_per_batch
        self._generator = torch.Generator().manual_seed(seed)
        self._mix_order: list[int] = []

    def __len__(self) -> int:
        return math.ceil(self.own / self.own_per_batch)

    def __iter__(self) -> Iterator[list[int]]:
        order = torch.randperm(self.own, generator=self._generator).tolist()
        for start in range(0, self.own, self.own_per_batch):
            chunk = order[start : start + self.own_per_batch]
            extra = round(len(chunk) * self.mix_per_batch / self.own_per_batch)
            yield chunk + [self.own + i for i in self._next_mix(extra)]

    def _next_mix(self, count: int) -> list[int]:
        """The next ``count`` mix indices, starting a new shuffled pass when one runs out."""
        out: list[int] = []
        while len(out) < count:
            if not self._mix_order:
                self._mix_order = torch.randperm(self.mix, generator=self._generator).tolist()
            take = self._mix_order[: count - len(out)]
            del self._mix_order[: len(take)]
            out += take
        return out
