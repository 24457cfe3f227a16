"""The typed settings of one experiment. Every field is read by the trainer; none is decorative.

Kept free of heavy imports: the manifest validator, ``sousa-train list`` and the
console all load it.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(frozen=True)
class DemoData:
    """Parameters of a built-in demo data set, rendered into the cache folder on first use."""

    clips_per_rudiment: int = 40
    seed: int = 0
    sample_rate: int = 16000


@dataclass(frozen=True)
class DatasetSpec:
    """A named data set: a SOUSA-format folder (generator or Hub layout), a Hub data set
    repository (``hub``, pinned by ``revision``) fetched into the Hugging Face cache, or a
    demo set generated on first use."""

    name: str
    path: str | None = None
    demo: DemoData | None = None
    hub: str | None = None
    revision: str | None = None

    @property
    def where(self) -> str:
        """Where the clips come from, for listings."""
        if self.hub:
            return f"hub {self.hub}" + (f"@{self.revision}" if self.revision else "")
        if self.demo:
            return f"demo ({self.demo.clips_per_rudiment}/rudiment)"
        return self.path or "?"


@dataclass(frozen=True)
class MixSettings:
    """Joint training: about ``share`` of every training batch comes from the train split of
    ``data``, the rest from the experiment's own data set, to compare with pretraining on one
    then fine-tuning on the other. Only training reads it: validation, test, the best
    checkpoint, ``eval`` and ``predict`` use the experiment's data set alone, and ``select``
    applies to that set only (the mix set is used whole)."""

    data: DatasetSpec
    share: float = 0.5

    def clips_per_batch(self, batch_size: int) -> int:
        """How many of a full batch's clips come from ``data``."""
        return round(batch_size * self.share)


@dataclass(frozen=True)
class SelectSettings:
    """Which clips of the data set the run uses. Empty tuples / None mean 'no restriction'.

    ``max_clips_per_split`` caps each split while keeping every rudiment present (clips are
    taken round-robin across rudiments, deterministically for the run's ``train.seed``).
    """

    tempo_min: float | None = None
    tempo_max: float | None = None
    soundfonts: tuple[str, ...] = ()
    augmentation_presets: tuple[str, ...] = ()
    skill_tiers: tuple[str, ...] = ()
    max_clips_per_split: int | None = None


@dataclass(frozen=True)
class LoaderSettings:
    """How clips become batches."""

    batch_size: int = 32
    num_workers: int = 1
    clip_seconds: float = 3.0
    eval_hop_seconds: float = 1.5
    # Test-time speeds: evaluation pools the windows of the clip played at each of these
    # speeds (tempo and pitch together, soxr), as training's ``augment.speed`` varies them.
    eval_speeds: tuple[float, ...] = (1.0,)
    cache: str = "disk"


@dataclass(frozen=True)
class OptimSettings:
    """AdamW with linear warm-up then cosine decay."""

    lr: float = 1e-3
    weight_decay: float = 0.01
    warmup_fraction: float = 0.05
    min_lr_fraction: float = 0.01
    label_smoothing: float = 0.1
    grad_clip: float = 1.0
    accumulate_grad_batches: int = 1
    # Opt-in: with N processes the global batch is N times larger; some want lr x N then.
    scale_lr_with_world_size: bool = False


@dataclass(frozen=True)
class AugmentSettings:
    """Training-only augmentation: batch-level on the training device, except ``speed``.

    ``speed`` is applied per clip by the loader (``data.audio.speed_crop``), because a clip
    played faster needs more of the clip than one window.
    """

    freq_masks: int = 2
    freq_mask_width: int = 12
    time_masks: int = 2
    time_mask_width: int = 20
    mixup_alpha: float = 0.0
    time_stretch: float = 0.0
    # Speed factors are log-uniform in [1 / (1 + speed), 1 + speed]; 0 is off.
    speed: float = 0.0
    # Each stroke early or late by up to this many milliseconds (uniform), as a sloppier
    # player would place it; only models whose frontend finds strokes (strokecnn). 0 is off.
    slip_ms: float = 0.0


@dataclass(frozen=True)
class TrainSettings:
    """The loop: length, precision, device, stopping, logging cadence."""

    max_epochs: int = 30
    max_minutes: float | None = None
    precision: str = "auto"
    accelerator: str = "auto"
    devices: int = 1
    num_nodes: int = 1
    parallel_strategy: str = "auto"
    seed: int = 0
    early_stop_patience: int = 8
    log_every_steps: int = 10
    max_nonfinite_batches: int = 3
    # An exponential moving average of the weights (and BatchNorm statistics), updated every
    # step with this decay; validation, checkpoints and evaluation use the average. 0: off.
    ema_decay: float = 0.0


@dataclass(frozen=True)
class TrackerSettings:
    """Experiment trackers that also receive the run's metrics; the run directory always does.

    ``mlflow_uri`` defaults to a SQLite store beside the run directories
    (``sqlite:///<runs dir>/mlflow.db``); W&B falls back to offline when it is unreachable.
    """

    backends: tuple[str, ...] = ()
    mlflow_uri: str | None = None
    wandb_project: str = "sousaphone"


@dataclass(frozen=True)
class ExperimentConfig:
    """One experiment: model x strategy x data, plus settings."""

    name: str
    model: str
    strategy: str
    data: DatasetSpec
    mix: MixSettings | None = None
    variant: str | None = None
    pretrained: str | None = None
    sample_rate: int | None = None
    n_mels: int | None = None
    description: str = ""
    platform: str | None = None
    """The ``[platforms.NAME]`` machine overrides applied, recorded so config.json says where."""
    select: SelectSettings = field(default_factory=SelectSettings)
    loader: LoaderSettings = field(default_factory=LoaderSettings)
    optim: OptimSettings = field(default_factory=OptimSettings)
    augment: AugmentSettings = field(default_factory=AugmentSettings)
    train: TrainSettings = field(default_factory=TrainSettings)
    trackers: TrackerSettings = field(default_factory=TrackerSettings)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


SECTIONS: dict[str, type] = {
    "select": SelectSettings,
    "loader": LoaderSettings,
    "optim": OptimSettings,
    "augment": AugmentSettings,
    "train": TrainSettings,
    "trackers": TrackerSettings,
}
PRECISIONS = ("auto", "32", "32-true", "bf16-mixed", "16-mixed")
ACCELERATORS = ("auto", "cpu", "cuda", "gpu", "mps")
CACHES = ("disk", "memory", "none")
TRACKERS = ("tensorboard", "mlflow", "wandb")
PARALLEL_STRATEGIES = ("auto", "ddp", "ddp_find_unused_parameters_true")


def experiment_from_dict(data: dict[str, Any]) -> ExperimentConfig:
    """Rebuild a config written by ``to_dict`` (config.json), for eval and resume checks."""
    data = dict(data)
    spec = _dataset_spec(data.pop("data"))
    mix = data.pop("mix", None)  # absent from runs made before joint training existed
    sections = {key: cls(**_tuples(data.pop(key, {}))) for key, cls in SECTIONS.items()}
    return ExperimentConfig(
        data=spec,
        mix=MixSettings(_dataset_spec(mix["data"]), mix["share"]) if mix else None,
        **data,
        **sections,
    )


def _dataset_spec(values: dict[str, Any]) -> DatasetSpec:
    spec = dict(values)
    demo = spec.pop("demo", None)
    return DatasetSpec(**spec, demo=DemoData(**demo) if demo else None)


def _tuples(values: dict[str, Any]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list) else v for k, v in values.items()}
