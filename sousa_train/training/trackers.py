"""Lightning's own loggers for the trackers an experiment opts into (``[trackers]``).

The run directory stays the record; trackers are copies for the tools people already
use. Lightning logs only on global rank 0. Each backend's package is an optional extra
(``pip install 'sousaphone[trackers]'``); a missing one is an error before training starts.
"""

from __future__ import annotations

import importlib.util
import logging
import netrc
import os
import socket
from typing import Any
from urllib.parse import urlparse

from sousa_train.config.settings import ExperimentConfig
from sousa_train.rundir.layout import RunDir

log = logging.getLogger(__name__)

PACKAGES = {"tensorboard": "tensorboard", "mlflow": "mlflow", "wandb": "wandb"}
WANDB_DEFAULT_URL = "https://api.wandb.ai"


class TrackerError(RuntimeError):
    pass


def make_loggers(cfg: ExperimentConfig, run: RunDir, *, is_zero: bool) -> list[Any]:
    """One Lightning logger per backend in ``cfg.trackers.backends``, named after the run."""
    for backend in cfg.trackers.backends:
        if importlib.util.find_spec(PACKAGES[backend]) is None:
            raise TrackerError(
                f"experiments.{cfg.name}.trackers.backends lists {backend!r}, but its package "
                f"({PACKAGES[backend]}) is not installed. Install the trackers extra: "
                "pip install 'sousaphone[trackers]', or remove it from the manifest."
            )
    loggers: list[Any] = []
    if "tensorboard" in cfg.trackers.backends:
        from lightning.pytorch.loggers import TensorBoardLogger

        loggers.append(TensorBoardLogger(save_dir=run.root, name="tensorboard", version=""))
    if "mlflow" in cfg.trackers.backends:
        from lightning.pytorch.loggers import MLFlowLogger

        runs_dir = run.root.parents[1]
        loggers.append(
            MLFlowLogger(
                experiment_name=cfg.name,
                run_name=run.run_id,
                tracking_uri=cfg.trackers.mlflow_uri or f"sqlite:///{runs_dir / 'mlflow.db'}",
                artifact_location=str(runs_dir / "mlflow-artifacts"),
            )
        )
    if "wandb" in cfg.trackers.backends:
        from lightning.pytorch.loggers import WandbLogger

        loggers.append(
            WandbLogger(
                project=cfg.trackers.wandb_project,
                name=run.run_id,
                id=run.run_id,
                save_dir=str(run.root),
                mode=wandb_mode() if is_zero else "offline",
                resume="allow",
            )
        )
    return loggers


def wandb_mode() -> str:
    """``online`` when the W&B service answers and a key is set, else ``offline`` with a
    notice; an explicit WANDB_MODE is obeyed as it is."""
    if os.environ.get("WANDB_MODE"):
        return os.environ["WANDB_MODE"]
    url = os.environ.get("WANDB_BASE_URL", WANDB_DEFAULT_URL)
    reason = None
    parts = urlparse(url)
    try:
        port = parts.port or (443 if parts.scheme == "https" else 80)
        with socket.create_connection((parts.hostname or "", port), timeout=3):
            pass
    except (OSError, ValueError) as exc:
        reason = f"cannot reach {url} ({exc})"
    if reason is None and not _wandb_key(parts.hostname or ""):
        reason = "no API key (run `wandb login` or set WANDB_API_KEY)"
    if reason is None:
        return "online"
    log.warning(
        "W&B: %s; logging offline into the run directory's wandb/ folder. "
        "Upload later with `wandb sync <run dir>/wandb/offline-run-*`.",
        reason,
    )
    return "offline"


def _wandb_key(host: str) -> bool:
    """A key from the environment or from `wandb login` (which stores it in ~/.netrc)."""
    if os.environ.get("WANDB_API_KEY"):
        return True
    try:
        return netrc.netrc().authenticators(host) is not None
    except (OSError, netrc.NetrcParseError):
        return False


def log_results(loggers: list[Any], results: dict[str, dict[str, Any]], step: int) -> None:
    """The final val/test evaluation of the best checkpoint, which runs after fit."""
    metrics = {
        f"{split}/best_{key}": float(report[key])
        for split, report in results.items()
        for key in ("accuracy", "balanced_accuracy", "top5_accuracy", "macro_f1")
    }
    for logger in loggers:
        logger.log_metrics(metrics, step=step)
        logger.finalize("success")


def hyperparameters(cfg: ExperimentConfig) -> dict[str, Any]:
    """The experiment's settings flattened to dotted names (``optim.lr``), as trackers show."""
    flat: dict[str, Any] = {}

    def walk(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, inner in value.items():
                walk(f"{prefix}.{key}" if prefix else key, inner)
        elif isinstance(value, (list, tuple)):
            flat[prefix] = ",".join(map(str, value))
        else:
            flat[prefix] = value

    walk("", cfg.to_dict())
    return flat
