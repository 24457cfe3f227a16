"""The per-clip cost of getting audio to the model, beside the decoder's own cost.

    python bench/data_path.py DATA_PATH [--clips N] [--rate HZ]

Prints ms/clip, one thread, for
  (a) soundfile decoding alone (``sf.read`` to float32: the floor),
  (b) our cold path: decode, channel mix, soxr resampling, float16 write to the disk cache,
  (c) our warm path: reading the clip back from the disk cache,
on the first N clips of a data set in any layout (for the Hub's, the FLAC bytes are read
from the shards first and not timed). Files are read once beforehand, so the OS page cache
holds them and (a) and (b) measure decoding, not the disk; each figure is the best of
--repeats passes (a fresh cache folder for each cold pass), so a busy machine inflates it
less. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import soundfile as sf

from sousa_train.data.audio import load_audio
from sousa_train.data.cache import DiskCache
from sousa_train.data.clips import Clip
from sousa_train.data.reader import open_dataset
from sousa_train.data.shards import iter_audio


def clip_bytes(clips: list[Clip]) -> list[bytes]:
    """Each clip's whole audio file as bytes: from its file, or streamed from its shard."""
    cells: dict[tuple[Path, int], bytes] = {}
    for shard in {c.path for c in clips if c.row is not None}:
        cells.update(((shard, row), data or b"") for row, data in iter_audio(shard))
    return [c.path.read_bytes() if c.row is None else cells[(c.path, c.row)] for c in clips]


def ms_per_clip(work: Callable[[int], object], n: int) -> float:
    started = time.perf_counter()
    for i in range(n):
        work(i)
    return (time.perf_counter() - started) * 1000 / n


def one_pass(clips: list[Clip], blobs: list[bytes], rate: int, folder: Path) -> list[float]:
    """(a), (b) and (c) once, in ms/clip."""
    in_files = all(c.row is None for c in clips)
    cache = DiskCache(folder)

    def decode(i: int) -> object:
        return sf.read(clips[i].path if in_files else io.BytesIO(blobs[i]), dtype="float32")

    def cold(i: int) -> None:
        data = None if in_files else blobs[i]
        cache.put(clips[i], load_audio(clips[i].where, rate, data))

    n = len(clips)
    return [
        ms_per_clip(decode, n),
        ms_per_clip(cold, n),
        ms_per_clip(lambda i: cache.get(clips[i]), n),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_path", type=Path)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--rate", type=int, default=16000, help="the model's sample rate")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    clips = open_dataset(args.data_path).all_clips()[: args.clips]
    blobs = clip_bytes(clips)
    with tempfile.TemporaryDirectory() as tmp:
        one_pass(clips[:1], blobs[:1], args.rate, Path(tmp) / "warm-up")
        passes = [
            one_pass(clips, blobs, args.rate, Path(tmp) / str(k)) for k in range(args.repeats)
        ]
    decode, cold, warm = (min(column) for column in zip(*passes, strict=True))
    seconds = sum(sf.info(io.BytesIO(b)).duration for b in blobs) / len(clips)
    print(
        f"{len(clips)} clips from {args.data_path} (mean {seconds:.1f} s), to {args.rate} Hz, "
        f"1 thread, best of {args.repeats}"
    )
    print(f"  soundfile decode alone   {decode:7.2f} ms/clip")
    print(f"  cold path (ours)         {cold:7.2f} ms/clip  ({cold / decode - 1:+.0%} vs decode)")
    print(
        f"  warm path (disk cache)   {warm:7.2f} ms/clip  ({decode / warm:.0f}x faster than decode)"
    )


if __name__ == "__main__":
    main()
