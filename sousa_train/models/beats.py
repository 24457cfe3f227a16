"""BEATs (Chen et al. 2022): audio pre-training with acoustic tokenizers, as a classifier.

A 16x16 patch embedding of the 128-bin Kaldi fbank (16 kHz, 10 ms hop), LayerNorm, a
projection to the encoder width, and the 12-layer deep-norm encoder of ``beats_layers``;
the tokens are mean-pooled into a linear head named ``predictor`` like the reference's.
Official checkpoint files (``BEATs_iter3.pt``, ``BEATs_iter3_plus_AS2M.pt``, ...) are dicts
``{"cfg": ..., "model": state_dict}``; they load with strict key matching, taking the
fine-tuned files' predictor only when its class count is ours.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from sousa_train.models.base import AudioClassifier
from sousa_train.models.beats_layers import TransformerEncoder
from sousa_train.models.fbank import KaldiFbank
from sousa_train.models.pretrained import BEATS_PAGE, official_weights
from sousa_train.models.registry import MODELS
from sousa_train.models.weights import (
    CheckpointMismatchError,
    load_strict,
    require_sample_rate,
)

log = logging.getLogger(__name__)

SAMPLE_RATE = MODELS["beats"].sample_rate
MEL_BINS = 128
# The fbank statistics BEATs standardises with (reference ``BEATs.preprocess``).
FBANK_MEAN = 15.41663
FBANK_STD = 6.55582
HEAD_NAME = "predictor"
RELEASES_URL = BEATS_PAGE
OFFICIAL_FILE = str(official_weights("beats", "base").file)  # type: ignore[union-attr]


@dataclass(frozen=True)
class BEATsConfig:
    """The shape-setting fields of the reference ``BEATsConfig``, under its names."""

    input_patch_size: int = 16
    embed_dim: int = 512
    conv_bias: bool = False
    encoder_layers: int = 12
    encoder_embed_dim: int = 768
    encoder_ffn_embed_dim: int = 3072
    encoder_attention_heads: int = 12
    conv_pos: int = 128
    conv_pos_groups: int = 16
    num_buckets: int = 320
    max_distance: int = 800


VARIANTS: dict[str, BEATsConfig] = {
    name: BEATsConfig(**fields) for name, fields in MODELS["beats"].variant_table.items()
}
# What this implementation is: a checkpoint whose cfg says otherwise is another network.
# Values the reference assumes when a cfg omits the key are its BEATsConfig defaults.
FIXED_ARCHITECTURE: dict[str, Any] = {
    "layer_norm_first": False,
    "deep_norm": True,
    "relative_position_embedding": True,
    "gru_rel_pos": True,
    "activation_fn": "gelu",
}
REFERENCE_DEFAULTS: dict[str, Any] = {
    "layer_norm_first": False,
    "deep_norm": False,
    "relative_position_embedding": False,
    "gru_rel_pos": False,
    "activation_fn": "gelu",
    "max_distance": 1280,
    "num_buckets": 320,
}
_DROPOUT = 0.1


class BEATs(nn.Module):
    """Fbank ``[B, 128, T]`` -> logits ``[B, num_classes]``; T is cut to whole 16-frame patches."""

    def __init__(self, cfg: BEATsConfig, num_classes: int, dropout: float = _DROPOUT) -> None:
        super().__init__()
        self.cfg = cfg
        patch = cfg.input_patch_size
        self.patch_embedding = nn.Conv2d(
            1, cfg.embed_dim, kernel_size=patch, stride=patch, bias=cfg.conv_bias
        )
        self.layer_norm = nn.LayerNorm(cfg.embed_dim)
        self.post_extract_proj = (
            nn.Linear(cfg.embed_dim, cfg.encoder_embed_dim)
            if cfg.embed_dim != cfg.encoder_embed_dim
            else None
        )
        self.encoder = TransformerEncoder(
            dim=cfg.encoder_embed_dim,
            ffn_dim=cfg.encoder_ffn_embed_dim,
            layers=cfg.encoder_layers,
            heads=cfg.encoder_attention_heads,
            conv_pos=cfg.conv_pos,
            conv_pos_groups=cfg.conv_pos_groups,
            num_buckets=cfg.num_buckets,
            max_distance=cfg.max_distance,
            dropout=dropout,
            attention_dropout=dropout,
        )
        self.predictor_dropout = nn.Dropout(dropout)
        self.predictor = nn.Linear(cfg.encoder_embed_dim, num_classes)

    def tokens(self, features: Tensor) -> Tensor:
        """Encoder output ``[B, N, dim]``, patches in (time, frequency) order."""
        patches = self.patch_embedding(features.transpose(1, 2).unsqueeze(1))
        x = self.layer_norm(patches.flatten(2).transpose(1, 2))
        if self.post_extract_proj is not None:
            x = self.post_extract_proj(x)
        return self.encoder(x)

    def forward(self, features: Tensor) -> Tensor:
        if features.shape[-1] < self.cfg.input_patch_size:
            raise ValueError(
                f"BEATs needs at least {self.cfg.input_patch_size} fbank frames "
                f"({self.cfg.input_patch_size * 10} ms of audio), got {features.shape[-1]}; "
                "raise loader.clip_seconds."
            )
        pooled = self.tokens(features).mean(dim=1)
        return self.predictor(self.predictor_dropout(pooled))


def _missing_weights_message(path: Path) -> str:
    return (
        f"BEATs checkpoint not found: {path}. Pretrained BEATs weights are the official "
        f"checkpoint files (e.g. {OFFICIAL_FILE}, a dict with 'cfg' and 'model') linked from "
        f"{RELEASES_URL}; `sousa-train weights fetch beats/base` says how to get it into the "
        "weights folder, where the bare file name finds it. Nothing is downloaded at run time."
    )


def _check_cfg(path: Path, cfg: Mapping[str, Any], ours: BEATsConfig, variant: str) -> None:
    """A checkpoint whose cfg describes another architecture fails before any key is read."""
    declared = {**REFERENCE_DEFAULTS, **cfg}
    expected = {**FIXED_ARCHITECTURE, **asdict(ours)}
    wrong = [
        f"{key}={declared.get(key)!r} (expected {value!r})"
        for key, value in expected.items()
        if key in declared and declared[key] != value
    ]
    if wrong:
        raise CheckpointMismatchError(
            f"{path}: its cfg is not BEATs variant {variant!r}: {', '.join(wrong)}. Use an "
            f"official BEATs checkpoint ({RELEASES_URL}) with variant 'base'."
        )


def load_official_weights(network: BEATs, path: Path, variant: str) -> bool:
    """Load an official BEATs checkpoint file strictly; return whether its predictor was kept."""
    if not path.is_file():
        raise FileNotFoundError(_missing_weights_message(path))
    checkpoint = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(checkpoint, Mapping) or not {"cfg", "model"} <= set(checkpoint):
        raise CheckpointMismatchError(
            f"{path} is not an official BEATs checkpoint: it must be a dict with 'cfg' (the "
            f"model settings) and 'model' (the state dict); get one from {RELEASES_URL}."
        )
    _check_cfg(path, checkpoint["cfg"], network.cfg, variant)
    return load_strict(
        network,
        checkpoint["model"],
        {f"{HEAD_NAME}.weight", f"{HEAD_NAME}.bias"},
        f"{path} does not match BEATs variant {variant!r}",
    )


def build(
    *, variant: str, num_classes: int, pretrained: str | None, sample_rate: int
) -> AudioClassifier:
    """A BEATs classifier; ``pretrained`` is the local path of an official checkpoint file."""
    if variant not in VARIANTS:
        raise ValueError(f"unknown BEATs variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    network = BEATs(VARIANTS[variant], num_classes)
    if pretrained is not None:
        require_sample_rate("BEATs", pretrained, sample_rate, SAMPLE_RATE, "fbank")
        kept = load_official_weights(network, Path(pretrained), variant)
        log.info(
            "BEATs %s: loaded %s, %s",
            variant,
            pretrained,
            "with its predictor" if kept else f"with a new {num_classes}-class predictor",
        )
    frontend = KaldiFbank(
        sample_rate, mean=FBANK_MEAN, std=FBANK_STD, n_mels=MEL_BINS, scale=2.0**15
    )
    return AudioClassifier(
        frontend, network, sample_rate=sample_rate, num_classes=num_classes, head_name=HEAD_NAME
    )
