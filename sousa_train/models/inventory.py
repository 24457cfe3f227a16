"""Every model x strategy that can run, with its parameter counts, and a one-step check of each.

The counts come from the real configurations built under ``torch.device("meta")``: tensors
get shapes but no memory and no initialisation, so the whole table takes seconds. The check
builds the tiny configurations for real and runs one forward and backward pass on the CPU.
Both return data; ``sousa-train models`` prints it.
"""

from __future__ import annotations

import importlib
import time
from collections.abc import Iterator
from dataclasses import dataclass

import torch

from sousa_train.finetune.strategies import STRATEGIES, apply_strategy
from sousa_train.models.base import AudioClassifier
from sousa_train.models.registry import MODELS, build_model
from sousa_train.rudiments import NUM_CLASSES


@dataclass(frozen=True)
class ModelRow:
    """One combination's parameters; the head always trains, so it is counted apart."""

    model: str
    variant: str
    strategy: str
    total: int
    trainable: int
    head: int

    @property
    def share(self) -> float:
        """Trainable parameters as a fraction of all of them."""
        return self.trainable / self.total


@dataclass(frozen=True)
class CheckResult:
    """One combination's training step: ``error`` is None when it passed."""

    model: str
    strategy: str
    seconds: float
    error: str | None = None
    total: int = 0
    trainable: int = 0


def combinations() -> Iterator[tuple[str, str]]:
    """(model, strategy) pairs that can run: models without published weights only from scratch."""
    for model, entry in MODELS.items():
        for strategy, s in STRATEGIES.items():
            if entry.has_pretrained or not s.needs_pretrained:
                yield model, strategy


def notes() -> list[str]:
    """Why some models have fewer rows than others."""
    return [
        f"{name}: from_scratch only (no published weights)"
        for name, entry in MODELS.items()
        if not entry.has_pretrained
    ]


def _counts(model: AudioClassifier) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _build(model: str, variant: str, strategy: str) -> tuple[AudioClassifier, int]:
    """The model with its strategy applied, and its head's size (the head always trains)."""
    built = build_model(model, variant=variant, num_classes=NUM_CLASSES)
    head = sum(p.numel() for p in built.network.get_submodule(built.head_name).parameters())
    apply_strategy(built, strategy)
    return built, head


def _import_builders() -> None:
    """Import the model modules and the adapter code before anything is built on meta.

    Tensors a module makes when imported (torchaudio's kaldi ``EPSILON``, say) would
    otherwise be made on meta too, and every later real build in this process would fail.
    """
    for entry in MODELS.values():
        importlib.import_module(entry.module)
    importlib.import_module("sousa_train.finetune.adapters")


def parameter_table() -> list[ModelRow]:
    """Every combination at its model's default variant, counted on the meta device."""
    _import_builders()
    rows = []
    for model, strategy in combinations():
        variant = MODELS[model].default_variant
        with torch.device("meta"):
            built, head = _build(model, variant, strategy)
        total, trainable = _counts(built)
        rows.append(ModelRow(model, variant, strategy, total, trainable, head))
    return rows


def check_one(model: str, strategy: str, seconds: float = 1.0) -> AudioClassifier:
    """One forward and backward pass of the tiny variant; raises when something is wrong."""
    built, _ = _build(model, "tiny", strategy)
    wave = torch.randn(2, int(seconds * built.sample_rate))
    logits = built(wave)
    if logits.shape != (2, NUM_CLASSES) or not torch.isfinite(logits).all():
        raise RuntimeError(f"logits of shape {tuple(logits.shape)}, finite: no")
    logits.logsumexp(dim=1).mean().backward()
    for name, p in built.named_parameters():
        if p.requires_grad and p.grad is None:
            raise RuntimeError(f"trainable {name} got no gradient")
        if not p.requires_grad and p.grad is not None:
            raise RuntimeError(f"frozen {name} got a gradient")
    return built


def check_combinations() -> Iterator[CheckResult]:
    """``check_one`` for every combination, one result as each finishes, failures included."""
    for model, strategy in combinations():
        start = time.perf_counter()
        try:
            total, trainable = _counts(check_one(model, strategy))
        except Exception as exc:  # every failure is reported; the caller decides the outcome
            yield CheckResult(
                model, strategy, time.perf_counter() - start, f"{type(exc).__name__}: {exc}"
            )
            continue
        yield CheckResult(model, strategy, time.perf_counter() - start, None, total, trainable)
