"""The clip record and the data set error: the contract between the reader and the loader."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal

ROW_MARK = "#row="  # a clip inside a Hub shard is "<shard>#row=<n>" (data/shards.py)
Split = Literal["train", "val", "test"]
SPLITS: tuple[Split, ...] = ("train", "val", "test")


class DatasetError(ValueError):
    """A data set that cannot be used as it is; the message says which file and what to do."""


@dataclass(frozen=True)
class Clip:
    """One labelled audio clip; optional fields are None where the data set lacks them.

    ``path`` is the audio file, or for the Hub layout the shard holding the FLAC bytes in
    row ``row``; ``audio_path`` is unique per clip either way (see data/shards.py).
    """

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
    row: int | None = None

    @property
    def where(self) -> Path:
        """The clip's audio for messages: the file, or ``<shard>#row=<n>``."""
        return self.path if self.row is None else Path(f"{self.path}{ROW_MARK}{self.row}")
