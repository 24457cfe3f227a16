"""The LightningModule: loss, optimiser, schedule, augmentation and validation metrics.

It receives the network as an argument (any registered AudioClassifier), so a new
model is a new builder, not a new module.
"""

from __future__ import annotations

import logging
import math
import random
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import Timer
from torch import Tensor
from torch.nn import functional as F
from torchmetrics import MeanMetric

from sousa_train.config.settings import AugmentSettings, OptimSettings
from sousa_train.data.dataset import pool_windows
from sousa_train.finetune.adapters import AdaLoraSchedule
from sousa_train.models.base import AudioClassifier
from sousa_train.training.augment import SpecAugment, mixup, time_stretch
from sousa_train.training.metrics import ClassificationMetrics, summary

log = logging.getLogger(__name__)


class NonFiniteLossError(RuntimeError):
    """Training produced NaN/inf for too many batches in a row."""


class RudimentClassifier(L.LightningModule):
    def __init__(
        self,
        model: AudioClassifier,
        optim: OptimSettings,
        augment: AugmentSettings,
        *,
        max_nonfinite_batches: int = 3,
        check_grad_finite: bool = True,
    ) -> None:
        super().__init__()
        self.model = model
        self.optim = optim
        self.augment = augment
        self.spec_augment = SpecAugment(augment)
        self.val_metrics = ClassificationMetrics(model.num_classes)
        self.max_nonfinite = max_nonfinite_batches
        self.check_grad_finite = check_grad_finite
        self._nonfinite_run = 0
        self.last_grad_norm: float | None = None
        self.last_val: dict[str, Any] | None = None
        # A torchmetrics mean, so under DDP the loss is averaged over every rank's clips.
        self.val_loss = MeanMetric()
        self.adalora = AdaLoraSchedule.of(model)

    def forward(self, wave: Tensor) -> Tensor:
        return self.model(wave)

    def _targets(self, label: Tensor) -> Tensor:
        return F.one_hot(label, self.model.num_classes).float()

    def training_step(self, batch: dict[str, Any], batch_idx: int) -> Tensor | None:
        wave, label = batch["wave"], batch["label"]
        if label.numel() == 0:
            return None
        if self.augment.time_stretch > 0:
            s = self.augment.time_stretch
            wave = time_stretch(wave, random.uniform(1.0 - s, 1.0 + s))
        features = self.spec_augment(self.model.features(wave))
        targets = self._targets(label)
        if self.augment.mixup_alpha > 0:
            features, targets = mixup(features, targets, self.augment.mixup_alpha)
        logits = self.model.classify(features)
        loss = F.cross_entropy(logits.float(), targets, label_smoothing=self.optim.label_smoothing)
        if self.adalora is not None:
            loss = loss + self.adalora.regulariser()
        if not torch.isfinite(loss):
            self._count_nonfinite(f"loss is {float(loss)}")
            return None
        self.log(
            "train/loss",
            loss.detach(),
            on_step=True,
            on_epoch=True,
            batch_size=label.numel(),
            sync_dist=True,
        )
        return loss

    def _count_nonfinite(self, what: str) -> None:
        self._nonfinite_run += 1
        step = self.global_step
        log.warning("non-finite training signal at step %d (%s); batch skipped", step, what)
        if self._nonfinite_run > self.max_nonfinite:
            raise NonFiniteLossError(
                f"training diverged at step {step}: {what} for {self._nonfinite_run} batches in "
                "a row. Lower optim.lr, raise optim.warmup_fraction, use train.precision=32, or "
                "check the data for silent/corrupt clips."
            )

    def configure_gradient_clipping(
        self,
        optimizer: torch.optim.Optimizer,
        gradient_clip_val: float | None = None,
        gradient_clip_algorithm: str | None = None,
    ) -> None:
        """Clip by norm and keep the norm for the step events; drop non-finite updates."""
        params = [p for p in self.parameters() if p.grad is not None]
        if not params:  # the batch was skipped: nothing was back-propagated
            return
        max_norm = self.optim.grad_clip if self.optim.grad_clip > 0 else math.inf
        norm = torch.nn.utils.clip_grad_norm_(params, max_norm)
        self.last_grad_norm = float(norm)
        if self.check_grad_finite and not math.isfinite(self.last_grad_norm):
            for p in params:
                p.grad = None
            self._count_nonfinite(f"gradient norm is {self.last_grad_norm}")
        else:
            self._nonfinite_run = 0

    def optimizer_step(self, *args: Any, **kwargs: Any) -> None:
        """AdaLoRA reallocates ranks after each optimiser step, while gradients still exist."""
        super().optimizer_step(*args, **kwargs)
        if self.adalora is not None:
            self.adalora.step(self.global_step)

    def validation_step(self, batch: dict[str, Any], batch_idx: int) -> None:
        label = batch["label"]
        if label.numel() == 0:
            return
        logits = pool_windows(self.model(batch["wave"]), batch["owner"], label.numel())
        loss = F.cross_entropy(logits.float(), label)
        self.val_loss.update(loss.detach(), weight=label.numel())
        self.val_metrics.update(logits, label)

    def on_validation_epoch_start(self) -> None:
        self.val_metrics.reset()
        self.val_loss.reset()

    def on_validation_epoch_end(self) -> None:
        if not self.val_loss.update_called:
            return
        result = self.val_metrics.compute()
        result["loss"] = float(self.val_loss.compute())
        self.last_val = result
        for key, value in {**summary(result), "loss": result["loss"]}.items():
            self.log(f"val/{key}", value, prog_bar=key == "balanced_accuracy")

    def configure_optimizers(self) -> Any:
        decay, no_decay = [], []
        for name, p in self.named_parameters():
            if p.requires_grad:
                (no_decay if p.ndim <= 1 or name.endswith(".bias") else decay).append(p)
        scale = self.trainer.world_size if self.optim.scale_lr_with_world_size else 1
        optimizer = torch.optim.AdamW(
            [
                {"params": decay, "weight_decay": self.optim.weight_decay},
                {"params": no_decay, "weight_decay": 0.0},
            ],
            lr=self.optim.lr * scale,
        )
        total = max(1, int(self.trainer.estimated_stepping_batches))
        if self.adalora is not None:
            self.adalora.start(total)
        warmup = self.optim.warmup_fraction
        floor = self.optim.min_lr_fraction
        timer = next((c for c in self.trainer.callbacks if isinstance(c, Timer)), None)

        def factor(step: int) -> float:
            done = run_fraction(step + 1, total, timer)
            if done < warmup:
                return done / warmup
            progress = (done - warmup) / max(1e-9, 1.0 - warmup)
            return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * progress))

        scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, factor)
        return {
            "optimizer": optimizer,
            "lr_scheduler": {"scheduler": scheduler, "interval": "step"},
        }


def run_fraction(step: int, total: int, timer: Timer | None) -> float:
    """How much of the run is done: by steps, or by the clock when train.max_minutes is set.

    Whichever runs out first sets the schedule, so a run cut by the clock still warms up
    and ends with a small learning rate instead of stopping at its peak.
    """
    done = step / total
    if timer is not None:
        elapsed = timer.time_elapsed("train")
        remaining = timer.time_remaining("train") or 0.0
        done = max(done, elapsed / max(1e-9, elapsed + remaining))
    return min(1.0, done)
