"""One experiment from config to finished run directory: fit, stop, resume, evaluate.

``run_experiment`` returns the process exit code and never lets an exception escape
without recording it in the run directory (status, error event, train.log).
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
import platform
import signal
import socket
import subprocess
import sys
import time
import warnings
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import TYPE_CHECKING, Any

from sousa_train.config.settings import ExperimentConfig, experiment_from_dict
from sousa_train.rundir.capture import capture_output
from sousa_train.rundir.layout import RunDir, new_run_id, read_json, write_json_atomic
from sousa_train.rundir.resume import resume_checkpoint
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status
from sousa_train.rundir.sync import RunSyncer
from sousa_train.rundir.writer import RunLog

if TYPE_CHECKING:
    from sousa_train.data.mixing import Mix
    from sousa_train.training.callbacks import GracefulStop
    from sousa_train.training.distributed import RunPlacement
    from sousa_train.training.trial import TrialReporter

log = logging.getLogger("sousa_train.training.run")

PACKAGES = (
    "torch",
    "torchaudio",
    "lightning",
    "torchmetrics",
    "numpy",
    "soundfile",
    "miniaudio",
    "pyarrow",
    "sousaphone",
)


class RunBusyError(RuntimeError):
    pass


def prepare_run(
    cfg: ExperimentConfig, runs_dir: Path, *, fresh: bool
) -> tuple[RunDir, Path | None]:
    """The run directory to use and the checkpoint to resume from, if any.

    The latest run of the experiment is resumed when it ended unfinished and left a
    last.ckpt (or a newer SLURM pre-emption checkpoint); otherwise (or with ``fresh``) a new
    run directory is made.
    """
    runs = find_runs(runs_dir, cfg.name)
    if runs and not fresh:
        latest = runs[-1]
        status = read_status(latest)
        if status.live:
            raise RunBusyError(
                f"{latest.root}: this experiment is already running as pid {status.pid}. "
                "Stop it first (SIGTERM saves a checkpoint), or pass --fresh to start another run."
            )
        resume_from = resume_checkpoint(latest)
        if status.state != "finished":
            if resume_from is not None:
                saved = (read_json(latest.config) or {}).get("experiment")
                # Through the dataclasses, so settings added since the run began compare
                # as their defaults rather than as a change.
                if saved is not None and not _same_settings(saved, cfg):
                    raise RunBusyError(
                        f"{latest.config}: the unfinished run was started with different settings "
                        "than these; resuming would mix them. Pass --fresh to start a new run "
                        "with the new settings, or drop the overrides to resume."
                    )
                return latest, resume_from
            print(f"note: {latest.root} ended before its first checkpoint; starting a new run")
    return RunDir(Path(runs_dir) / cfg.name / new_run_id()), None


def run_experiment(
    cfg: ExperimentConfig,
    *,
    runs_dir: Path,
    manifest: Path | None,
    fresh: bool = False,
    sync_to: str | None = None,
    trial: TrialReporter | None = None,
) -> int:
    """Train ``cfg`` into its run directory; with ``trial`` the run is a sweep trial that
    reports each epoch to Optuna and may end ``pruned``."""
    from sousa_train.training.distributed import SilentRunLog, place_run

    placement = place_run(
        lambda: prepare_run(cfg, runs_dir, fresh=fresh), _accelerator_name(cfg.train.accelerator)
    )
    run, resume_from = placement.run, placement.resume_from
    # Only global rank 0 writes the run directory; the other ranks train and stay silent.
    runlog = RunLog(run) if placement.is_zero else SilentRunLog(run)
    with capture_output(run.log) if placement.is_zero else contextlib.nullcontext():
        log.info(
            "run directory: %s (pid %d)%s",
            run.root,
            os.getpid(),
            f", resuming from {resume_from.name}" if resume_from else "",
        )
        runlog.status("running", experiment=cfg.name, run_id=run.run_id, started=time.time())
        runlog.event(
            "start",
            experiment=cfg.name,
            run_id=run.run_id,
            pid=os.getpid(),
            resumed=resume_from is not None,
        )
        if trial is not None:
            runlog.event("trial", **trial.record)
        # Rank 0 mirrors the run directory (--sync-to); stop() sends the final state.
        syncer = None
        # Outside fit (loading data, the final evaluation) a SIGTERM ends the run through the
        # handler below, so its end is recorded and mirrored; inside fit GracefulStop has it.
        previous = signal.signal(signal.SIGTERM, _terminated)
        try:
            if sync_to and placement.is_zero:
                syncer = RunSyncer(run, sync_to)
                syncer.start()
            return _train(cfg, placement, runlog, manifest, trial)
        except Exception as exc:
            log.exception("run failed")
            message = f"{type(exc).__name__}: {exc}"
            runlog.event("error", message=message)
            runlog.event("end", reason="error")
            runlog.status("failed", error=message)
            return 1
        finally:
            signal.signal(signal.SIGTERM, previous)
            runlog.close()
            if syncer is not None:
                syncer.stop()


class Terminated(Exception):
    """SIGTERM arrived while the run was not training (loading data, evaluating)."""


def _terminated(signum: int, frame: object) -> None:
    raise Terminated(
        "SIGTERM outside training (while loading data or evaluating); run the same command "
        "again to resume from the last checkpoint"
    )


@dataclass
class Fit:
    """The trainer of one run and the callbacks whose state says how training ended."""

    trainer: Any
    best: Any
    stop: GracefulStop
    early: Any | None
    loggers: list[Any]


def _train(
    cfg: ExperimentConfig,
    placement: RunPlacement,
    runlog: RunLog,
    manifest: Path | None,
    trial: TrialReporter | None,
) -> int:
    """Build everything, fit, then stop cleanly or evaluate and finish (rank 0 only)."""
    import lightning as L
    import torch

    from sousa_train.data.datamodule import ClipDataModule
    from sousa_train.data.mixing import Mix
    from sousa_train.data.sources import open_experiment_data, open_mix_data
    from sousa_train.finetune.strategies import apply_strategy
    from sousa_train.models.transfer import initial_model
    from sousa_train.training.module import RudimentClassifier

    run = placement.run
    L.seed_everything(cfg.train.seed, workers=True, verbose=False)
    dataset = open_experiment_data(cfg)
    dataset.require_trainable()
    mix = None if cfg.mix is None else Mix(open_mix_data(cfg.mix), cfg.mix, cfg.train.seed)
    model, weights_from = initial_model(cfg, run.root.parent.parent)
    apply_strategy(model, cfg.strategy)
    accelerator = resolve_accelerator(cfg.train.accelerator, torch)
    precision = resolve_precision(cfg.train.precision, accelerator)
    counts = {split: len(dataset.clips(split)) for split in ("train", "val", "test")}
    total = sum(p.numel() for p in model.parameters())
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    if placement.is_zero and (placement.resume_from is None or not run.config.exists()):
        write_run_config(
            cfg,
            run,
            manifest=manifest,
            weights_from=weights_from,
            dataset=dataset,
            mix=mix,
            counts=counts,
            parameters={"total": total, "trainable": trainable},
            sample_rate=model.sample_rate,
            accelerator=accelerator,
            precision=precision,
            sweep=trial.record if trial is not None else None,
        )
    log.info(
        "%s: %s/%s, %s, %d train%s / %d val / %d test clips, %s of %s parameters trainable, "
        "%s, precision %s",
        cfg.name,
        cfg.model,
        cfg.variant,
        cfg.strategy,
        counts["train"],
        "" if mix is None else f" ({mix.describe()})",
        counts["val"],
        counts["test"],
        f"{trainable:,}",
        f"{total:,}",
        accelerator,
        precision,
    )
    module = RudimentClassifier(
        model,
        cfg.optim,
        cfg.augment,
        max_nonfinite_batches=cfg.train.max_nonfinite_batches,
        check_grad_finite=precision != "16-mixed",
    )
    data = ClipDataModule(dataset, cfg.loader, model.sample_rate, cfg.augment.speed, mix)
    fit = build_trainer(cfg, run, runlog, accelerator, precision, is_zero=placement.is_zero)
    if trial is not None:
        fit.trainer.callbacks.append(trial)
    run_fit(fit, module, data, placement.resume_from)
    if fit.stop.requested is not None:
        return _stopped(cfg, run, runlog, fit)
    if trial is not None and trial.pruned:
        return _pruned(run, runlog, fit)
    if not placement.is_zero:
        return 0  # rank 0 alone evaluates every clip once and writes the results
    return finish(cfg, run, runlog, fit)


def write_run_config(
    cfg: ExperimentConfig,
    run: RunDir,
    *,
    manifest: Path | None,
    weights_from: dict[str, Any] | None,
    dataset: Any,
    mix: Mix | None,
    counts: dict[str, int],
    parameters: dict[str, int],
    sample_rate: int,
    accelerator: str,
    precision: str,
    sweep: dict[str, Any] | None = None,
) -> None:
    """config.json: everything needed to evaluate, resume or reproduce the run elsewhere;
    ``mix`` the data set joint training mixed in (``cfg.mix``), ``sweep`` the trial it is
    (its sweep, study, number and sampled values)."""
    from sousa_train.rudiments import RUDIMENTS

    write_json_atomic(
        run.config,
        {
            "experiment": _plain(cfg.to_dict()),
            "run_id": run.run_id,
            "manifest": str(manifest) if manifest else None,
            "weights_from": weights_from,
            "data_root": str(dataset.root),
            "data_fingerprint": dataset.fingerprint,
            "clips": counts,
            "mix_data": mix.record() if mix is not None else None,
            "classes": [
                {"id": r.class_id, "slug": r.slug, "name": r.name, "family": r.family}
                for r in RUDIMENTS
            ],
            "parameters": parameters,
            "sample_rate": sample_rate,
            "accelerator": accelerator,
            "precision": precision,
            "versions": package_versions(),
            "git_commit": git_commit(),
            "host": socket.gethostname(),
            "python": platform.python_version(),
            "command": sys.argv,
            **({"sweep": sweep} if sweep is not None else {}),
        },
    )


def build_trainer(
    cfg: ExperimentConfig,
    run: RunDir,
    runlog: RunLog,
    accelerator: str,
    precision: str,
    *,
    is_zero: bool,
) -> Fit:
    """The Lightning trainer with our callbacks: checkpoints, events, graceful stop, early
    stopping, trackers; Lightning's own progress bar only on an interactive terminal."""
    import lightning as L
    from lightning.pytorch.callbacks import (
        EarlyStopping,
        LearningRateMonitor,
        ModelCheckpoint,
        RichProgressBar,
        WeightAveraging,
    )
    from torch.optim.swa_utils import get_ema_multi_avg_fn

    from sousa_train.training.callbacks import EventCheckpointIO, GracefulStop, RunEvents
    from sousa_train.training.trackers import hyperparameters, make_loggers

    warnings.filterwarnings("ignore", message=r".*isinstance\(treespec, LeafSpec\)")
    interactive = sys.stderr.isatty()
    stop = GracefulStop(run.last_ckpt)
    best = ModelCheckpoint(
        dirpath=run.checkpoints,
        filename="best",
        monitor="val/balanced_accuracy",
        mode="max",
        save_top_k=1,
        save_last=True,
        auto_insert_metric_name=False,
        enable_version_counter=False,
    )
    callbacks: list[Any] = [
        best,
        RunEvents(runlog, every_steps=cfg.train.log_every_steps, progress_lines=not interactive),
        stop,
    ]
    early = None
    if cfg.train.early_stop_patience > 0:
        early = EarlyStopping(
            "val/balanced_accuracy", mode="max", patience=cfg.train.early_stop_patience
        )
        callbacks.append(early)
    if cfg.train.ema_decay > 0:
        callbacks.append(WeightAveraging(multi_avg_fn=get_ema_multi_avg_fn(cfg.train.ema_decay)))
    if interactive:
        callbacks.append(RichProgressBar(console_kwargs={"file": sys.__stderr__}))
    loggers = make_loggers(cfg, run, is_zero=is_zero)
    if loggers:
        callbacks.append(LearningRateMonitor(logging_interval="step"))
        for tracker in loggers:
            tracker.log_hyperparams(hyperparameters(cfg))
    trainer = L.Trainer(
        accelerator=accelerator,
        devices=cfg.train.devices,
        num_nodes=cfg.train.num_nodes,
        strategy=cfg.train.parallel_strategy,
        precision=precision,
        max_epochs=cfg.train.max_epochs,
        max_time={"minutes": cfg.train.max_minutes} if cfg.train.max_minutes else None,
        accumulate_grad_batches=cfg.optim.accumulate_grad_batches,
        callbacks=callbacks,
        plugins=[EventCheckpointIO(runlog)],
        logger=loggers or False,
        log_every_n_steps=cfg.train.log_every_steps,
        enable_progress_bar=interactive,
        enable_model_summary=False,
        num_sanity_val_steps=0,
        default_root_dir=run.root,
    )
    return Fit(trainer, best, stop, early, loggers)


def run_fit(fit: Fit, module: Any, data: Any, resume_from: Path | None) -> None:
    """``trainer.fit`` with our signal handlers installed; a SIGTERM ends it, not the run."""
    from lightning.pytorch.utilities.exceptions import SIGTERMException

    fit.stop.install()
    try:
        # A checkpoint is loaded as data only: one copied from elsewhere cannot run code here.
        fit.trainer.fit(module, datamodule=data, ckpt_path=resume_from, weights_only=True)
    except SIGTERMException:
        pass
    except pickle.UnpicklingError:
        from sousa_train.evaluate import load_checkpoint

        assert resume_from is not None
        load_checkpoint(resume_from)  # raises the paragraph saying what was refused and why
        raise
    finally:
        fit.stop.uninstall()


def _stopped(cfg: ExperimentConfig, run: RunDir, runlog: RunLog, fit: Fit) -> int:
    """A stop signal arrived: keep last.ckpt so the same command resumes."""
    trainer = fit.trainer
    if not run.last_ckpt.exists():
        trainer.save_checkpoint(run.last_ckpt)
    runlog.event("end", reason="stopped", step=trainer.global_step)
    runlog.status("stopped")
    log.info(
        "stopped at step %d; `sousa-train run %s` resumes from %s",
        trainer.global_step,
        cfg.name,
        run.last_ckpt,
    )
    assert fit.stop.requested is not None
    return 128 + fit.stop.requested


def _pruned(run: RunDir, runlog: RunLog, fit: Fit) -> int:
    """The sweep's pruner gave up on this trial: a clean end, not evaluated (its figure is
    the validation curve Optuna judged)."""
    trainer = fit.trainer
    best = fit.best.best_model_score
    runlog.event(
        "end",
        reason="pruned",
        step=trainer.global_step,
        best_val_balanced_accuracy=float(best) if best is not None else None,
    )
    runlog.status("pruned", reason="pruned")
    return 0


def end_reason(fit: Fit) -> str:
    """Why training ended, from the state of the callbacks that end it."""
    from lightning.pytorch.callbacks import Timer

    if fit.early is not None and fit.early.stopped_epoch > 0:
        return "early_stopped"
    timer = next((c for c in fit.trainer.callbacks if isinstance(c, Timer)), None)
    if timer is not None and (timer.time_remaining("train") or 0.0) <= 0:
        return "time_limit"
    return "completed"


def finish(cfg: ExperimentConfig, run: RunDir, runlog: RunLog, fit: Fit) -> int:
    """Rank 0 after training: save the adapter, evaluate the best checkpoint on val and test,
    record the results and the end."""
    from sousa_train.evaluate import evaluate_run, load_classifier
    from sousa_train.finetune.strategies import STRATEGIES
    from sousa_train.training.trackers import log_results

    trainer = fit.trainer
    if not run.best_ckpt.exists():
        raise RuntimeError(
            "training ended without a validation pass, so there is no best checkpoint; "
            "check that the val split has clips and train.max_epochs >= 1"
        )
    if STRATEGIES[cfg.strategy].adapter:
        from sousa_train.finetune.adapters import save_adapter

        save_adapter(load_classifier(cfg, run.best_ckpt), run.adapter)
    reason = end_reason(fit)
    device = trainer.strategy.root_device
    results = {}
    for split in ("val", "test"):
        report = evaluate_run(run, split, checkpoint="best", device=device)
        runlog.event(
            "eval",
            split=split,
            checkpoint="best",
            **{
                k: report[k]
                for k in ("accuracy", "balanced_accuracy", "top5_accuracy", "macro_f1", "num_clips")
            },
        )
        results[split] = report
    log_results(fit.loggers, results, trainer.global_step)
    runlog.event(
        "end",
        reason=reason,
        step=trainer.global_step,
        best_val_balanced_accuracy=float(fit.best.best_model_score or 0.0),
        test_balanced_accuracy=results["test"]["balanced_accuracy"],
    )
    runlog.status("finished", reason=reason)
    print(
        f"test balanced accuracy: {results['test']['balanced_accuracy']:.4f} "
        f"(accuracy {results['test']['accuracy']:.4f}); results in {run.eval_dir('test')}"
    )
    return 0


def _accelerator_name(setting: str) -> str:
    import torch

    return resolve_accelerator(setting, torch)


def resolve_accelerator(setting: str, torch: Any) -> str:
    if setting != "auto":
        return "cuda" if setting == "gpu" else setting
    if torch.cuda.is_available():
        return "cuda"
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return "mps"
    return "cpu"


def resolve_precision(setting: str, accelerator: str) -> str:
    """Mixed precision where the hardware has it; on CPU, fp16 autocast falls back to fp32."""
    if setting == "32":
        return "32-true"
    if setting == "auto":
        if accelerator == "cuda":
            import torch

            return "bf16-mixed" if torch.cuda.is_bf16_supported() else "16-mixed"
        return "32-true"
    if setting == "16-mixed" and accelerator == "cpu":
        log.warning("precision 16-mixed is not supported on CPU; using 32-true")
        return "32-true"
    return setting


def package_versions() -> dict[str, str | None]:
    out: dict[str, str | None] = {}
    for name in PACKAGES:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


def git_commit() -> str | None:
    here = Path(__file__).resolve().parent
    try:
        result = subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=here, capture_output=True, text=True, timeout=5
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if result.returncode != 0:
        return None
    return result.stdout.strip() or None


def _same_settings(saved: dict[str, Any], cfg: ExperimentConfig) -> bool:
    try:
        before = experiment_from_dict(saved).to_dict()
    except (TypeError, ValueError):  # a key this version no longer has
        return False
    return _plain(before) == _plain(cfg.to_dict())


def _plain(value: Any) -> Any:
    """Tuples -> lists, as JSON would store them, so configs compare equal after a round trip."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
