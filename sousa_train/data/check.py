"""`sousa-train data check`: every problem of a data set in one pass, then a verdict.

Fatal (exit 1): not a data set, no clips, an empty split, a rudiment present in the data
set but missing from a split, or any unreadable/missing audio file (training would skip
those clips; a data set that ships them should be fixed). Absent rudiments (a data set
with fewer than 40) are reported, not fatal.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import soundfile as sf

from sousa_train.data.clips import SPLITS
from sousa_train.data.reader import DatasetError, open_dataset
from sousa_train.rudiments import FAMILIES, NUM_CLASSES, by_slug

SHOW = 5


def run_check(path: Path) -> int:
    try:
        dataset = open_dataset(path)
    except DatasetError as exc:
        print(f"data check: {exc}")
        return 1
    clips = dataset.all_clips()
    fatal: list[str] = []
    print(f"data set: {dataset.root} ({dataset.layout} layout)")
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
    present = dataset.rudiments()
    print(
        f"rudiments: {len(present)} of {NUM_CLASSES}"
        + ("" if len(present) == NUM_CLASSES else " (the others have no clips; not an error)")
    )
    fatal.extend(dataset.completeness_problems())

    rates: Counter[int] = Counter()
    channels: Counter[int] = Counter()
    missing: list[str] = []
    unreadable: list[str] = []
    for clip in clips:
        if not clip.path.is_file():
            missing.append(str(clip.path))
            continue
        try:
            with sf.SoundFile(clip.path) as fh:
                rates[fh.samplerate] += 1
                channels[fh.channels] += 1
                frames = fh.read(dtype="float32", always_2d=True).shape[0]
            if frames == 0:
                unreadable.append(f"{clip.path} (no audio frames)")
        except (sf.LibsndfileError, RuntimeError, ValueError) as exc:
            unreadable.append(f"{clip.path} ({exc})")
    print("sample rates: " + (", ".join(f"{r} Hz x {n}" for r, n in sorted(rates.items())) or "-"))
    print("channels: " + (", ".join(f"{c} ch x {n}" for c, n in sorted(channels.items())) or "-"))
    for what, paths in (("missing", missing), ("unreadable", unreadable)):
        if paths:
            fatal.append(f"{len(paths)} {what} audio file(s)")
            print(f"{what} audio files: {len(paths)}")
            for p in paths[:SHOW]:
                print(f"  {p}")
            if len(paths) > SHOW:
                print(f"  ... and {len(paths) - SHOW} more")
    for note in dataset.problems:
        print(f"note: {note}")
    if fatal:
        print("PROBLEMS:")
        for problem in fatal:
            print(f"  - {problem}")
        return 1
    print("OK: no problems found")
    return 0
