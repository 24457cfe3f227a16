"""Model names -> builders. A model is added by registering a builder, nothing else."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sousa_train.models.base import AudioClassifier


@dataclass(frozen=True)
class ModelEntry:
    """What the manifest validator needs to know without building anything."""

    name: str
    module: str
    variants: tuple[str, ...]
    default_variant: str
    sample_rate: int


# Kept import-free so `sousa-train list` and manifest validation stay fast.
MODELS: dict[str, ModelEntry] = {
    "efficientat": ModelEntry(
        name="efficientat",
        module="sousa_train.models.efficientat",
        variants=("tiny", "mn04", "mn10", "mn20", "mn30", "mn40"),
        default_variant="mn04",
        sample_rate=32000,
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
) -> AudioClassifier:
    """Build a registered model; each model module exposes ``build(...)``."""
    e = entry(name)
    if variant not in e.variants:
        raise UnknownModelError(
            f"model {name!r} has no variant {variant!r}; choose one of: {', '.join(e.variants)}"
        )
    module = importlib.import_module(e.module)
    return module.build(
        variant=variant,
        num_classes=num_classes,
        pretrained=pretrained,
        sample_rate=sample_rate or e.sample_rate,
    )
