"""`sousa-train models`: every model x strategy with its parameter counts, and a quick check.

The table builds the real configurations with their parameters on the ``meta`` device
(accelerate's ``init_empty_weights``: shapes, no memory, no initialisation), so it prints in
seconds; buffers such as mel filterbanks are still computed. ``--check`` builds the tiny
configurations for real and runs one forward and backward pass of each combination on the CPU.
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import torch
from accelerate import init_empty_weights

from sousa_train.finetune.strategies import STRATEGIES, apply_strategy
from sousa_train.models.base import AudioClassifier
from sousa_train.models.registry import MODELS, build_model
from sousa_train.rudiments import NUM_CLASSES


def combinations() -> Iterator[tuple[str, str]]:
    """(model, strategy) pairs that can run: models without published weights only from scratch."""
    for model, entry in MODELS.items():
        for strategy, s in STRATEGIES.items():
            if entry.has_pretrained or not s.needs_pretrained:
                yield model, strategy


def _counts(model: AudioClassifier) -> tuple[int, int]:
    params = list(model.parameters())
    return sum(p.numel() for p in params), sum(p.numel() for p in params if p.requires_grad)


def _build(model: str, variant: str, strategy: str) -> tuple[AudioClassifier, int]:
    """The model with its strategy applied, and its head's size (the head always trains)."""
    built = build_model(model, variant=variant, num_classes=NUM_CLASSES)
    head = sum(p.numel() for p in built.network.get_submodule(built.head_name).parameters())
    apply_strategy(built, strategy)
    return built, head


def _notes() -> list[str]:
    return [
        f"{name}: from_scratch only (no published weights)"
        for name, entry in MODELS.items()
        if not entry.has_pretrained
    ]


def print_table() -> int:
    print(
        f"{'model':<12} {'variant':<8} {'strategy':<14} {'total':>13} {'trainable':>13} "
        f"{'of it head':>11} share"
    )
    for model, strategy in combinations():
        variant = MODELS[model].default_variant
        with init_empty_weights():
            built, head = _build(model, variant, strategy)
        total, trainable = _counts(built)
        print(
            f"{model:<12} {variant:<8} {strategy:<14} {total:>13,} {trainable:>13,} {head:>11,} "
            f"{100 * trainable / total:5.1f}%"
        )
    for note in _notes():
        print(note)
    return 0


def check_one(model: str, strategy: str, seconds: float = 1.0) -> str:
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
    total, trainable = _counts(built)
    return f"trainable {trainable:,} of {total:,}"


def run_check() -> int:
    failed = 0
    combos = list(combinations())
    for model, strategy in combos:
        start = time.perf_counter()
        try:
            detail = check_one(model, strategy)
            status = "ok  "
        except Exception as exc:  # every failure is reported, then the command fails
            detail, status = f"{type(exc).__name__}: {exc}", "FAIL"
            failed += 1
        took = time.perf_counter() - start
        print(f"{status} {model:<12} {strategy:<14} {took:5.1f} s  {detail}", flush=True)
    for note in _notes():
        print(note)
    print(f"{len(combos) - failed} of {len(combos)} combinations passed")
    return 1 if failed else 0
