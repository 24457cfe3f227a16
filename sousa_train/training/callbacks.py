"""Lightning callbacks that turn a fit into the run directory's event stream."""

from __future__ import annotations

import logging
import resource
import signal
import sys
import time
from pathlib import Path
from types import FrameType
from typing import Any

import lightning as L
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import Timer

from sousa_train.rundir.writer import RunLog
from sousa_train.training.metrics import summary
from sousa_train.training.module import RudimentClassifier

log = logging.getLogger(__name__)


def peak_memory_mb(device: torch.device) -> float:
    """Peak accelerator memory, or the process's peak resident memory on CPU."""
    if device.type == "cuda":
        return torch.cuda.max_memory_allocated(device) / 2**20
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 2**20


class RunEvents(L.Callback):
    """Step metrics at a steady cadence, epoch metrics, and a plain progress line for logs."""

    def __init__(self, runlog: RunLog, *, every_steps: int, progress_lines: bool) -> None:
        self.runlog = runlog
        self.every = max(1, every_steps)
        self.progress_lines = progress_lines
        self._window_start = time.monotonic()
        self._window_samples = 0
        self._window_loss = 0.0
        self._window_batches = 0
        self._fit_start = time.monotonic()
        self._start_step = 0
        self._last_line = 0.0

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._fit_start = self._window_start = time.monotonic()
        self._start_step = trainer.global_step

    def on_train_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: dict[str, Any],
        batch_idx: int,
    ) -> None:
        assert isinstance(pl_module, RudimentClassifier)
        if batch["skipped"]:
            self.runlog.event("skip", paths=list(batch["skipped"]), step=trainer.global_step)
        loss = outputs.get("loss") if isinstance(outputs, dict) else outputs
        self._window_samples += int(batch["label"].numel())
        if loss is not None:
            self._window_loss += float(loss)
            self._window_batches += 1
        step = trainer.global_step
        if step % self.every != 0 and batch_idx + 1 != trainer.num_training_batches:
            return
        loss_sum, batches, samples = self._global_window(trainer)
        if batches == 0:
            return
        now = time.monotonic()
        total = max(1, int(trainer.estimated_stepping_batches))
        done = max(1e-9, (step - self._start_step) / max(1, total - self._start_step))
        elapsed = now - self._fit_start
        fields = {
            "step": step,
            "epoch": trainer.current_epoch,
            "epoch_progress": (batch_idx + 1) / max(1, trainer.num_training_batches),
            "total_steps": total,
            "train/loss": loss_sum / batches,
            "lr": trainer.optimizers[0].param_groups[0]["lr"],
            "samples_per_sec": samples / max(1e-9, now - self._window_start),
            "grad_norm": pl_module.last_grad_norm,
            "peak_mem_mb": peak_memory_mb(pl_module.device),
            "elapsed_sec": elapsed,
            "eta_sec": self._eta(trainer, elapsed * (1 - done) / done),
        }
        self.runlog.event("metric", **fields)
        if self.progress_lines and now - self._last_line >= 10:
            self._last_line = now
            log.info(
                "epoch %d step %d/%d loss %.4f lr %.2e %.0f samples/s ETA %s",
                trainer.current_epoch,
                step,
                total,
                fields["train/loss"],
                fields["lr"],
                fields["samples_per_sec"],
                _duration(fields["eta_sec"]),
            )
        self._window_start = now
        self._window_samples = 0
        self._window_loss = 0.0
        self._window_batches = 0

    def _global_window(self, trainer: L.Trainer) -> tuple[float, int, int]:
        """Loss sum, batches and samples of the window summed over all DDP ranks, so the
        step event describes the whole run; every rank calls this at the same steps."""
        totals = torch.tensor(
            [self._window_loss, self._window_batches, self._window_samples], dtype=torch.float32
        )
        if trainer.world_size > 1:
            device = trainer.strategy.root_device
            totals = trainer.strategy.reduce(totals.to(device), reduce_op="sum").cpu()
        loss_sum, batches, samples = totals.tolist()
        return loss_sum, int(batches), int(samples)

    @staticmethod
    def _eta(trainer: L.Trainer, by_steps: float) -> float:
        """Seconds left: by steps, or sooner when train.max_minutes will stop the run."""
        timer = next((c for c in trainer.callbacks if isinstance(c, Timer)), None)
        if timer is None:
            return by_steps
        return min(by_steps, timer.time_remaining("train") or 0.0)

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        assert isinstance(pl_module, RudimentClassifier)
        if trainer.sanity_checking or pl_module.last_val is None:
            return
        val = pl_module.last_val
        train_loss = trainer.callback_metrics.get("train/loss_epoch")
        fields = {f"val/{k}": v for k, v in summary(val).items()}
        fields["val/loss"] = val["loss"]
        if train_loss is not None:
            fields["train/loss_epoch"] = float(train_loss)
        self.runlog.event("epoch", epoch=trainer.current_epoch, step=trainer.global_step, **fields)
        log.info(
            "epoch %d: val balanced accuracy %.4f, accuracy %.4f, loss %.4f",
            trainer.current_epoch,
            fields["val/balanced_accuracy"],
            fields["val/accuracy"],
            fields["val/loss"],
        )


class GracefulStop(L.Callback):
    """SIGTERM/SIGINT: finish the current batch, save last.ckpt, then stop cleanly."""

    def __init__(self, last_ckpt: Path) -> None:
        self.last_ckpt = last_ckpt
        self.requested: int | None = None
        self._previous: dict[int, Any] = {}

    def install(self) -> None:
        for sig in (signal.SIGTERM, signal.SIGINT):
            self._previous[sig] = signal.signal(sig, self._handle)

    def uninstall(self) -> None:
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        if self.requested is None:
            log.warning("received %s: stopping after this batch", signal.Signals(signum).name)
        self.requested = signum

    def on_train_batch_end(self, trainer: L.Trainer, *args: Any) -> None:
        if self.requested is not None and not trainer.should_stop:
            trainer.save_checkpoint(self.last_ckpt)
            trainer.should_stop = True


class EventCheckpointIO(TorchCheckpointIO):
    """Lightning's atomic checkpoint writer, plus a `checkpoint` event per file written."""

    def __init__(self, runlog: RunLog) -> None:
        super().__init__()
        self.runlog = runlog

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any = None
    ) -> None:
        super().save_checkpoint(checkpoint, path, storage_options)
        self.runlog.event(
            "checkpoint",
            path=str(Path(path).relative_to(self.runlog.dir.root)),
            epoch=checkpoint.get("epoch"),
            step=checkpoint.get("global_step"),
        )


def _duration(seconds: float) -> str:
    seconds = int(max(0, seconds))
    return f"{seconds // 60}m{seconds % 60:02d}s"
