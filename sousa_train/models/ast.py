"""AST, the Audio Spectrogram Transformer (Gong et al. 2021), through Hugging Face transformers.

Input is AST's own: a 128-bin Kaldi fbank at 16 kHz (Hanning window, HTK-compatible, 10 ms
hop) standardised with AST's AudioSet statistics. AST learnt one position embedding per
patch of a 1024-frame (10.24 s) canvas, a 12 x 101 grid. Shorter clips are fed as the official
AST recipe fine-tunes on them (github.com/YuanGongND/ast, ``ASTModel`` with ``input_tdim`` below
1024, e.g. its ESC-50 and Speech Commands recipes): the pretrained position embeddings of the
middle of the time axis are kept as they are, cut to the clip's patch grid, never resized; a
longer grid is bilinearly interpolated, as there. The stored parameter keeps the checkpoint's
shape, so a fine-tuned model still saves and loads as a plain ``ASTForAudioClassification``.
"""

from __future__ import annotations

import logging

import torch
from torch import Tensor, nn
from torch.nn import functional as F
from transformers import ASTConfig, ASTForAudioClassification
from transformers.models.audio_spectrogram_transformer.modeling_audio_spectrogram_transformer import (  # noqa: E501
    ASTEmbeddings,
)

from sousa_train.models.base import AudioClassifier
from sousa_train.models.fbank import KaldiFbank
from sousa_train.models.hub import load_hub_model
from sousa_train.models.pretrained import default_pretrained
from sousa_train.models.registry import MODELS
from sousa_train.models.weights import require_sample_rate

log = logging.getLogger(__name__)

SAMPLE_RATE = MODELS["ast"].sample_rate
# AST's fbank statistics over AudioSet (transformers ASTFeatureExtractor defaults).
FBANK_MEAN = -4.2677393
FBANK_STD = 4.5689974
HUB_ID = str(default_pretrained("ast", "base"))
HEAD_NAME = "ast.classifier"
# Fields that decide the network's shapes and computation; a checkpoint must agree on all.
ARCHITECTURE = (
    "hidden_size",
    "num_hidden_layers",
    "num_attention_heads",
    "intermediate_size",
    "hidden_act",
    "patch_size",
    "frequency_stride",
    "time_stride",
    "max_length",
    "num_mel_bins",
    "qkv_bias",
)

VARIANTS: dict[str, dict[str, object]] = dict(MODELS["ast"].variant_table)


def fit_grid(grid: Tensor, size: tuple[int, int]) -> Tensor:
    """Position embeddings ``[1, D, f0, t0]`` for a ``f x t`` patch grid, AST's way: an axis
    that shrinks keeps its middle (start ``n0 // 2 - n // 2``), one that grows is interpolated."""
    for axis, n in ((2, size[0]), (3, size[1])):
        n0 = grid.shape[axis]
        if n < n0:
            grid = grid.narrow(axis, n0 // 2 - n // 2, n)
        elif n > n0:
            target = list(grid.shape[2:])
            target[axis - 2] = n
            grid = F.interpolate(grid, size=tuple(target), mode="bilinear", align_corners=False)
    return grid


class InterpolatedEmbeddings(ASTEmbeddings):
    """AST's embeddings with the position grid fitted to the input's patch grid (``fit_grid``).

    Patches are ordered frequency-major (the conv output ``[B, D, f, t]`` flattened), so the
    stored embeddings (after the CLS and distillation tokens) form an ``f0 x t0`` grid. With the
    checkpoint's input length it is the identity.
    """

    def forward(self, input_values: Tensor) -> Tensor:
        patches = self.patch_embeddings(input_values)
        cfg = self.config
        f0, t0 = self.get_shape(cfg)
        f = (input_values.shape[2] - cfg.patch_size) // cfg.frequency_stride + 1
        t = (input_values.shape[1] - cfg.patch_size) // cfg.time_stride + 1
        special, grid = self.position_embeddings[:, :2], self.position_embeddings[:, 2:]
        if (f, t) != (f0, t0):
            grid = grid.reshape(1, f0, t0, -1).permute(0, 3, 1, 2)
            grid = fit_grid(grid, (f, t)).flatten(2).transpose(1, 2)
        b = patches.shape[0]
        tokens = torch.cat(
            [self.cls_token.expand(b, -1, -1), self.distillation_token.expand(b, -1, -1), patches],
            dim=1,
        )
        return self.dropout(tokens + torch.cat([special, grid], dim=1))


class ASTNetwork(nn.Module):
    """Fbank ``[B, 128, T]`` -> logits: AST takes ``[B, T, 128]`` and returns an output object."""

    def __init__(self, ast: ASTForAudioClassification) -> None:
        super().__init__()
        embeddings = ast.audio_spectrogram_transformer.embeddings
        resized = InterpolatedEmbeddings(ast.config)
        resized.load_state_dict(embeddings.state_dict())
        ast.audio_spectrogram_transformer.embeddings = resized
        self.ast = ast

    def forward(self, features: Tensor) -> Tensor:
        return self.ast(input_values=features.transpose(1, 2)).logits


def variant_config(variant: str, num_classes: int) -> ASTConfig:
    if variant not in VARIANTS:
        raise ValueError(f"unknown AST variant {variant!r}; choose one of: {', '.join(VARIANTS)}")
    return ASTConfig(num_labels=num_classes, **VARIANTS[variant])


def build(
    *, variant: str, num_classes: int, pretrained: str | None, sample_rate: int
) -> AudioClassifier:
    """AST from random weights, or from a hub id / local folder of an AST checkpoint."""
    config = variant_config(variant, num_classes)
    if pretrained is None:
        ast = ASTForAudioClassification(config)
    else:
        require_sample_rate("AST", pretrained, sample_rate, SAMPLE_RATE, "fbank")
        ast = load_hub_model(
            ASTForAudioClassification, pretrained, config, ARCHITECTURE, "AST", HUB_ID
        )
        if ast.config.num_labels != num_classes:
            ast.classifier.dense = nn.Linear(config.hidden_size, num_classes)
            ast.config.num_labels = num_classes
        log.info("AST %s: loaded %s", variant, pretrained)
    frontend = KaldiFbank(
        sample_rate,
        mean=FBANK_MEAN,
        std=FBANK_STD,
        n_mels=config.num_mel_bins,
        window="hanning",
        htk_compat=True,
    )
    return AudioClassifier(
        frontend,
        ASTNetwork(ast),
        sample_rate=sample_rate,
        num_classes=num_classes,
        head_name=HEAD_NAME,
    )
