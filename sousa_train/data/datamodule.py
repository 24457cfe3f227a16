"""Clips -> batches for Lightning. Workers decode, resample and crop; nothing more."""

from __future__ import annotations

import atexit
import multiprocessing
import signal
from typing import Any

import lightning as L
from torch.utils.data import ConcatDataset, DataLoader, Dataset

from sousa_train.config.paths import cache_dir
from sousa_train.config.settings import LoaderSettings
from sousa_train.data.cache import DiskCache, MemoryCache, NoCache, WaveCache, make_cache
from sousa_train.data.clips import SPLITS, Clip, Split
from sousa_train.data.dataset import ClipDataset, collate_clips
from sousa_train.data.fill import fill_cache
from sousa_train.data.mixing import Mix, MixedBatchSampler
from sousa_train.data.reader import SousaDataset


class ClipSource:
    """One data set's splits as ClipDatasets at one sample rate, and the state their loaders
    share: the waveform cache (keyed by the set's fingerprint) and the clips found undecodable
    (keyed by audio_path, which is unique within a set only, so each set keeps its own)."""

    def __init__(
        self, dataset: SousaDataset, loader: LoaderSettings, sample_rate: int, speed: float
    ) -> None:
        self.dataset = dataset
        self.loader = loader
        self.sample_rate = sample_rate
        self.speed = speed
        self.clip_samples = round(loader.clip_seconds * sample_rate)
        self.eval_hop = max(1, round(loader.eval_hop_seconds * sample_rate))
        self.cache = make_cache(
            loader.cache,
            fingerprint=dataset.fingerprint,
            sample_rate=sample_rate,
            cache_dir=cache_dir(),
        )
        self.unreadable: dict[str, str] = {}

    def prepare(self, splits: tuple[Split, ...] = SPLITS) -> None:
        """Decode the Hub shards of ``splits`` into a disk cache (ClipDataModule.prepare_data)."""
        if isinstance(self.cache, DiskCache):
            clips = [c for split in splits for c in self.dataset.clips(split)]
            self.unreadable.update(fill_cache(clips, self.cache, self.sample_rate))

    def make_dataset(
        self, split: Split, *, train: bool, eval_speeds: tuple[float, ...] | None = None
    ) -> ClipDataset:
        """The split's dataset; Hub shards are first streamed into the cache (data/fill.py).

        With ``loader.cache = "none"`` a Hub split is kept in memory for this dataset's life
        instead: reading a clip from its shard on demand costs a whole row group.
        """
        clips = self.dataset.clips(split)
        cache: WaveCache = self.cache
        if any(c.row is not None for c in clips):
            if isinstance(cache, NoCache):
                cache = MemoryCache()
            todo = [c for c in clips if c.audio_path not in self.unreadable]
            self.unreadable.update(fill_cache(todo, cache, self.sample_rate))
        return ClipDataset(
            clips,
            sample_rate=self.sample_rate,
            clip_samples=self.clip_samples,
            train=train,
            cache=cache,
            eval_hop=self.eval_hop,
            unreadable=self.unreadable,
            speed=self.speed if train else 0.0,
            eval_speeds=self.loader.eval_speeds if eval_speeds is None else eval_speeds,
        )


class ClipDataModule(L.LightningDataModule):
    """The experiment's data set as Lightning's loaders. With ``mix``, each training batch
    also holds clips of a second set's train split (data/mixing.py); validation, test and
    everything else read the experiment's own set alone."""

    def __init__(
        self,
        dataset: SousaDataset,
        loader: LoaderSettings,
        sample_rate: int,
        speed: float = 0.0,
        mix: Mix | None = None,
    ) -> None:
        super().__init__()
        self.loader = loader
        self.sample_rate = sample_rate
        self.source = ClipSource(dataset, loader, sample_rate, speed)
        # The mix set is read like the experiment's own: same rate, windows and augmentation.
        self.mix: tuple[Mix, ClipSource] | None = None
        if mix is not None:
            self.mix = mix, ClipSource(mix.dataset, loader, sample_rate, speed)

    def prepare_data(self) -> None:
        """Lightning calls this once per machine (local rank 0) before the others start: Hub
        shards are decoded into a disk cache here, so the other ranks find them there."""
        self.source.prepare()
        if self.mix is not None:
            self.mix[1].prepare(("train",))

    def clips(self, split: Split) -> list[Clip]:
        return self.source.dataset.clips(split)

    def make_dataset(
        self, split: Split, *, train: bool, eval_speeds: tuple[float, ...] | None = None
    ) -> ClipDataset:
        """The split of the experiment's own data set (:meth:`ClipSource.make_dataset`)."""
        return self.source.make_dataset(split, train=train, eval_speeds=eval_speeds)

    def loader_for(
        self, split: Split, *, train: bool, eval_speeds: tuple[float, ...] | None = None
    ) -> DataLoader:
        """Batches of ``split``; evaluation plays clips at ``eval_speeds`` (default: the
        loader's)."""
        return self._loader(
            self.make_dataset(split, train=train, eval_speeds=eval_speeds),
            batch_size=self.loader.batch_size,
            shuffle=train,
        )

    def train_dataloader(self) -> DataLoader:
        if self.mix is None:
            return self.loader_for("train", train=True)
        mix, source = self.mix
        own = self.make_dataset("train", train=True)
        extra = source.make_dataset("train", train=True)
        batches = MixedBatchSampler(
            len(own),
            len(extra),
            batch_size=self.loader.batch_size,
            mix_per_batch=mix.settings.clips_per_batch(self.loader.batch_size),
            seed=mix.seed,
        )
        return self._loader(ConcatDataset([own, extra]), batch_sampler=batches)

    def val_dataloader(self) -> DataLoader:
        # Speed 1 only: this picks the best checkpoint every epoch, and test-time speeds would
        # multiply its cost; the final test and `sousa-train eval` use loader.eval_speeds.
        return self.loader_for("val", train=False, eval_speeds=(1.0,))

    def _loader(self, dataset: Dataset, **batching: Any) -> DataLoader:
        """A loader of ``dataset`` batched as ``batching`` says, with our worker settings."""
        workers = self.loader.num_workers
        return DataLoader(
            dataset,
            **batching,
            num_workers=workers,
            collate_fn=collate_clips,
            persistent_workers=workers > 0,
            pin_memory=False,
            worker_init_fn=_ignore_interrupts if workers > 0 else None,
        )


def _ignore_interrupts(worker_id: int) -> None:
    """Ctrl-C, `pkill` and schedulers signal the whole process group; only the main process
    decides how to stop (it checkpoints, then shuts its workers down itself)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)


@atexit.register
def _end_workers_at_exit() -> None:
    """A run stopped mid-epoch still holds its persistent loader workers. At exit,
    multiprocessing ends them with SIGTERM, which they ignore, then waits for them forever;
    ending them here first (atexit runs this before multiprocessing's own handler) lets the
    process exit."""
    for child in multiprocessing.active_children():
        child.kill()
        child.join(timeout=5)
