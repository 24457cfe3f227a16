"""Where a named data set lives on disk: a folder, a Hub snapshot, or a rendered demo set."""

from __future__ import annotations

import logging
from pathlib import Path
from typing import TYPE_CHECKING

from sousa_train.config.paths import cache_dir
from sousa_train.config.settings import DatasetSpec, ExperimentConfig, MixSettings

if TYPE_CHECKING:
    from sousa_train.data.reader import SousaDataset

log = logging.getLogger(__name__)


def demo_root(spec: DatasetSpec) -> Path:
    """The cached render's folder, keyed by the generator's version too, so a changed renderer
    renders a new set instead of training on the old one under the same name."""
    from sousa_train.data.demo.render import VERSION

    assert spec.demo is not None
    d = spec.demo
    key = f"{spec.name}-c{d.clips_per_rudiment}-s{d.seed}-sr{d.sample_rate}-v{VERSION}"
    return cache_dir() / "demo" / key


def dataset_root(spec: DatasetSpec) -> Path:
    """The folder to read; fetches a Hub release or renders a demo set first if need be."""
    if spec.path is not None:
        return Path(spec.path)
    if spec.hub is not None:
        return hub_snapshot(spec.hub, spec.revision)
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


HUB_FILES = ["README.md", "audio/*.parquet"]  # the audio config and the card listing it


def hub_snapshot(repo_id: str, revision: str | None = None) -> Path:
    """The local snapshot of a Hub data set's audio config, downloaded on first use.

    huggingface_hub keeps it in its cache (HF_HOME, default ~/.cache/huggingface), shows its
    own progress bars, resumes partial files, and with HF_HUB_OFFLINE=1 answers from a cached
    snapshot without touching the network.
    """
    from huggingface_hub import snapshot_download
    from huggingface_hub.errors import HfHubHTTPError, LocalEntryNotFoundError

    from sousa_train.data.clips import DatasetError

    try:
        folder = snapshot_download(
            repo_id, repo_type="dataset", revision=revision, allow_patterns=HUB_FILES
        )
    except (LocalEntryNotFoundError, HfHubHTTPError, OSError, ValueError) as exc:
        at = f" at revision {revision}" if revision else ""
        raise DatasetError(
            f"Hugging Face data set {repo_id}{at}: cannot be fetched ({exc}). Check the name "
            "and the network, or download it once with a connection (HF_HUB_OFFLINE=1 then "
            "uses the cached copy)."
        ) from exc
    return Path(folder)


def open_experiment_data(cfg: ExperimentConfig) -> SousaDataset:
    """The experiment's data set with its clip selection applied."""
    from sousa_train.data.reader import open_dataset

    return open_dataset(dataset_root(cfg.data), cfg.select, seed=cfg.train.seed)


def open_mix_data(mix: MixSettings) -> SousaDataset:
    """The ``mix`` data set, whole (``select`` is the experiment's own data set's alone); only
    its train split is read, so that is the split it must have."""
    from sousa_train.data.clips import DatasetError
    from sousa_train.data.reader import open_dataset

    dataset = open_dataset(dataset_root(mix.data))
    if not dataset.clips("train"):
        raise DatasetError(
            f"{dataset.root}: data set {mix.data.name!r} (mix.data) has no train clips to mix "
            "into the training batches; check its split assignment with `sousa-train data "
            "check`, or name another data set in mix.data."
        )
    return dataset
