"""A sweep trial inside the fit: each validation epoch's figure goes to the Optuna trial, and a
trial its pruner gives up on stops after that epoch, as a run of its own ending ``pruned``."""

from __future__ import annotations

import logging
from typing import Any

import lightning as L

from sousa_train.training.metrics import summary
from sousa_train.training.module import RudimentClassifier

log = logging.getLogger(__name__)


class TrialReporter(L.Callback):
    """Reports ``metric`` per epoch (step = epoch) and keeps the best value, the trial's result.

    ``record`` is what the run directory keeps of the trial (config.json ``sweep``, the
    ``trial`` event): the sweep, the study, the trial number and its sampled values.
    """

    def __init__(self, trial: Any, metric: str, *, maximize: bool, record: dict[str, Any]) -> None:
        self.trial = trial
        self.metric = metric
        self.maximize = maximize
        self.record = record
        self.best: float | None = None
        self.pruned = False

    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.trial.set_user_attr("run_dir", str(trainer.default_root_dir))

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, RudimentClassifier)
        if trainer.sanity_checking or pl_module.last_val is None:
            return
        val = pl_module.last_val
        figures = {**{f"val/{k}": v for k, v in summary(val).items()}, "val/loss": val["loss"]}
        value = float(figures[self.metric])
        if self.best is None or (value > self.best if self.maximize else value < self.best):
            self.best = value
        self.trial.report(value, step=trainer.current_epoch)
        last = trainer.current_epoch + 1 >= (trainer.max_epochs or 0)
        if not last and self.trial.should_prune():
            log.info(
                "epoch %d: pruned by the sweep (trial %d)", trainer.current_epoch, self.trial.number
            )
            self.pruned = True
            trainer.should_stop = True
