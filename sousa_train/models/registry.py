"""Model names -> builders. A model is added by registering a builder, nothing else.

Each entry is the one source of its model's variants (with what each variant sets) and
sample rate: the model module builds from the entry, so the manifest validator and the
builder can never disagree, and both stay readable without importing torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from sousa_train.config.settings import ExperimentConfig
    from sousa_train.models.base import AudioClassifier


@dataclass(frozen=True)
class ModelEntry:
    """What the manifest validator needs to know without building anything."""

    name: str
    module: str
    variant_table: Mapping[str, Any]
    """Variant name -> what the module builds it from (a width, config fields, channels)."""
    default_variant: str
    sample_rate: int
    """The input rate by default, which is also the rate published weights were trained at."""
    mel_bins_setting: bool = False
    """Whether the builder takes ``n_mels`` (fewer mel bins make a from-scratch model cheaper)."""
    slips_setting: bool = False
    """Whether the builder takes ``slip_ms`` (``augment.slip_ms``): its frontend finds strokes
    on a frame axis it can move them along."""
    has_pretrained: bool = True
    """Whether published weights exist; without them only ``from_scratch`` (or a transfer
    from one of our own runs) makes sense."""

    @property
    def variants(self) -> tuple[str, ...]:
        return tuple(self.variant_table)


# Kept import-free so `sousa-train list` and manifest validation stay fast.
MODELS: dict[str, ModelEntry] = {
    "efficientat": ModelEntry(
        name="efficientat",
        module="sousa_train.models.efficientat",
        # Width multipliers of MobileNetV3-Large; tiny is the reference's mn01, for tests.
        variant_table={
            "tiny": 0.1,
            "mn04": 0.4,
            "mn10": 1.0,
            "mn20": 2.0,
            "mn30": 3.0,
            "mn40": 4.0,
        },
        default_variant="mn04",
        sample_rate=32000,
        mel_bins_setting=True,
    ),
    "ast": ModelEntry(
        name="ast",
        module="sousa_train.models.ast",
        # ASTConfig fields; its defaults are the AudioSet checkpoint's.
        variant_table={
            "tiny": {
                "hidden_size": 32,
                "num_hidden_layers": 2,
                "num_attention_heads": 2,
                "intermediate_size": 64,
            },
            "base": {},
        },
        default_variant="base",
        sample_rate=16000,
    ),
    "beats": ModelEntry(
        name="beats",
        module="sousa_train.models.beats",
        # BEATsConfig fields; its defaults are the official checkpoints'.
        variant_table={
            "tiny": {
                "embed_dim": 16,
                "encoder_layers": 2,
                "encoder_embed_dim": 32,
                "encoder_ffn_embed_dim": 64,
                "encoder_attention_heads": 2,
                "conv_pos": 16,
                "conv_pos_groups": 4,
                "num_buckets": 32,
                "max_distance": 64,
            },
            "base": {},
        },
        default_variant="base",
        sample_rate=16000,
    ),
    "htsat": ModelEntry(
        name="htsat",
        module="sousa_train.models.htsat",
        # ClapAudioConfig fields; its defaults are the LAION HTS-AT's.
        variant_table={
            # A 128x128 image of 32 mel bins over a 512-frame (5.12 s) canvas, two small stages.
            "tiny": {
                "num_mel_bins": 32,
                "spec_size": 128,
                "depths": (1, 1),
                "num_attention_heads": (1, 2),
                "patch_embeds_hidden_size": 16,
                "hidden_size": 32,
            },
            "base": {},
        },
        default_variant="base",
        sample_rate=48000,
    ),
    "rhythmcnn": ModelEntry(
        name="rhythmcnn",
        module="sousa_train.models.rhythm_cnn",
        # Conv channels of the four 2-D blocks, and the width of the temporal stack.
        variant_table={
            "tiny": ((4, 4, 8, 8), 16),
            "small": ((8, 16, 32, 64), 128),
            "base": ((16, 32, 64, 128), 192),
        },
        default_variant="small",
        sample_rate=16000,
        mel_bins_setting=True,
        has_pretrained=False,
    ),
    "strokecnn": ModelEntry(
        name="strokecnn",
        module="sousa_train.models.stroke_cnn",
        # The temporal stack's width, and the stroke view's canvas length in frames: the
        # performance's four cycles at 384 frames give a 24-slot cycle (the longest, the
        # triple ratamacue's) 3.5 frames a stroke.
        variant_table={
            "tiny": {"width": 16, "length": 128},
            "small": {"width": 64, "length": 384},
            "base": {"width": 128, "length": 384},
        },
        default_variant="small",
        sample_rate=16000,
        mel_bins_setting=True,
        slips_setting=True,
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
    slip_ms: float = 0.0,
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
    if slip_ms:
        if not e.slips_setting:
            raise UnknownModelError(f"model {name!r} cannot move strokes; remove augment.slip_ms")
        options["slip_ms"] = slip_ms
    if pretrained is not None:
        from sousa_train.models.download import resolve_file

        pretrained = resolve_file(pretrained)
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
        slip_ms=cfg.augment.slip_ms,
    )
