"""`sousa-train data check PATH`: every problem of a data set in one pass, then a verdict.

Plain text, one fact per line, so it reads the same in a terminal and in a CI log. Every
audio file is decoded in full (in parallel threads; libsndfile releases the GIL) with the
same code training uses, because a damaged FLAC body passes a header check and would only
show up mid-run.

Exit status: 0 when nothing fatal was found; 1 when the labels cannot be read (the
reader's paragraph is printed; this includes a path that is not a data set at all), or on
any fatal problem: no clips, a split with no clips, a rudiment present in the data set but
missing from a split, or any missing or undecodable audio file. Training would skip such
files, but a data set that ships them is damaged and a gate in CI should say so. Rudiments
absent from the whole data set (fewer than 40) are a note, not a problem.
"""

from __future__ import annotations

import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import soundfile as sf

from sousa_train.data.audio import AudioError, read_mono
from sousa_train.data.clips import SPLITS
from sousa_train.data.reader import DatasetError, open_dataset
from sousa_train.rudiments import FAMILIES, NUM_CLASSES, by_slug

SHOW = 5


@dataclass(frozen=True)
class FileReport:
    """What one audio file turned out to be; ``error`` is None for a usable file."""

    path: Path
    error: str | None = None
    missing: bool = False
    rate: int | None = None
    channels: int | None = None
    format: str | None = None
    seconds: float | None = None


def probe(path: Path) -> FileReport:
    """A full decode with the training loader's own checks, then the header's facts."""
    try:
        wave, _ = read_mono(path)
        error = None
    except AudioError as exc:
        if not path.exists():
            return FileReport(path, exc.reason, missing=True)
        wave, error = None, exc.reason
    try:
        info = sf.info(str(path))
    except (RuntimeError, OSError, ValueError):  # no header: read_mono has said why
        return FileReport(path, error)
    return FileReport(
        path,
        error,
        rate=info.samplerate,
        channels=info.channels,
        format=f"{info.format} {info.subtype}",
        seconds=None if wave is None else wave.numel() / info.samplerate,
    )


def run_check(path: Path) -> int:
    """Print the summary and every problem; 0 when nothing is fatal, else 1 (module doc)."""
    try:
        dataset = open_dataset(path)
    except DatasetError as exc:
        print(f"data check: {exc}")
        print("FAILED: the data set cannot be read")
        return 1
    clips = dataset.all_clips()
    fatal: list[str] = []
    label_file = dataset.label_file.relative_to(dataset.root)
    print(f"data set: {dataset.root} ({dataset.layout} layout, {label_file})")
    print(f"clips: {len(clips)}")
    if not clips:
        fatal.append("the data set has no clips")
    for split in SPLITS:
        split_clips = dataset.clips(split)
        families = Counter(by_slug(c.slug).family for c in split_clips)
        per_family = ", ".join(f"{f} {families.get(f, 0)}" for f in FAMILIES)
        print(
            f"  {split:<5} {len(split_clips):>6} clips, {len(dataset.rudiments(split)):>2} "
            f"rudiments ({per_family})"
        )
    print(f"rudiments: {len(dataset.rudiments())} of {NUM_CLASSES}")
    fatal.extend(dataset.completeness_problems())

    workers = min(8, os.cpu_count() or 1)
    with ThreadPoolExecutor(workers) as pool:
        reports = list(pool.map(probe, [c.path for c in clips]))
    ok = [r for r in reports if r.error is None]
    print(f"audio: {len(clips)} files decoded in full, {len(ok)} usable")
    _tally("sample rates", Counter(r.rate for r in reports if r.rate), "{} Hz")
    _tally("channels", Counter(r.channels for r in reports if r.channels), "{} ch")
    _tally("formats", Counter(r.format for r in reports if r.format), "{}")
    seconds = [r.seconds for r in ok if r.seconds is not None]
    if seconds:
        print(f"durations: {min(seconds):.1f} to {max(seconds):.1f} s")
    missing = [r for r in reports if r.missing]
    unreadable = [r for r in reports if r.error and not r.missing]
    for what, bad in (("missing", missing), ("unreadable", unreadable)):
        if bad:
            fatal.append(
                f"{len(bad)} {what} audio file(s) (training would skip these clips; the "
                "data set should be fixed)"
            )
            print(f"{what} audio files: {len(bad)}")
            for r in bad[:SHOW]:
                print(f"  {r.path}" + ("" if r.missing else f" ({r.error})"))
            if len(bad) > SHOW:
                print(f"  ... and {len(bad) - SHOW} more")
    for note in dataset.problems:
        print(f"note: {note}")
    if fatal:
        print(f"FAILED: {len(fatal)} problem(s):")
        for problem in fatal:
            print(f"  - {problem}")
        return 1
    print("OK: no problems found")
    return 0


def _tally(name: str, counts: Counter, fmt: str) -> None:
    items = ", ".join(f"{fmt.format(k)} x {n}" for k, n in sorted(counts.items()))
    print(f"{name}: {items or '-'}")
