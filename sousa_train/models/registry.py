"""Model names -> builders. A model is added by registering a builder, nothing else."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sousa_train.config.settings import ExperimentConfig
    from sousa_train.models.base import AudioClassifier


@dataclass(frozen=True)
class ModelEntry:
    """What the manifest validator needs to know without building anything."""

    name: str
    module: str
    variants: tuple[str, ...]
    default_variant: str
    sample_rate: int
    mel_bins_setting: bool = False
    """Whether the builder takes ``n_mels`` (fewer mel bins make a from-scratch model cheaper)."""
    has_pretrained: bool = True
    """Whether published weights exist; without them only ``from_scratch`` makes sense."""


# Kept import-free so `sousa-train list` and manifest validation stay fast.
MODELS: dict[str, ModelEntry] = {
    "efficientat": ModelEntry(
        name="efficientat",
        module="sousa_train.models.efficientat",
        variants=("tiny", "mn04", "mn10", "mn20", "mn30", "mn40"),
        default_variant="mn04",
        sample_rate=32000,
        mel_bins_setting=True,
    ),
    "ast": ModelEntry(
        name="ast",
        module="sousa_train.models.ast",
        variants=("tiny", "base"),
        default_variant="base",
        sample_rate=16000,
    ),
    "beats": ModelEntry(
        name="beats",
        module="sousa_train.models.beats",
        variants=("tiny", "base"),
        default_variant="base",
        sample_rate=16000,
    ),
    "htsat": ModelEntry(
        name="htsat",
        module="sousa_train.models.htsat",
        variants=("tiny", "base"),
        default_variant="base",
        sample_rate=48000,
    ),
    "rhythmcnn": ModelEntry(
        name="rhythmcnn",
        module="sousa_train.models.rhythm_cnn",
        variants=("tiny", "small", "base"),
        default_variant="small",
        sample_rate=16000,
        mel_bins_setting=True,
        has_pretrained=False,
    ),
}


class UnknownModelError(ValueError):
    pass


def entry(name: str) -> ModelEntry:
    if name not in MODELS:
        raise UnknownModelError(
            f"unknown model {name!r}; choose one of: {', '.join(sorted(MODELS))}"
        )
    return MODELS[name]


def build_model(
    name: str,
    *,
    variant: str,
    num_classes: int,
    pretrained: str | None = None,
    sample_rate: int | None = None,
    n_mels: int | None = None,
) -> AudioClassifier:
    """Build a registered model; each model module exposes ``build(...)``."""
    e = entry(name)
    if variant not in e.variants:
        raise UnknownModelError(
            f"model {name!r} has no variant {variant!r}; choose one of: {', '.join(e.variants)}"
        )
    options = {}
    if n_mels is not None:
        if not e.mel_bins_setting:
            raise UnknownModelError(
                f"model {name!r} has a fixed mel filterbank; remove the n_mels setting"
            )
        options["n_mels"] = n_mels
    module = importlib.import_module(e.module)
    return module.build(
        variant=variant,
        num_classes=num_classes,
        pretrained=pretrained,
        sample_rate=sample_rate or e.sample_rate,
        **options,
    )


def experiment_model(cfg: ExperimentConfig, *, pretrained: str | None) -> AudioClassifier:
    """The experiment's model for its 40 classes; ``pretrained=None`` when a checkpoint follows."""
    from sousa_train.rudiments import NUM_CLASSES

    return build_model(
        cfg.model,
        variant=cfg.variant or "",
        num_classes=NUM_CLASSES,
        pretrained=pretrained,
        sample_rate=cfg.sample_rate,
        n_mels=cfg.n_mels,
    )
