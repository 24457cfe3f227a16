"""The one interface every architecture meets, so the training loop never names a model."""

from __future__ import annotations

from torch import Tensor, nn


class AudioClassifier(nn.Module):
    """A feature frontend and a network, with the sample rate the frontend expects.

    The frontend maps a batch of mono waveforms ``[B, N]`` at ``sample_rate`` to
    features ``[B, F, T]`` (frequency, time): the layout SpecAugment masks. It runs
    on the training device over the whole batch. The network maps features to
    logits ``[B, num_classes]``. The head is the network's submodule named by
    ``head_name``; strategies keep it trainable.
    """

    def __init__(
        self,
        frontend: nn.Module,
        network: nn.Module,
        *,
        sample_rate: int,
        num_classes: int,
        head_name: str,
    ) -> None:
        super().__init__()
        self.frontend = frontend
        self.network = network
        self.sample_rate = sample_rate
        self.num_classes = num_classes
        self.head_name = head_name

    def features(self, wave: Tensor) -> Tensor:
        return self.frontend(wave)

    def classify(self, features: Tensor) -> Tensor:
        return self.network(features)

    def forward(self, wave: Tensor) -> Tensor:
        return self.classify(self.features(wave))


def refuse_published_weights(model: str, pretrained: str | None) -> None:
    """Our own architectures have no published weights: asking for some is an error that
    names the two ways such a model starts."""
    if pretrained is not None:
        raise ValueError(
            f"{model} has no published weights ({pretrained} was given); it trains from "
            'scratch (drop `pretrained`, strategy = "from_scratch") or starts from one of our '
            'runs (`pretrained = "run:NAME"` or a run directory).'
        )
