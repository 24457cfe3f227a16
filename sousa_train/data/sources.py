"""Where a named data set lives on disk; the demo set is rendered into the cache on first use."""

from __future__ import annotations

import logging
import os
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING

from sousa_train.config.settings import DatasetSpec, ExperimentConfig
from sousa_train.data.clips import ClipFilter

if TYPE_CHECKING:
    from sousa_train.data.reader import SousaDataset

log = logging.getLogger(__name__)


def cache_dir() -> Path:
    """SOUSA_CACHE_DIR, else the XDG cache folder: demo sets and decoded waveforms live here."""
    env = os.environ.get("SOUSA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sousaphone"


def demo_root(spec: DatasetSpec) -> Path:
    assert spec.demo is not None
    d = spec.demo
    return cache_dir() / "demo" / f"{spec.name}-c{d.clips_per_rudiment}-s{d.seed}-sr{d.sample_rate}"


def dataset_root(spec: DatasetSpec) -> Path:
    """The folder to read; renders a demo set first if it is not there yet."""
    if spec.path is not None:
        return Path(spec.path)
    from sousa_train.data.demo.render import generate_demo_dataset

    root = demo_root(spec)
    assert spec.demo is not None
    summary = generate_demo_dataset(
        root,
        clips_per_rudiment=spec.demo.clips_per_rudiment,
        seed=spec.demo.seed,
        sample_rate=spec.demo.sample_rate,
    )
    if summary.seconds > 0.5:
        log.info(
            "rendered demo data set %r: %d clips in %.1f s (%.0f clips/s) into %s",
            spec.name,
            summary.clips,
            summary.seconds,
            summary.clips_per_second,
            root,
        )
    return root


def open_experiment_data(cfg: ExperimentConfig) -> SousaDataset:
    """The experiment's data set with its clip selection applied."""
    from sousa_train.data.reader import open_dataset

    selection = ClipFilter(**asdict(cfg.select), seed=cfg.train.seed)
    return open_dataset(dataset_root(cfg.data), selection)
