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
    adapter: bool = False
    """Whether peft wraps the network (only adapters and the head train)."""


STRATEGIES: dict[str, Strategy] = {
    s.name: s
    for s in (
        Strategy("from_scratch", False, "random initialisation, every weight trains"),
        Strategy("full_finetune", True, "pretrained weights, every weight trains"),
        Strategy("lora", True, "low-rank adapters on attention and feed-forward layers", True),
        Strategy("adalora", True, "LoRA whose rank budget is reallocated while training", True),
        Strategy("ia3", True, "learnt rescaling of attention and feed-forward activations", True),
    )
}


def apply_strategy(model: AudioClassifier, name: str) -> None:
    """Set which parameters train; adapter strategies wrap ``model.network`` with peft.

    Applied after the pretrained weights are loaded, and again (to a freshly built model)
    before a run's checkpoint is loaded into it.
    """
    if STRATEGIES[name].adapter:
        from sousa_train.finetune.adapters import wrap_network

        wrap_network(model, name)
        return
    for p in model.parameters():
        p.requires_grad_(True)
