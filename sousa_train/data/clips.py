"""The clip record and the selection filters: the contract between the reader and the loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


@dataclass(frozen=True)
class Clip:
    """One labelled audio clip; optional fields are None where the data set lacks them."""

    sample_id: str
    path: Path
    audio_path: str
    label: int
    slug: str
    split: Split
    profile_id: str | None = None
    tempo_bpm: float | None = None
    duration_sec: float | None = None
    skill_tier: str | None = None
    soundfont: str | None = None
    augmentation_preset: str | None = None


@dataclass(frozen=True)
class ClipFilter:
    """Which clips a run uses. Empty tuples / None mean 'no restriction'.

    ``max_clips_per_split`` caps each split while keeping every rudiment present
    (clips are taken round-robin across rudiments, deterministically for ``seed``).
    """

    tempo_min: float | None = None
    tempo_max: float | None = None
    soundfonts: tuple[str, ...] = ()
    augmentation_presets: tuple[str, ...] = ()
    skill_tiers: tuple[str, ...] = ()
    max_clips_per_split: int | None = None
    seed: int = 0
