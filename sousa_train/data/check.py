"""`sousa-train data check PATH`: every problem of a data set in one pass, then a verdict.

:func:`check_dataset` finds the problems and returns a :class:`CheckReport`;
:func:`print_report` prints it as plain text, one fact per line, so it reads the same in a
terminal and in a CI log. Every audio file (or Hub shard cell, each shard streamed once) is
decoded in full, in parallel threads (libsndfile releases the GIL), with the same code
training uses, because a damaged FLAC body passes a header check and would only show up
mid-run.

Exit status: 0 when nothing fatal was found; 1 when the labels cannot be read (the
reader's paragraph is printed; this includes a path that is not a data set at all), or on
any fatal problem: no clips, a split with no clips, a rudiment present in the data set but
missing from a split, or any missing or undecodable audio file. Training would skip such
files, but a data set that ships them is damaged and a gate in CI should say so. Rudiments
absent from the whole data set (fewer than 40) are a note, not a problem.
"""

from __future__ import annotations

import io
import os
from collections import Counter, defaultdict
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import soundfile as sf

from sousa_train.data.audio import AudioError, decode_mono
from sousa_train.data.clips import SPLITS, Clip
from sousa_train.data.reader import DatasetError, SousaDataset, open_dataset
from sousa_train.data.shards import ShardError, iter_audio
from sousa_train.rudiments import FAMILIES, NUM_CLASSES, by_slug

SHOW = 5


@dataclass(frozen=True)
class FileReport:
    """What one audio file (or shard cell) turned out to be; ``error`` is None if usable."""

    path: Path
    error: str | None = None
    missing: bool = False
    rate: int | None = None
    channels: int | None = None
    format: str | None = None
    seconds: float | None = None


@dataclass
class CheckReport:
    """A data set's check: ``error`` when its labels cannot be read, else what was found."""

    root: Path
    error: str | None = None
    dataset: SousaDataset | None = None
    files: list[FileReport] = field(default_factory=list)
    fatal: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return self.error is None and not self.fatal


def probe(path: Path, data: bytes | None = None) -> FileReport:
    """A full decode of ``path`` (or of ``data``, its bytes) with the training loader's own
    checks, then the header's facts."""
    try:
        wave, _ = decode_mono(path, data)
        error = None
    except AudioError as exc:
        if data is None and not path.exists():
            return FileReport(path, exc.reason, missing=True)
        wave, error = None, exc.reason
    try:
        info = sf.info(str(path) if data is None else io.BytesIO(data))
    except (RuntimeError, OSError, ValueError):  # no header: decode_mono has said why
        return FileReport(path, error)
    return FileReport(
        path,
        error,
        rate=info.samplerate,
        channels=info.channels,
        format=f"{info.format} {info.subtype}",
        seconds=None if wave is None else wave.size / info.samplerate,
    )


def check_dataset(path: Path) -> CheckReport:
    """Every problem of the data set at ``path``; fatal ones are listed in ``fatal``."""
    try:
        dataset = open_dataset(path)
    except DatasetError as exc:
        return CheckReport(Path(path), error=str(exc))
    report = CheckReport(dataset.root, dataset=dataset)
    clips = dataset.all_clips()
    if not clips:
        report.fatal.append("the data set has no clips")
    report.fatal.extend(dataset.completeness_problems())
    files = [c for c in clips if c.row is None]
    shards: dict[Path, dict[int, Clip]] = defaultdict(dict)
    for clip in clips:
        if clip.row is not None:
            shards[clip.path][clip.row] = clip
    with ThreadPoolExecutor(min(8, os.cpu_count() or 1)) as pool:
        report.files = list(pool.map(probe, [c.path for c in files]))
        for shard, cells in zip(shards, pool.map(_probe_shard, shards.items()), strict=True):
            if isinstance(cells, ShardError):
                report.fatal.append(str(cells))
                reason = f"its shard cannot be read ({cells})"
                cells = [FileReport(c.where, reason) for c in shards[shard].values()]
            report.files.extend(cells)
    for what, bad in (("missing", _missing(report)), ("unreadable", _unreadable(report))):
        if bad:
            report.fatal.append(
                f"{len(bad)} {what} audio file(s) (training would skip these clips; the "
                "data set should be fixed)"
            )
    return report


def _probe_shard(item: tuple[Path, dict[int, Clip]]) -> list[FileReport] | ShardError:
    shard, rows = item
    try:
        return [probe(rows[r].where, data or b"") for r, data in iter_audio(shard) if r in rows]
    except ShardError as exc:
        return exc


def _missing(report: CheckReport) -> list[FileReport]:
    return [r for r in report.files if r.missing]


def _unreadable(report: CheckReport) -> list[FileReport]:
    return [r for r in report.files if r.error and not r.missing]


def print_report(report: CheckReport) -> int:
    """Print the summary and every problem; 0 when nothing is fatal, else 1 (module doc)."""
    if report.error is not None or report.dataset is None:
        print(f"data check: {report.error}")
        print("FAILED: the data set cannot be read")
        return 1
    dataset = report.dataset
    clips = dataset.all_clips()
    print(f"data set: {dataset.root} ({dataset.layout} layout, {_source(dataset)})")
    print(f"clips: {len(clips)}")
    for split in SPLITS:
        split_clips = dataset.clips(split)
        families = Counter(by_slug(c.slug).family for c in split_clips)
        per_family = ", ".join(f"{f} {families.get(f, 0)}" for f in FAMILIES)
        print(
            f"  {split:<5} {len(split_clips):>6} clips, {len(dataset.rudiments(split)):>2} "
            f"rudiments ({per_family})"
        )
    print(f"rudiments: {len(dataset.rudiments())} of {NUM_CLASSES}")
    reports = report.files
    ok = [r for r in reports if r.error is None]
    print(f"audio: {len(reports)} files decoded in full, {len(ok)} usable")
    _tally("sample rates", Counter(r.rate for r in reports if r.rate), "{} Hz")
    _tally("channels", Counter(r.channels for r in reports if r.channels), "{} ch")
    _tally("formats", Counter(r.format for r in reports if r.format), "{}")
    seconds = [r.seconds for r in ok if r.seconds is not None]
    if seconds:
        print(f"durations: {min(seconds):.1f} to {max(seconds):.1f} s")
    for what, bad in (("missing", _missing(report)), ("unreadable", _unreadable(report))):
        if bad:
            print(f"{what} audio files: {len(bad)}")
            for r in bad[:SHOW]:
                print(f"  {r.path}" + ("" if r.missing else f" ({r.error})"))
            if len(bad) > SHOW:
                print(f"  ... and {len(bad) - SHOW} more")
    for note in dataset.problems:
        print(f"note: {note}")
    if report.fatal:
        print(f"FAILED: {len(report.fatal)} problem(s):")
        for problem in report.fatal:
            print(f"  - {problem}")
        return 1
    print("OK: no problems found")
    return 0


def _source(dataset: SousaDataset) -> str:
    """Where the labels were read: the label file, or how many Hub shards."""
    if dataset.layout == "hub":
        shards = {c.path for c in dataset.all_clips()}
        folder = dataset.label_file.parent.relative_to(dataset.root)
        return f"{len(shards)} audio shard(s) in {folder}/"
    return str(dataset.label_file.relative_to(dataset.root))


def _tally(name: str, counts: Counter, fmt: str) -> None:
    items = ", ".join(f"{fmt.format(k)} x {n}" for k, n in sorted(counts.items()))
    print(f"{name}: {items or '-'}")
