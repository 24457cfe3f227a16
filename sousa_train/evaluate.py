"""Predictions and metrics of a run's checkpoint on one split, written under eval/<name>/.

Used at the end of every run (with the best checkpoint) and by `sousa-train eval`;
both read the run's own config.json, so a run copied from another machine
evaluates the same way. The run's own data set is scored into eval/<split>/, another
manifest data set into eval/<data>-<split>/, with the run's selection and loader settings.
Checkpoints are loaded as data only: a run pulled from elsewhere cannot run code here.
"""

from __future__ import annotations

import logging
import pickle
import re
import time
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import torch

from sousa_train.config.settings import DatasetSpec, ExperimentConfig, experiment_from_dict
from sousa_train.data.clips import Clip, Split
from sousa_train.data.dataset import pool_windows
from sousa_train.rudiments import RUDIMENTS, SLUGS
from sousa_train.rundir.layout import RunDir, read_json, write_json_atomic
from sousa_train.training.metrics import ClassificationMetrics, summary

log = logging.getLogger(__name__)


class EvalError(RuntimeError):
    pass


def load_run_config(run: RunDir) -> ExperimentConfig:
    data = read_json(run.config)
    if not isinstance(data, dict) or "experiment" not in data:
        raise EvalError(
            f"{run.config}: missing or unreadable; {run.root} is not a complete run directory "
            "(it needs the config.json that `sousa-train run` writes)."
        )
    return experiment_from_dict(data["experiment"])


def checkpoint_path(run: RunDir, which: str) -> Path:
    path = run.best_ckpt if which == "best" else run.last_ckpt
    if not path.is_file():
        raise EvalError(
            f"{path}: no {which} checkpoint in this run; the run ended before its first "
            "validation. Resume it with `sousa-train run EXPERIMENT`, or use --checkpoint last."
        )
    return path


def load_checkpoint(ckpt: Path) -> dict[str, Any]:
    """The checkpoint's contents, unpickled as data only (tensors, numbers, strings, dicts).

    A checkpoint is a pickle, and a pickle may name any function to call while it loads;
    ``weights_only=True`` refuses every such object, so a run copied from a colleague, a
    bucket or the Hub cannot execute anything here.
    """
    try:
        state = torch.load(ckpt, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as exc:
        found = re.search(r"Unsupported global: GLOBAL (\S+)", str(exc))
        if found is None:  # not an object it refused: the bytes are not a pickle at all
            raise _damaged(ckpt, "not a pickle torch.load can read") from exc
        raise EvalError(
            f"{ckpt}: refused: this checkpoint carries a pickled Python object, not only "
            f"weights (it calls {found[1]} when unpickled), and loading it could run code "
            "from the file. "
            "SOUSAphone's own checkpoints hold plain tensors and numbers; if this one was not "
            "written by `sousa-train run`, do not use it. Retrain, or get the run from its source."
        ) from exc
    except (RuntimeError, OSError, EOFError, ValueError) as exc:
        raise _damaged(ckpt, str(exc).strip() or type(exc).__name__) from exc
    if not isinstance(state, dict) or not isinstance(state.get("state_dict"), dict):
        raise EvalError(
            f"{ckpt}: holds no 'state_dict'; it is not a checkpoint written by `sousa-train "
            "run`. Use the run's own checkpoints/best.ckpt or last.ckpt."
        )
    return state


def _damaged(ckpt: Path, reason: str) -> EvalError:
    return EvalError(
        f"{ckpt}: not a readable PyTorch checkpoint ({reason}); "
        "the file is damaged or incomplete. Copy the run again, or use --checkpoint last."
    )


def load_classifier(cfg: ExperimentConfig, ckpt: Path) -> torch.nn.Module:
    """The run's model with the checkpoint's weights; no pretrained file is needed."""
    from sousa_train.finetune.strategies import apply_strategy
    from sousa_train.models.registry import experiment_model

    state = load_checkpoint(ckpt)["state_dict"]  # before building: refuse a bad file first
    model = experiment_model(cfg, pretrained=None)
    apply_strategy(model, cfg.strategy)  # adapter strategies saved a peft-wrapped network
    weights = {k.removeprefix("model."): v for k, v in state.items() if k.startswith("model.")}
    model.load_state_dict(weights)
    return model


def eval_name(cfg: ExperimentConfig, split: Split, data: DatasetSpec | None = None) -> str:
    """The eval/ folder name: the split for the run's own data set, else <data>-<split>."""
    return split if data is None or data.name == cfg.data.name else f"{data.name}-{split}"


@torch.inference_mode()
def evaluate_run(
    run: RunDir,
    split: Split,
    *,
    checkpoint: str = "best",
    device: torch.device | None = None,
    data: DatasetSpec | None = None,
) -> dict[str, Any]:
    """Score the checkpoint on ``split`` of the run's data set, or of ``data`` when given.

    Writes only eval/<name>/ (see :func:`eval_name`): events.jsonl belongs to the training
    process, which records its own evaluations.
    """
    from dataclasses import replace

    from sousa_train.data.datamodule import ClipDataModule
    from sousa_train.data.sources import open_experiment_data

    cfg = load_run_config(run)
    name = eval_name(cfg, split, data)
    ckpt = checkpoint_path(run, checkpoint)
    device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
    model = load_classifier(cfg, ckpt).to(device).eval()
    dataset = open_experiment_data(cfg if data is None else replace(cfg, data=data))
    datamodule = ClipDataModule(dataset, cfg.loader, model.sample_rate)
    clips = datamodule.clips(split)
    if not clips:
        raise EvalError(
            f"{dataset.root}: the {split} split of data set {(data or cfg.data).name!r} has no "
            "clips under the run's selection (select.* in its config.json); choose another "
            "--split, or check the data set with `sousa-train data check`."
        )
    metrics = ClassificationMetrics(model.num_classes, sync=False).to(device)
    rows: list[tuple[Clip, torch.Tensor]] = []
    skipped: list[str] = []
    started = time.monotonic()
    tenths = 0
    for batch in datamodule.loader_for(split, train=False):
        skipped.extend(batch["skipped"])
        done = len(rows) + len(skipped) + len(batch["index"])
        if done * 10 // max(len(clips), 1) > tenths:  # progress for the console, every 10 %
            tenths = done * 10 // max(len(clips), 1)
            log.info("%s split: %d/%d clips evaluated", split, done, len(clips))
        label = batch["label"].to(device)
        if label.numel() == 0:
            continue
        logits = pool_windows(
            model(batch["wave"].to(device)), batch["owner"].to(device), label.numel()
        )
        metrics.update(logits, label)
        probs = logits.float().softmax(-1).cpu()
        rows.extend((clips[int(i)], p) for i, p in zip(batch["index"], probs, strict=True))
    result = metrics.compute()
    out = run.eval_dir(name)
    out.mkdir(parents=True, exist_ok=True)
    _write_predictions(out / "predictions.parquet", rows)
    write_json_atomic(
        out / "confusion.json", {"labels": list(SLUGS), "matrix": result["confusion"]}
    )
    per_class = {
        r.slug: {
            "precision": result["precision"][r.class_id],
            "recall": result["recall"][r.class_id],
            "f1": result["f1"][r.class_id],
            "support": result["support"][r.class_id],
        }
        for r in RUDIMENTS
    }
    report = {
        "split": split,
        "data": (data or cfg.data).name,
        "data_root": str(dataset.root),
        "checkpoint": checkpoint,
        "checkpoint_path": str(ckpt.relative_to(run.root)),
        **summary(result),
        "num_clips": result["num_clips"],
        "num_skipped": len(skipped),
        "skipped": skipped[:20],
        "eval_seconds": time.monotonic() - started,
        "per_class": per_class,
    }
    write_json_atomic(out / "metrics.json", report)
    log.info(
        "%s (%s checkpoint): balanced accuracy %.4f, accuracy %.4f, top-5 %.4f, "
        "macro F1 %.4f over %d clips%s",
        name if name != split else f"{split} split",
        checkpoint,
        report["balanced_accuracy"],
        report["accuracy"],
        report["top5_accuracy"],
        report["macro_f1"],
        report["num_clips"],
        f" ({len(skipped)} unreadable clips skipped)" if skipped else "",
    )
    return report


def _write_predictions(path: Path, rows: list[tuple[Clip, torch.Tensor]]) -> None:
    k = min(5, rows[0][1].numel()) if rows else 5
    tops = [p.topk(k) for _, p in rows]
    table = pa.table(
        {
            "sample_id": [c.sample_id for c, _ in rows],
            "audio_path": [c.audio_path for c, _ in rows],
            "label": pa.array([c.label for c, _ in rows], pa.int32()),
            "pred": pa.array([int(t.indices[0]) for t in tops], pa.int32()),
            "label_slug": [c.slug for c, _ in rows],
            "pred_slug": [SLUGS[int(t.indices[0])] for t in tops],
            "confidence": pa.array([float(t.values[0]) for t in tops], pa.float32()),
            "top5_ids": pa.array([t.indices.tolist() for t in tops], pa.list_(pa.int32())),
            "top5_probs": pa.array([t.values.tolist() for t in tops], pa.list_(pa.float32())),
            "tempo_bpm": pa.array([c.tempo_bpm for c, _ in rows], pa.float64()),
            "skill_tier": pa.array([c.skill_tier for c, _ in rows], pa.string()),
            "augmentation_preset": pa.array([c.augmentation_preset for c, _ in rows], pa.string()),
            "soundfont": pa.array([c.soundfont for c, _ in rows], pa.string()),
            "profile_id": pa.array([c.profile_id for c, _ in rows], pa.string()),
            "duration_sec": pa.array([c.duration_sec for c, _ in rows], pa.float64()),
        }
    )
    tmp = path.with_name(f".{path.name}.tmp")
    pq.write_table(table, tmp)
    tmp.replace(path)
