"""Everything the evaluation browser shows, computed from one split's `predictions.parquet`.

Pure data (numpy, pyarrow; no torch, no Textual), so the numbers on screen, in the exported
files and in the tests come from one place. Every figure is derived from the per-clip
predictions rather than from metrics.json, so the matrix, the tables and the clip lists
can never disagree with each other.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sousa_train.rudiments import FAMILIES, NUM_CLASSES, RUDIMENTS
from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.scores import Scores, balanced_accuracy, per_class, scores

SKILL_ORDER = ("beginner", "intermediate", "advanced", "professional")
# Tempo bands (BPM, lower bound inclusive) wide enough that each holds clips of most rudiments.
TEMPO_BANDS: tuple[tuple[float, float, str], ...] = (
    (0.0, 80.0, "< 80 bpm"),
    (80.0, 120.0, "80-119 bpm"),
    (120.0, 160.0, "120-159 bpm"),
    (160.0, float("inf"), "160+ bpm"),
)
FAMILY_OF_CLASS = np.array([FAMILIES.index(r.family) for r in RUDIMENTS])
OWN_SPLITS = ("test", "val")  # the run's own data, in the order `v` visits them


class EvalFilesError(RuntimeError):
    """An evaluation folder that cannot be read; the message says which file and what to do."""


@dataclass(frozen=True)
class Prediction:
    """One evaluated clip: what it is, what the model said, and how it was played."""

    sample_id: str
    audio_path: str
    label: int
    pred: int
    confidence: float
    tempo_bpm: float | None
    skill_tier: str | None
    augmentation_preset: str | None

    @property
    def correct(self) -> bool:
        return self.label == self.pred


@dataclass(frozen=True)
class GroupScore:
    """Balanced accuracy of the clips sharing one value of an attribute (a family, a tier...)."""

    name: str
    balanced_accuracy: float
    clips: int


@dataclass(frozen=True)
class RudimentRow:
    """One line of the per-rudiment table; ``confused_with`` is the commonest wrong answer's id."""

    pas: int
    slug: str
    name: str
    family: str
    precision: float
    recall: float
    f1: float
    support: int
    confused_with: int | None
    confused_count: int


@dataclass
class EvalData:
    """One split's evaluation of one run, with the matrix built once."""

    run: RunDir
    split: str
    predictions: list[Prediction]
    data_root: Path | None
    top5_hits: int

    def __post_init__(self) -> None:
        self.confusion = confusion_matrix(self.predictions)

    @property
    def folder(self) -> Path:
        return self.run.eval_dir(self.split)


def predictions_path(run: RunDir, split: str) -> Path:
    return run.eval_dir(split) / "predictions.parquet"


def eval_names(run: RunDir) -> list[str]:
    """Every evaluation the browser offers: the run's test and val splits (evaluated on
    demand), then each other eval/<data>-<split>/ folder that holds predictions."""
    found = sorted(p.parent.name for p in (run.root / "eval").glob("*/predictions.parquet"))
    return [*OWN_SPLITS, *(name for name in found if name not in OWN_SPLITS)]


def eval_args(name: str) -> list[str]:
    """The `sousa-train eval` options that write eval/<name>/ (a split, or <data>-<split>)."""
    if name in OWN_SPLITS:
        return ["--split", name]
    data, _, split = name.rpartition("-")
    return ["--data", data, "--split", split]


def eval_title(name: str) -> str:
    """What eval/<name>/ holds, in words, for the browser's title."""
    if name in OWN_SPLITS:
        return f"{name} split"
    data, _, split = name.rpartition("-")
    return f"{split} split of data set {data}"


def load_eval(run_dir: Path, split: str) -> EvalData:
    """Read eval/<split>/predictions.parquet and its data root (for playing clips).

    ``split`` names the eval folder: a split of the run's data, or <data>-<split>. The data
    root is the one that evaluation recorded in its metrics.json, else the run's own.
    """
    run = RunDir(run_dir)
    path = predictions_path(run, split)
    again = f"`sousa-train eval {run.root} {' '.join(eval_args(split))}`"
    try:
        table = pq.read_table(path)
    except (OSError, ValueError) as exc:
        raise EvalFilesError(
            f"{path}: cannot read the {split} predictions ({exc}). Evaluate the run again with "
            f"{again}."
        ) from exc
    missing = {"sample_id", "audio_path", "label", "pred"} - set(table.column_names)
    if missing:
        raise EvalFilesError(
            f"{path}: columns {sorted(missing)} are missing; it was not written by "
            f"`sousa-train eval`. Evaluate the run again with {again}."
        )
    columns = {name: table.column(name).to_pylist() for name in table.column_names}
    n = table.num_rows
    labels, preds = columns["label"], columns["pred"]
    bad = [
        i for i in range(n) if not (0 <= labels[i] < NUM_CLASSES and 0 <= preds[i] < NUM_CLASSES)
    ]
    if bad:
        raise EvalFilesError(
            f"{path}: row {bad[0]} has a class id outside 0..{NUM_CLASSES - 1}; these are not "
            "predictions over the 40 rudiments. Evaluate the run again with `sousa-train eval`."
        )
    none = [None] * n
    predictions = [
        Prediction(
            sample_id=columns["sample_id"][i],
            audio_path=columns["audio_path"][i],
            label=labels[i],
            pred=preds[i],
            confidence=float(columns.get("confidence", none)[i] or 0.0),
            tempo_bpm=columns.get("tempo_bpm", none)[i],
            skill_tier=columns.get("skill_tier", none)[i],
            augmentation_preset=columns.get("augmentation_preset", none)[i],
        )
        for i in range(n)
    ]
    top5 = columns.get("top5_ids", none)
    hits = sum(1 for p, ids in zip(predictions, top5, strict=True) if ids and p.label in ids)
    metrics = read_json(run.eval_dir(split) / "metrics.json") or {}
    root = metrics.get("data_root") or (read_json(run.config) or {}).get("data_root")
    return EvalData(run, split, predictions, Path(root) if root else None, hits)


def confusion_matrix(predictions: Iterable[Prediction]) -> np.ndarray:
    """Counts, rows = true class, columns = predicted class, both in PAS order."""
    matrix = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
    for p in predictions:
        matrix[p.label, p.pred] += 1
    return matrix


def family_matrix(confusion: np.ndarray) -> np.ndarray:
    """The 4x4 roll/diddle/flam/drag matrix: class counts summed into their families."""
    out = np.zeros((len(FAMILIES), len(FAMILIES)), dtype=np.int64)
    np.add.at(out, (FAMILY_OF_CLASS[:, None], FAMILY_OF_CLASS[None, :]), confusion)
    return out


def row_normalised(matrix: np.ndarray) -> np.ndarray:
    """Each row divided by its total (the true class's clips); empty rows stay zero."""
    totals = matrix.sum(axis=1, keepdims=True)
    return np.divide(matrix, totals, out=np.zeros(matrix.shape), where=totals > 0)


def summary(data: EvalData) -> Scores:
    return scores(data.confusion, data.top5_hits)


def per_rudiment(confusion: np.ndarray) -> list[RudimentRow]:
    classes = per_class(confusion)
    wrong = confusion.copy()
    np.fill_diagonal(wrong, 0)
    rows = []
    for r in RUDIMENTS:
        worst = int(wrong[r.class_id].argmax())
        count = int(wrong[r.class_id, worst])
        rows.append(
            RudimentRow(
                pas=r.pas,
                slug=r.slug,
                name=r.name,
                family=r.family,
                precision=float(classes.precision[r.class_id]),
                recall=float(classes.recall[r.class_id]),
                f1=float(classes.f1[r.class_id]),
                support=int(classes.support[r.class_id]),
                confused_with=worst if count else None,
                confused_count=count,
            )
        )
    return rows


def _tempo_band(bpm: float | None) -> str | None:
    if bpm is None:
        return None
    return next(name for low, high, name in TEMPO_BANDS if low <= bpm < high)


def _group_scores(
    predictions: Sequence[Prediction],
    key: Callable[[Prediction], str | None],
    order: Sequence[str] = (),
) -> list[GroupScore]:
    groups: dict[str, list[Prediction]] = {}
    for p in predictions:
        name = key(p)
        if name is not None:
            groups.setdefault(name, []).append(p)
    rank = {name: i for i, name in enumerate(order)}
    names = sorted(groups, key=lambda name: (rank.get(name, len(rank)), name))
    return [
        GroupScore(name, balanced_accuracy(confusion_matrix(groups[name])), len(groups[name]))
        for name in names
    ]


def breakdowns(predictions: Sequence[Prediction]) -> dict[str, list[GroupScore]]:
    """Balanced accuracy by family, skill tier, tempo band and augmentation preset.

    An attribute the data set does not record (every value missing) is left out.
    """
    found = {
        "family": _group_scores(predictions, lambda p: RUDIMENTS[p.label].family, FAMILIES),
        "skill tier": _group_scores(predictions, lambda p: p.skill_tier, SKILL_ORDER),
        "tempo band": _group_scores(
            predictions,
            lambda p: _tempo_band(p.tempo_bpm),
            [name for _, _, name in TEMPO_BANDS],
        ),
        "augmentation": _group_scores(predictions, lambda p: p.augmentation_preset),
    }
    return {name: groups for name, groups in found.items() if groups}


def cell_clips(predictions: Iterable[Prediction], true: int, pred: int) -> list[Prediction]:
    """The clips of one matrix cell, most confident first."""
    clips = [p for p in predictions if p.label == true and p.pred == pred]
    return sorted(clips, key=lambda p: -p.confidence)


def mistakes(predictions: Iterable[Prediction]) -> list[Prediction]:
    """Every misclassified clip, most confident (most surprising) first."""
    return sorted((p for p in predictions if not p.correct), key=lambda p: -p.confidence)


def reference_clip(predictions: Iterable[Prediction], class_id: int) -> Prediction | None:
    """A clip that shows what ``class_id`` really sounds like, for A/B listening.

    Prefers the most confident correct prediction; falls back to any clip of that class
    (a weak model may get none right), and None when the split has no clip of it.
    """
    of_class = [p for p in predictions if p.label == class_id]
    return max(of_class, key=lambda p: (p.correct, p.confidence), default=None)


def audio_file(data: EvalData, clip: Prediction) -> Path:
    """Where a clip's audio is: its path is relative to the data root recorded in config.json.

    For a Hub-layout data set that is ``<root>/<shard>#row=<n>`` (see sousa_train.data.shards),
    which the player reads from the shard.
    """
    path = Path(clip.audio_path)
    if path.is_absolute():
        return path
    if data.data_root is None:
        raise EvalFilesError(
            f"{data.run.config}: records no data_root, so {clip.audio_path} cannot be found. "
            'Add "data_root": "<the data set folder>" to it to play this run\'s clips.'
        )
    return data.data_root / path
