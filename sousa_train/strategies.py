"""Training strategies: what is initialised from where, and which parameters train."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from sousa_train.models.base import AudioClassifier


@dataclass(frozen=True)
class Strategy:
    name: str
    needs_pretrained: bool
    description: str


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("from_scratch", False, "random initialisation, every weight trains"),
        Strategy("full_finetune", True, "pretrained weights, every weight trains"),
    )
}


def apply_strategy(model: AudioClassifier, name: str) -> None:
    """Set which parameters train. Both current strategies train everything."""
    for p in model.parameters():
        p.requires_grad_(True)
