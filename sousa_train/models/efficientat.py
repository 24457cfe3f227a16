"""EfficientAT: the MobileNetV3 audio taggers of Schmid et al. (fschmid56/EfficientAT).

The network reproduces the reference ``MN`` model with its default audio settings (one input
channel, channel-wise squeeze-excitation with a sigmoid gate, the MLP head), module for
module, so an official checkpoint's plain state dict (e.g. ``mn10_as_mAP_471.pt``) loads
with the same key names and shapes. Variants are width multipliers of the 15-block
MobileNetV3-Large table; ``tiny`` is the reference's width 0.1 (``mn01``), for tests.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import Tensor, nn

from sousa_train.models.base import AudioClassifier
from sousa_train.models.frontends import EfficientATMel
from sousa_train.models.pretrained import official_weights
from sousa_train.models.registry import MODELS
from sousa_train.models.weights import CheckpointMismatchError, load_strict

log = logging.getLogger(__name__)

WIDTHS: dict[str, float] = dict(MODELS["efficientat"].variant_table)
PRETRAINED_SAMPLE_RATE = MODELS["efficientat"].sample_rate
PRETRAINED_MEL_BINS = 128

# The whole MLP head (pool, flatten, Linear, Hardswish, Dropout, Linear): it was trained for
# AudioSet tagging, so strategies keep all of it trainable. Its last Linear, FINAL_LAYER, is
# the part sized by ``num_classes`` and replaced when a checkpoint has another class count.
HEAD_NAME = "classifier"
FINAL_LAYER = "classifier.5"

_BN_EPS = 0.001
# The reference trains for hundreds of thousands of steps with momentum 0.01; a run of a few
# hundred steps then evaluates with running statistics that are still near their initial
# values (constant predictions). PyTorch's 0.1 catches up within tens of steps. Momentum is
# not stored in checkpoints, so official weights load and evaluate the same either way.
_BN_MOMENTUM = 0.1
_STEM_CHANNELS = 16
_LAST_CHANNEL = 1280
_DROPOUT = 0.2
_SE_REDUCTION = 4


@dataclass(frozen=True)
class BlockSpec:
    """One row of MobileNetV3-Large's bottleneck table, at width 1.0."""

    kernel: int
    expanded: int
    out: int
    se: bool
    hardswish: bool
    stride: int


# MobileNetV3-Large (Howard et al. 2019, table 1), as EfficientAT uses it: no dilation,
# the four stride-2 blocks at their original places.
LARGE_BLOCKS: tuple[BlockSpec, ...] = (
    BlockSpec(3, 16, 16, False, False, 1),
    BlockSpec(3, 64, 24, False, False, 2),
    BlockSpec(3, 72, 24, False, False, 1),
    BlockSpec(5, 72, 40, True, False, 2),
    BlockSpec(5, 120, 40, True, False, 1),
    BlockSpec(5, 120, 40, True, False, 1),
    BlockSpec(3, 240, 80, False, True, 2),
    BlockSpec(3, 200, 80, False, True, 1),
    BlockSpec(3, 184, 80, False, True, 1),
    BlockSpec(3, 184, 80, False, True, 1),
    BlockSpec(3, 480, 112, True, True, 1),
    BlockSpec(3, 672, 112, True, True, 1),
    BlockSpec(5, 672, 160, True, True, 2),
    BlockSpec(5, 960, 160, True, True, 1),
    BlockSpec(5, 960, 160, True, True, 1),
)


def make_divisible(value: float, divisor: int = 8) -> int:
    """Round a channel count to a multiple of ``divisor``, never more than 10% down.

    The TensorFlow MobileNet rule the reference uses; channel counts (and so checkpoint
    shapes) depend on it exactly.
    """
    rounded = max(divisor, int(value + divisor / 2) // divisor * divisor)
    if rounded < 0.9 * value:
        rounded += divisor
    return rounded


def _conv_bn(
    in_ch: int,
    out_ch: int,
    kernel: int,
    *,
    stride: int = 1,
    groups: int = 1,
    activation: type[nn.Module] | None,
) -> nn.Sequential:
    """Conv (no bias) -> BatchNorm -> activation, indexed 0/1/2 like the checkpoints."""
    layers: list[nn.Module] = [
        nn.Conv2d(
            in_ch,
            out_ch,
            kernel,
            stride=stride,
            padding=(kernel - 1) // 2,
            groups=groups,
            bias=False,
        ),
        nn.BatchNorm2d(out_ch, eps=_BN_EPS, momentum=_BN_MOMENTUM),
    ]
    if activation is not None:
        layers.append(activation())
    return nn.Sequential(*layers)


class SqueezeExcitation(nn.Module):
    """Channel gate: mean over (freq, time) -> Linear -> ReLU -> Linear -> sigmoid -> scale.

    The reference runs a list of "concurrent" gates (channel/freq/time) merged by max; its
    audio default is the channel gate alone, which is this. The list is kept as
    ``conc_se_layers.0.fc1/fc2`` because that is the checkpoints' key path.
    """

    def __init__(self, channels: int) -> None:
        super().__init__()
        squeezed = make_divisible(channels // _SE_REDUCTION)
        gate = nn.ModuleDict(
            {"fc1": nn.Linear(channels, squeezed), "fc2": nn.Linear(squeezed, channels)}
        )
        self.conc_se_layers = nn.ModuleList([gate])

    def forward(self, x: Tensor) -> Tensor:
        gate = self.conc_se_layers[0]
        scale = gate["fc2"](torch.relu(gate["fc1"](x.mean(dim=(2, 3)))))
        return x * torch.sigmoid(scale)[:, :, None, None]


class InvertedResidual(nn.Module):
    """MobileNetV3 bottleneck: 1x1 expand (skipped when it would not widen), depthwise,
    optional squeeze-excitation, 1x1 linear projection; identity shortcut when shapes allow."""

    def __init__(self, in_ch: int, spec: BlockSpec, width: float) -> None:
        super().__init__()
        expanded = make_divisible(spec.expanded * width)
        out_ch = make_divisible(spec.out * width)
        act: type[nn.Module] = nn.Hardswish if spec.hardswish else nn.ReLU
        layers: list[nn.Module] = []
        if expanded != in_ch:
            layers.append(_conv_bn(in_ch, expanded, 1, activation=act))
        layers.append(
            _conv_bn(
                expanded, expanded, spec.kernel, stride=spec.stride, groups=expanded, activation=act
            )
        )
        if spec.se:
            layers.append(SqueezeExcitation(expanded))
        layers.append(_conv_bn(expanded, out_ch, 1, activation=None))
        self.block = nn.Sequential(*layers)
        self.out_channels = out_ch
        self.residual = spec.stride == 1 and in_ch == out_ch

    def forward(self, x: Tensor) -> Tensor:
        y = self.block(x)
        return x + y if self.residual else y


class MobileNetV3(nn.Module):
    """EfficientAT's ``MN`` network: log-mel ``[B, F, T]`` -> logits ``[B, num_classes]``.

    ``features`` is stem, 15 bottlenecks and a 1x1 conv to 6x the last width (indices 0..16);
    ``classifier`` is adaptive average pooling and the MLP head. Any F and T work.
    """

    def __init__(self, width: float, num_classes: int, dropout: float = _DROPOUT) -> None:
        super().__init__()
        channels = make_divisible(_STEM_CHANNELS * width)
        layers: list[nn.Module] = [
            _conv_bn(1, channels, 3, stride=2, activation=nn.Hardswish),
        ]
        for spec in LARGE_BLOCKS:
            block = InvertedResidual(channels, spec, width)
            layers.append(block)
            channels = block.out_channels
        last_conv = 6 * channels
        layers.append(_conv_bn(channels, last_conv, 1, activation=nn.Hardswish))
        self.features = nn.Sequential(*layers)
        hidden = make_divisible(_LAST_CHANNEL * width)
        self.classifier = nn.Sequential(
            nn.AdaptiveAvgPool2d(1),
            nn.Flatten(start_dim=1),
            nn.Linear(last_conv, hidden),
            nn.Hardswish(),
            nn.Dropout(p=dropout),
            nn.Linear(hidden, num_classes),
        )
        self._init_weights()

    def _init_weights(self) -> None:
        """The reference's initialisation, so from-scratch runs start where EfficientAT's do."""
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0.0, 0.01)
                nn.init.zeros_(m.bias)

    def forward(self, features: Tensor) -> Tensor:
        return self.classifier(self.features(features.unsqueeze(1)))


def _official_file(variant: str) -> str:
    weights = official_weights("efficientat", variant)
    return weights.file if weights and weights.file else "(none published)"


def _missing_weights_message(path: Path, variant: str) -> str:
    return (
        f"EfficientAT checkpoint not found: {path}. Pretrained weights for variant "
        f"{variant!r} are the official EfficientAT release file {_official_file(variant)} "
        f"(AudioSet-trained, a plain PyTorch state dict): `sousa-train weights fetch "
        f"efficientat/{variant}` downloads it into the weights folder, where `pretrained = "
        f'"{_official_file(variant)}"` finds it. Nothing is downloaded at run time.'
    )


def load_official_weights(network: MobileNetV3, path: Path, variant: str) -> bool:
    """Load an official-format EfficientAT state dict; return whether its head was kept.

    Every key except the final Linear's must be present with this variant's shape and no
    other key may appear (``CheckpointMismatchError`` otherwise). The final Linear is taken
    from the file only when its class count equals ours; else ours stays freshly initialised.
    """
    if not path.is_file():
        raise FileNotFoundError(_missing_weights_message(path, variant))
    state = torch.load(path, map_location="cpu", weights_only=True)
    if not isinstance(state, Mapping) or not all(isinstance(v, Tensor) for v in state.values()):
        raise CheckpointMismatchError(
            f"{path} is not a plain state dict of tensors (the official EfficientAT format); "
            "if it is a training checkpoint, save its model's state_dict() on its own."
        )
    return load_strict(
        network,
        state,
        {f"{FINAL_LAYER}.weight", f"{FINAL_LAYER}.bias"},
        f"{path} does not match EfficientAT variant {variant!r} "
        f"(width {WIDTHS[variant]}, official file {_official_file(variant)})",
    )


def build(
    *,
    variant: str,
    num_classes: int,
    pretrained: str | None,
    sample_rate: int,
    n_mels: int = PRETRAINED_MEL_BINS,
) -> AudioClassifier:
    """An EfficientAT model: the mel frontend at ``sample_rate`` and the ``variant`` network.

    ``pretrained`` is None (reference random initialisation) or the local path of an official
    checkpoint, which needs 32 kHz, 128-bin input because that is the frontend it was trained
    with. From scratch, 64 bins halve the network's work and keep the rhythm intact.
    """
    if variant not in WIDTHS:
        raise ValueError(
            f"unknown EfficientAT variant {variant!r}; choose one of: {', '.join(WIDTHS)}"
        )
    network = MobileNetV3(WIDTHS[variant], num_classes)
    if pretrained is not None:
        if (sample_rate, n_mels) != (PRETRAINED_SAMPLE_RATE, PRETRAINED_MEL_BINS):
            raise ValueError(
                f"pretrained EfficientAT weights ({pretrained}) expect "
                f"{PRETRAINED_SAMPLE_RATE} Hz, {PRETRAINED_MEL_BINS}-bin log-mel input, but "
                f"sample_rate is {sample_rate} and n_mels {n_mels}; set sample_rate = "
                f"{PRETRAINED_SAMPLE_RATE} and drop n_mels, "
                "or use the from_scratch strategy without `pretrained`."
            )
        kept = load_official_weights(network, Path(pretrained), variant)
        log.info(
            "EfficientAT %s: loaded %s, %s",
            variant,
            pretrained,
            "with its head" if kept else f"with a new {num_classes}-class final layer",
        )
    return AudioClassifier(
        EfficientATMel(sample_rate, n_mels),
        network,
        sample_rate=sample_rate,
        num_classes=num_classes,
        head_name=HEAD_NAME,
    )
