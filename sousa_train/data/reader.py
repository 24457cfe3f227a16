"""SOUSA-format data sets -> validated clip lists per split.

Three layouts: the generator's (``labels/samples.parquet`` + ``splits.json``, splits by player
profile, so no player is in two splits), the Hugging Face Hub's (``audio/<split>-*.parquet``
shards holding labels and FLAC bytes, the split is the shard's; see data/shards.py) and the
older single ``metadata.csv`` with a ``split`` column. Audio lives where ``audio_path`` says,
else ``audio/<slug>/<id>.flac``, else flat ``audio/<id>.flac``; in a shard, in its row.
Everything wrong with the label files is a :class:`DatasetError` that names the file and says
what to do; audio is not decoded here (``sousa-train data check`` does).
"""

from __future__ import annotations

import hashlib
import json
import random
from collections import Counter, defaultdict
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, Literal

import pyarrow as pa
import pyarrow.csv as pacsv
import pyarrow.parquet as pq

from sousa_train.config.settings import SelectSettings
from sousa_train.data.clips import SPLITS, Clip, DatasetError, Split
from sousa_train.data.shards import AUDIO_CONFIG, audio_shards, location, parse_location
from sousa_train.rudiments import NUM_CLASSES, SLUGS, UnknownRudimentError, normalize_slug

Layout = Literal["sousa", "hub", "metadata_csv"]

SPLIT_ALIASES: dict[str, Split] = {
    "train": "train",
    "val": "val",
    "valid": "val",
    "validation": "val",
    "test": "test",
}
# Column -> kind of values it must hold. "id" columns may be text or integers.
_REQUIRED_SOUSA = {"sample_id": "id", "rudiment_slug": "text", "profile_id": "id"}
_REQUIRED_CSV = {"sample_id": "id", "rudiment_slug": "text", "split": "text"}
_REQUIRED_HUB = {"sample_id": "id", "rudiment_slug": "text"}
_OPTIONAL = {
    "profile_id": "id",
    "audio_path": "text",
    "tempo_bpm": "number",
    "duration_sec": "number",
    "skill_tier": "id",
    "soundfont": "id",
    "augmentation_preset": "id",
}
# Text-like columns are read from CSV as strings, so an id such as "007" keeps its zeros.
_CSV_TEXT = (
    "sample_id",
    "rudiment_slug",
    "split",
    *(c for c in _OPTIONAL if _OPTIONAL[c] != "number"),
)
SHOW = 5


class SousaDataset:
    """The clips of one data set, by split, after the clip selection."""

    def __init__(
        self,
        root: Path,
        layout: Layout,
        label_file: Path,
        clips: list[Clip],
        fingerprint: str,
        problems: list[str],
    ) -> None:
        self.root = root
        self.layout: Layout = layout
        self.label_file = label_file
        self.fingerprint = fingerprint
        self.problems = problems
        self._by_split: dict[Split, list[Clip]] = {s: [] for s in SPLITS}
        for clip in clips:
            self._by_split[clip.split].append(clip)

    def clips(self, split: Split) -> list[Clip]:
        return self._by_split[split]

    def all_clips(self) -> list[Clip]:
        return [c for s in SPLITS for c in self._by_split[s]]

    def rudiments(self, split: Split | None = None) -> set[str]:
        """Slugs with at least one clip (in ``split``, or anywhere)."""
        clips = self.all_clips() if split is None else self.clips(split)
        return {c.slug for c in clips}

    def completeness_problems(self) -> list[str]:
        """What makes the data set untrainable: an empty split, or a split lacking a rudiment
        that other splits have (its val/test score would be meaningless)."""
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
                    + _few(missing, 8)
                )
        return problems

    def require_trainable(self) -> None:
        problems = self.completeness_problems()
        if problems:
            raise DatasetError(
                f"{self.root}: cannot train on this data set: {'; '.join(problems)}. Check "
                f"{self.label_file.name} and the split assignment, loosen the clip selection "
                "(select.* settings), or run `sousa-train data check` for a full report."
            )


def open_dataset(root: Path, select: SelectSettings | None = None, seed: int = 0) -> SousaDataset:
    """Read and validate a data set's labels and splits, then apply the clip selection
    (``seed`` orders the per-split budget; runs pass their ``train.seed``)."""
    root = Path(root).expanduser()
    if not root.is_dir():
        raise DatasetError(
            f"{root}: data set folder not found. Give the root of a SOUSA-format data set "
            "(with labels/samples.parquet and splits.json, the Hub's audio/*.parquet shards, "
            "or metadata.csv), or render the demo with `sousa-train demo-data --out DIR`."
        )
    parquet = root / "labels" / "samples.parquet"
    csv = root / "metadata.csv"
    problems: list[str] = []
    layout: Layout
    sources = [parquet]
    if parquet.is_file():
        layout, label_file = "sousa", parquet
        table = _read(parquet, pq.read_table)
        rows = _rows(table, parquet, _REQUIRED_SOUSA)
        split_of = _splits_from_json(root / "splits.json")
        for row in rows:
            row["split"] = split_of.get(str(row["profile_id"]))
        orphans = [r for r in rows if r["split"] is None]
        if orphans:
            profiles = sorted({str(r["profile_id"]) for r in orphans})
            problems.append(
                f"{len(orphans)} clip(s) in {parquet} belong to {len(profiles)} profile(s) that "
                f"are in no split of splits.json ({_few(profiles, 3)}); they are left out"
            )
            rows = [r for r in rows if r["split"] is not None]
    elif (shards := audio_shards(root)) is not None:
        layout, label_file, sources = "hub", shards[0][0], [s for s, _ in shards]
        rows = [row for shard, split in shards for row in _shard_rows(root, shard, split)]
    elif csv.is_file():
        layout, label_file, sources = "metadata_csv", csv, [csv]
        text = pacsv.ConvertOptions(column_types={c: pa.string() for c in _CSV_TEXT})
        table = _read(csv, lambda p: pacsv.read_csv(p, convert_options=text))
        rows = _rows(table, csv, _REQUIRED_CSV)
        for row in rows:
            row["split"] = _split_name(row["split"])
        _check_splits(rows, csv)
    else:
        raise DatasetError(
            f"{root}: not a SOUSA-format data set: neither labels/samples.parquet, "
            "audio/*.parquet (the Hub's layout) nor metadata.csv is there. Point at the folder "
            "the SOUSA generator wrote or the Hub release, or render the demo with "
            "`sousa-train demo-data --out DIR`."
        )
    _check_unique_ids(rows, label_file)
    slugs = _slugs(rows, label_file)
    clips = [_clip(root, layout, row, slug) for row, slug in zip(rows, slugs, strict=True)]
    absent = NUM_CLASSES - len({c.slug for c in clips})
    if clips and absent:
        problems.append(
            f"{absent} of the {NUM_CLASSES} rudiments have no clips in this data set "
            "(models still have all 40 outputs)"
        )
    clips = _select(clips, select or SelectSettings(), seed, root, problems)
    return SousaDataset(root, layout, label_file, clips, _fingerprint(root, sources), problems)


def _split_name(value: Any) -> Any:
    """The split a name means (validation and valid are val), else the name as it was."""
    return SPLIT_ALIASES.get(str(value).strip().lower(), value)


def _check_splits(rows: list[dict[str, Any]], path: Path) -> None:
    bad = Counter(str(r["split"]) for r in rows if r["split"] not in SPLITS)
    if bad:
        raise DatasetError(
            f"{path}: {sum(bad.values())} row(s) have a split that is not train, val or "
            f"test ({_few([repr(v) for v in bad], SHOW)}); fix the split "
            f"{'column' if path.suffix == '.csv' else 'in the file name'} (validation and "
            "valid are accepted for val)."
        )


def _shard_rows(root: Path, shard: Path, split: str) -> list[dict[str, Any]]:
    """The label columns of one Hub shard (never its audio), each row knowing where it is."""
    schema = _read(shard, pq.read_schema)
    if AUDIO_CONFIG not in schema.names:
        raise DatasetError(
            f"{shard}: has no {AUDIO_CONFIG!r} column, so it holds no sound (the release's "
            "labels_only or midi_only config?). Use the shards of the audio config."
        )
    wanted = [c for c in (*_REQUIRED_HUB, *_OPTIONAL) if c in schema.names]
    table = _read(shard, lambda p: pq.read_table(p, columns=wanted))
    rows = _rows(table, shard, _REQUIRED_HUB)
    rel = shard.relative_to(root).as_posix()
    for i, row in enumerate(rows):
        row["split"] = _split_name(split)
        row["audio_path"] = location(rel, i)
        row["row"] = i
    _check_splits(rows, shard)
    return rows


def _fingerprint(root: Path, sources: list[Path]) -> str:
    """Identifies the audio a data set holds, for the waveform cache key.

    The generator rewrites the label table whenever it rewrites audio, and a Hub shard holds
    its audio, so the label files' (shards') sizes and modification times stand in for the
    audio's content without reading it.
    """
    stats = [source.stat() for source in sources]
    key = "|".join([str(root.resolve()), *(f"{s.st_size}|{s.st_mtime_ns}" for s in stats)])
    return hashlib.sha1(key.encode()).hexdigest()[:12]


def _read(path: Path, reader: Callable[[Path], pa.Table]) -> pa.Table:
    try:
        return reader(path)
    except (pa.ArrowException, OSError) as exc:
        raise DatasetError(
            f"{path}: cannot be read ({exc}); the file is damaged or not what its name says. "
            "Copy it again from the data set's source."
        ) from exc


def _kind_ok(kind: str, t: pa.DataType) -> bool:
    if pa.types.is_null(t):
        return True
    if pa.types.is_dictionary(t):
        t = t.value_type
    text = pa.types.is_string(t) or pa.types.is_large_string(t)
    if kind == "text":
        return text
    if kind == "id":
        return text or pa.types.is_integer(t)
    return pa.types.is_integer(t) or pa.types.is_floating(t)


_KIND_WORDS = {"text": "text", "id": "text or integers", "number": "numbers"}


def _rows(table: pa.Table, path: Path, required: dict[str, str]) -> list[dict[str, Any]]:
    """The rows, after checking that every column the reader uses exists and has usable values."""
    names = table.column_names
    missing = [c for c in required if c not in names]
    if missing:
        raise DatasetError(
            f"{path}: missing required column(s) {', '.join(missing)}; it has "
            f"{', '.join(names)}. A label table needs at least {', '.join(required)}."
        )
    wanted = {**_OPTIONAL, **required}
    used = [c for c in wanted if c in names]
    issues = [
        f"{c} is {table.schema.field(c).type}, expected {_KIND_WORDS[wanted[c]]}"
        for c in used
        if not _kind_ok(wanted[c], table.schema.field(c).type)
    ]
    issues += [
        f"required column {c} has {table[c].null_count} empty value(s)"
        for c in required
        if table[c].null_count
    ]
    if issues:
        raise DatasetError(
            f"{path}: unusable column(s): {'; '.join(issues)}. Fix these columns in the label "
            "table (or regenerate it)."
        )
    return table.select(used).to_pylist()


def _splits_from_json(path: Path) -> dict[str, Split]:
    """profile_id -> split; a profile listed in two splits would leak players into test."""
    if not path.is_file():
        raise DatasetError(
            f"{path}: missing. A SOUSA data set assigns player profiles to splits in "
            'splits.json ({"train_profile_ids": [...], "val_profile_ids": [...], '
            '"test_profile_ids": [...]}); copy it along with the labels.'
        )
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise DatasetError(f"{path}: not valid JSON ({exc}); copy it again.") from exc
    split_of: dict[str, Split] = {}
    for split in SPLITS:
        key = f"{split}_profile_ids"
        ids = doc.get(key) if isinstance(doc, dict) else None
        if not isinstance(ids, list):
            raise DatasetError(
                f"{path}: needs a list of profile ids under {key!r} (it has "
                f"{', '.join(map(repr, doc)) if isinstance(doc, dict) else type(doc).__name__})."
            )
        for pid in ids:
            if str(pid) in split_of:
                raise DatasetError(
                    f"{path}: profile {pid} is in both {split_of[str(pid)]} and {split}; a "
                    "player must be in one split only, or the test score leaks. Remove it "
                    "from one of the lists."
                )
            split_of[str(pid)] = split
    return split_of


def _check_unique_ids(rows: list[dict[str, Any]], path: Path) -> None:
    """Predictions and the waveform cache are keyed by sample_id, so it must be unique."""
    dupes = [sid for sid, n in Counter(str(r["sample_id"]) for r in rows).items() if n > 1]
    if dupes:
        raise DatasetError(
            f"{path}: {len(dupes)} sample_id value(s) appear more than once "
            f"({_few(dupes, SHOW)}); each clip needs its own id. Remove the duplicate rows."
        )


def _slugs(rows: list[dict[str, Any]], path: Path) -> list[str]:
    """Normalised slugs; every unknown label is reported at once, with a few valid ones."""
    slugs: list[str] = []
    unknown: Counter[str] = Counter()
    for row in rows:
        label = str(row["rudiment_slug"])
        try:
            slugs.append(normalize_slug(label))
        except UnknownRudimentError:
            unknown[label] += 1
    if unknown:
        listed = "; ".join(
            f"{label!r} is not one of the 40 PAS rudiments ({n} clip(s))"
            for label, n in unknown.most_common(SHOW)
        )
        more = f"; and {len(unknown) - SHOW} more labels" if len(unknown) > SHOW else ""
        raise DatasetError(
            f"{path}: unknown rudiment_slug labels: {listed}{more}. Valid labels are SOUSA "
            f"slugs such as {', '.join(SLUGS[i] for i in (0, 15, 20, 35))} (all 40 in "
            "sousa_train.rudiments); dashes, case and single_paradiddle_diddle are accepted."
        )
    return slugs


def _clip(root: Path, layout: Layout, row: dict[str, Any], slug: str) -> Clip:
    sample_id = str(row["sample_id"])
    rel = _str(row.get("audio_path"))
    row_in_shard = row.get("row")
    if rel is None:
        nested, flat = f"audio/{slug}/{sample_id}.flac", f"audio/{sample_id}.flac"
        found = [p for p in (nested, flat) if (root / p).exists()]
        rel = found[0] if found else (nested if layout == "sousa" else flat)
    return Clip(
        sample_id=sample_id,
        path=root / (rel if row_in_shard is None else parse_location(rel)[0]),
        audio_path=rel,
        label=SLUGS.index(slug),
        slug=slug,
        split=row["split"],
        profile_id=_str(row.get("profile_id")),
        tempo_bpm=_float(row.get("tempo_bpm")),
        duration_sec=_float(row.get("duration_sec")),
        skill_tier=_str(row.get("skill_tier")),
        soundfont=_str(row.get("soundfont")),
        augmentation_preset=_str(row.get("augmentation_preset")),
        row=row_in_shard,
    )


def _str(value: Any) -> str | None:
    return None if value is None or value == "" else str(value)


def _float(value: Any) -> float | None:
    """None for a missing number: null, or NaN as the Hub release writes it."""
    return None if value is None or value != value else float(value)


def _few(items: Iterable[str], n: int) -> str:
    items = list(items)
    return ", ".join(items[:n]) + (f" and {len(items) - n} more" if len(items) > n else "")


def _select(
    clips: list[Clip], f: SelectSettings, seed: int, root: Path, notes: list[str]
) -> list[Clip]:
    """Apply the filters, then the per-split budget; a filter value no clip has is a note."""
    for name, allowed, values in (
        ("soundfonts", f.soundfonts, {c.soundfont for c in clips}),
        ("augmentation_presets", f.augmentation_presets, {c.augmentation_preset for c in clips}),
        ("skill_tiers", f.skill_tiers, {c.skill_tier for c in clips}),
    ):
        unmatched = [v for v in allowed if v not in values]
        if unmatched:
            seen = sorted(v for v in values if v is not None)
            notes.append(
                f"select.{name}: {', '.join(map(repr, unmatched))} match no clip "
                f"(the data set has {_few(seen, 8) or 'none'})"
            )

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
        in_split = [c for c in kept if c.split == split]
        out.extend(_budget(in_split, f.max_clips_per_split, seed, root, split))
    return out


def _budget(clips: list[Clip], budget: int, seed: int, root: Path, split: str) -> list[Clip]:
    """At most ``budget`` clips, taken round-robin over rudiments so none disappears.

    Each rudiment's clips are shuffled by ``seed`` from a sorted order, so the choice depends
    only on the seed and the data, never on file order.
    """
    if len(clips) <= budget:
        return clips
    groups: dict[int, list[Clip]] = defaultdict(list)
    for clip in clips:
        groups[clip.label].append(clip)
    if budget < len(groups):
        raise DatasetError(
            f"{root}: select.max_clips_per_split = {budget} is smaller than the {len(groups)} "
            f"rudiments of the {split} split, so some would have no clips; raise it to at "
            f"least {len(groups)}."
        )
    rng = random.Random(seed)
    order = sorted(groups)
    for label in order:
        groups[label].sort(key=lambda c: c.sample_id)
        rng.shuffle(groups[label])
    out: list[Clip] = []
    depth = 0
    while len(out) < budget:
        out.extend(groups[label][depth] for label in order if depth < len(groups[label]))
        depth += 1
    return out[:budget]
