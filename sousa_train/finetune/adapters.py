"""peft wiring: adapter configs per strategy, AdaLoRA's per-step duties, adapter files.

The network inside an ``AudioClassifier`` is wrapped in a ``PeftModel``; the frontend has no
weights to adapt. The run's Lightning checkpoints then hold the wrapped state dict, so a
checkpoint is reloaded by building the model, applying the same strategy and loading it.
"""

from __future__ import annotations

from pathlib import Path

import torch
from peft import AdaLoraConfig, IA3Config, LoraConfig, PeftConfig, PeftModel, get_peft_model
from peft.tuners.adalora import AdaLoraModel
from torch import Tensor

from sousa_train.finetune.targets import find_targets
from sousa_train.models.base import AudioClassifier

LORA_RANK = 8
LORA_ALPHA = 16
# AdaLoRA starts every target at ADALORA_INIT_RANK and prunes the budget to ADALORA_TARGET_RANK
# on average; the first and last fractions of the run keep ranks fixed (its tinit, tfinal).
ADALORA_INIT_RANK = 12
ADALORA_TARGET_RANK = 4
ADALORA_WARMUP_FRACTION = 0.1
ADALORA_FINAL_FRACTION = 0.2
ADALORA_ORTH_WEIGHT = 0.5
# A placeholder until the trainer knows the run's step count (``AdaLoraSchedule.start``).
_UNKNOWN_TOTAL_STEPS = 1000


class NoAdapterTargetError(ValueError):
    """The model has no attention projection or feed-forward layer for an adapter."""


def adapter_config(model: AudioClassifier, strategy: str) -> PeftConfig:
    targets = find_targets(model.network, model.head_name)
    if not targets.all:
        raise NoAdapterTargetError(
            f"strategy {strategy!r} found no attention projection or feed-forward layer in "
            f"{type(model.network).__name__}; use full_finetune for this model."
        )
    common = {"target_modules": list(targets.all), "modules_to_save": [model.head_name]}
    if strategy == "lora":
        return LoraConfig(r=LORA_RANK, lora_alpha=LORA_ALPHA, **common)
    if strategy == "adalora":
        return AdaLoraConfig(
            init_r=ADALORA_INIT_RANK,
            target_r=ADALORA_TARGET_RANK,
            lora_alpha=LORA_ALPHA,
            orth_reg_weight=ADALORA_ORTH_WEIGHT,
            total_step=_UNKNOWN_TOTAL_STEPS,
            **common,
        )
    if strategy == "ia3":
        return IA3Config(feedforward_modules=list(targets.feed_forward), **common)
    raise ValueError(f"{strategy!r} is not an adapter strategy")


def wrap_network(model: AudioClassifier, strategy: str) -> None:
    """Replace ``model.network`` by its peft wrapper: only adapters and the head train."""
    model.network = get_peft_model(model.network, adapter_config(model, strategy))
    for p in model.frontend.parameters():
        p.requires_grad_(False)


def save_adapter(model: AudioClassifier, folder: Path) -> None:
    """peft's own format (adapter_config.json, adapter_model.safetensors): it loads with
    ``PeftModel.from_pretrained(network, folder)`` on a freshly built network."""
    if not isinstance(model.network, PeftModel):
        raise TypeError("this model trains no adapter; only lora, adalora and ia3 runs have one")
    model.network.save_pretrained(str(folder))


class AdaLoraSchedule:
    """AdaLoRA's duties outside the forward pass, which a custom training loop must do itself.

    peft adds the orthogonal regulariser only to outputs with a ``loss`` attribute and needs
    ``update_and_allocate`` after every optimiser step; ours returns logits.
    """

    def __init__(self, adalora: AdaLoraModel) -> None:
        self.adalora = adalora
        self.config = adalora.peft_config[adalora.trainable_adapter_name]

    @classmethod
    def of(cls, model: AudioClassifier) -> AdaLoraSchedule | None:
        network = model.network
        if isinstance(network, PeftModel) and isinstance(network.base_model, AdaLoraModel):
            return cls(network.base_model)
        return None

    def start(self, total_steps: int) -> None:
        """Take the run's optimiser step count from the trainer; set the phases from it."""
        self.config.total_step = max(3, total_steps)
        self.config.tinit = int(ADALORA_WARMUP_FRACTION * total_steps)
        self.config.tfinal = int(ADALORA_FINAL_FRACTION * total_steps)
        self.adalora.rankallocator.peft_config = self.config

    def regulariser(self) -> Tensor:
        """Mean ``||P P^T - I||_F`` over the singular-vector matrices, times its weight."""
        terms = []
        for name, p in self.adalora.model.named_parameters():
            if p.requires_grad and (".lora_A." in name or ".lora_B." in name):
                gram = p @ p.T if ".lora_A." in name else p.T @ p
                eye = torch.eye(gram.shape[0], device=p.device, dtype=p.dtype)
                terms.append(torch.linalg.matrix_norm(gram - eye))
        return self.config.orth_reg_weight * torch.stack(terms).mean()

    def step(self, global_step: int) -> None:
        self.adalora.update_and_allocate(global_step)
