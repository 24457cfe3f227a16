"""SOUSA-format data sets -> clip lists per split.

Two layouts: the generator's (``labels/samples.parquet`` + ``splits.json``, splits by player
profile) and the older single ``metadata.csv`` with a ``split`` column. Audio lives under
``audio/<slug>/<id>.flac`` or flat ``audio/<id>.flac``.
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import defaultdict
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sousa_train.data.clips import SPLITS, Clip, ClipFilter, Split
from sousa_train.rudiments import SLUGS, UnknownRudimentError, class_id, normalize_slug

REQUIRED = ("sample_id", "rudiment_slug")
SPLIT_ALIASES = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}


class DatasetError(ValueError):
    """A data set that cannot be used as it is; the message says where and what to do."""


class SousaDataset:
    def __init__(
        self, root: Path, layout: str, clips: list[Clip], fingerprint: str, problems: list[str]
    ) -> None:
        self.root = root
        self.layout = layout
        self.fingerprint = fingerprint
        self.problems = problems
        self._by_split: dict[str, list[Clip]] = {s: [] for s in SPLITS}
        for clip in clips:
            self._by_split[clip.split].append(clip)

    def clips(self, split: Split) -> list[Clip]:
        return self._by_split[split]

    def all_clips(self) -> list[Clip]:
        return [c for s in SPLITS for c in self._by_split[s]]

    def rudiments(self, split: Split | None = None) -> set[str]:
        clips = self.all_clips() if split is None else self.clips(split)
        return {c.slug for c in clips}

    def completeness_problems(self) -> list[str]:
        """Fatal gaps for training: an empty split, or a rudiment absent from some split."""
        problems = []
        present = self.rudiments()
        for split in SPLITS:
            if not self.clips(split):
                problems.append(f"the {split} split has no clips")
                continue
            missing = sorted(present - self.rudiments(split), key=SLUGS.index)
            if missing:
                problems.append(
                    f"the {split} split lacks {len(missing)} rudiment(s) the data set has: "
                    + ", ".join(missing[:8])
                    + (" ..." if len(missing) > 8 else "")
                )
        return problems

    def require_trainable(self) -> None:
        problems = self.completeness_problems()
        if problems:
            raise DatasetError(
                f"{self.root}: cannot train on this data set: {'; '.join(problems)}. "
                "Check splits.json (or the split column) and the clip selection "
                "(select.* settings), or run `sousa-train data check` for a full report."
            )


def open_dataset(root: Path, filters: ClipFilter | None = None) -> SousaDataset:
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"{root}: data set folder not found. Give the root of a SOUSA-format data set "
            "(with labels/samples.parquet and splits.json), or render the demo with "
            "`sousa-train demo-data --out DIR`."
        )
    parquet = root / "labels" / "samples.parquet"
    csv = root / "metadata.csv"
    problems: list[str] = []
    if parquet.is_file():
        table = _read(parquet, pq.read_table)
        split_of = _splits_from_json(root / "splits.json")
        label_file, layout = parquet, "sousa"
        rows = _rows(table, parquet)
        for row in rows:
            row["split"] = split_of.get(str(row.get("profile_id")))
        orphans = sum(r["split"] is None for r in rows)
        if orphans:
            problems.append(
                f"{orphans} clip(s) in {parquet} have a profile_id that is in no split of "
                "splits.json; they are left out"
            )
    elif csv.is_file():
        table = _read(csv, pacsv.read_csv)
        label_file, layout = csv, "metadata_csv"
        rows = _rows(table, csv, extra=("split",))
        for row in rows:
            row["split"] = SPLIT_ALIASES.get(str(row["split"]).strip().lower())
        bad = sum(r["split"] is None for r in rows)
        if bad:
            raise DatasetError(
                f"{csv}: {bad} row(s) have a split value other than train, val or test; "
                "fix the split column."
            )
    else:
        raise DatasetError(
            f"{root}: not a SOUSA-format data set: neither labels/samples.parquet nor "
            "metadata.csv is there. Point at the folder the SOUSA generator wrote, or render "
            "the demo with `sousa-train demo-data --out DIR`."
        )
    clips = [_clip(root, row, label_file) for row in rows if row["split"] is not None]
    clips = _select(clips, filters or ClipFilter(), root)
    stat = label_file.stat()
    key = f"{root.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    fingerprint = hashlib.sha1(key.encode()).hexdigest()[:12]
    return SousaDataset(root, layout, clips, fingerprint, problems)


def _read(path: Path, reader: Any) -> pa.Table:
    try:
        return reader(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(
            f"{path}: cannot be read ({exc}); the file is damaged or not what its name says."
        ) from exc


def _rows(table: pa.Table, path: Path, extra: tuple[str, ...] = ()) -> list[dict[str, Any]]:
    missing = [c for c in (*REQUIRED, *extra) if c not in table.column_names]
    if missing:
        raise DatasetError(
            f"{path}: missing required column(s) {', '.join(missing)}; it has "
            f"{', '.join(table.column_names)}. A SOUSA label table needs at least "
            f"{', '.join((*REQUIRED, *extra))}."
        )
    return table.to_pylist()


def _splits_from_json(path: Path) -> dict[str, Split]:
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing. A SOUSA data set assigns player profiles to splits in "
            'splits.json ({"train_profile_ids": [...], "val_profile_ids": [...], '
            '"test_profile_ids": [...]}); copy it along with the labels.'
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}).") from exc
    split_of: dict[str, Split] = {}
    for split in SPLITS:
        key = f"{split}_profile_ids"
        ids = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(ids, list):
            raise DatasetError(f"{path}: needs a list under {key!r}.")
        for pid in ids:
            if str(pid) in split_of:
                raise DatasetError(
                    f"{path}: profile {pid} is in both {split_of[str(pid)]} and {split}; a "
                    "player must be in one split only, or the test score leaks."
                )
            split_of[str(pid)] = split
    return split_of


def _clip(root: Path, row: dict[str, Any], label_file: Path) -> Clip:
    sample_id = str(row["sample_id"])
    try:
        slug = normalize_slug(str(row["rudiment_slug"]))
    except UnknownRudimentError as exc:
        raise DatasetError(f"{label_file}: clip {sample_id}: {exc}.") from exc
    rel = row.get("audio_path")
    if not rel:
        nested = f"audio/{slug}/{sample_id}.flac"
        rel = nested if (root / nested).exists() else f"audio/{sample_id}.flac"
    return Clip(
        sample_id=sample_id,
        path=root / str(rel),
        audio_path=str(rel),
        label=class_id(slug),
        slug=slug,
        split=row["split"],
        profile_id=_str(row.get("profile_id")),
        tempo_bpm=_float(row.get("tempo_bpm")),
        duration_sec=_float(row.get("duration_sec")),
        skill_tier=_str(row.get("skill_tier")),
        soundfont=_str(row.get("soundfont")),
        augmentation_preset=_str(row.get("augmentation_preset")),
    )


def _str(value: Any) -> str | None:
    return None if value is None else str(value)


def _float(value: Any) -> float | None:
    try:
        return None if value is None else float(value)
    except (TypeError, ValueError):
        return None


def _select(clips: list[Clip], f: ClipFilter, root: Path) -> list[Clip]:
    def keep(c: Clip) -> bool:
        if f.tempo_min is not None and (c.tempo_bpm is None or c.tempo_bpm < f.tempo_min):
            return False
        if f.tempo_max is not None and (c.tempo_bpm is None or c.tempo_bpm > f.tempo_max):
            return False
        checks = (
            (f.soundfonts, c.soundfont),
            (f.augmentation_presets, c.augmentation_preset),
            (f.skill_tiers, c.skill_tier),
        )
        return all(not allowed or value in allowed for allowed, value in checks)

    kept = [c for c in clips if keep(c)]
    if clips and not kept:
        raise DatasetError(
            f"{root}: the clip selection (tempo, soundfont, augmentation preset, skill tier) "
            "leaves no clips; loosen the select.* settings."
        )
    if f.max_clips_per_split is None:
        return kept
    out: list[Clip] = []
    for split in SPLITS:
        out.extend(
            _budget(
                [c for c in kept if c.split == split], f.max_clips_per_split, f.seed, root, split
            )
        )
    return out


def _budget(clips: list[Clip], budget: int, seed: int, root: Path, split: str) -> list[Clip]:
    """At most ``budget`` clips, taken round-robin over rudiments so none disappears."""
    if len(clips) <= budget:
        return clips
    groups: dict[int, list[Clip]] = defaultdict(list)
    for clip in clips:
        groups[clip.label].append(clip)
    if budget < len(groups):
        raise DatasetError(
            f"{root}: select.max_clips_per_split = {budget} is smaller than the {len(groups)} "
            f"rudiments of the {split} split; raise it to at least {len(groups)}."
        )
    rng = random.Random(seed)
    for label in sorted(groups):
        groups[label].sort(key=lambda c: c.sample_id)
        rng.shuffle(groups[label])
    out: list[Clip] = []
    depth = 0
    while len(out) < budget:
        for label in sorted(groups):
            if depth < len(groups[label]) and len(out) < budget:
                out.append(groups[label][depth])
        depth += 1
    return out
