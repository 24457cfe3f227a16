"""The per-clip cost of getting audio to the model, beside the decoder's own cost.

    python bench/data_path.py DATA_PATH [--clips N] [--rate HZ]

Prints ms/clip, one thread, for each of :data:`STAGES`:
  soundfile decoding alone (``sf.read`` to float32: what most audio pipelines pay),
  our decoder alone (dr_flac for FLAC, soundfile otherwise),
  our cold path: decode, channel mix and soxr resampling (what reaches the model),
  the same plus the float16 write to the disk cache: a first epoch's whole cost per clip,
  our warm path: reading the clip back from the disk cache,
on the first N clips of a data set in any layout (for the Hub's, the FLAC bytes are read
from the shards first and not timed). Files are read once beforehand, so the OS page cache
holds them and the figures measure decoding, not the disk; each figure is the best of
--repeats passes (a fresh cache folder for each cold pass), so a busy machine inflates it
less, and each ratio to soundfile's decoding is the median of the passes' own ratios.
Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import io
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from sousa_train.data.audio import decode_frames, load_audio
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


def one_pass(
    clips: list[Clip], blobs: list[bytes], rate: int, folder: Path, turn: int = 0
) -> list[float]:
    """Each of :data:`STAGES` over all clips once, in ms/clip; the first four start at
    ``turn`` (mod 4), so no stage always runs first, and the warm one last (it reads what the
    write stage wrote)."""
    in_files = all(c.row is None for c in clips)
    data = [None if in_files else b for b in blobs]
    cache = DiskCache(folder)

    def decode(i: int) -> object:
        return sf.read(clips[i].path if in_files else io.BytesIO(blobs[i]), dtype="float32")

    def ours(i: int) -> object:
        return decode_frames(clips[i].where, data[i])

    def cold(i: int) -> torch.Tensor:
        return load_audio(clips[i].where, rate, data[i])

    n = len(clips)
    stages = [decode, ours, cold, lambda i: cache.put(clips[i], cold(i))]
    ms = [0.0] * len(stages)
    for k in range(len(stages)):
        at = (turn + k) % len(stages)
        ms[at] = ms_per_clip(stages[at], n)
    return [*ms, ms_per_clip(lambda i: cache.get(clips[i]), n)]


STAGES = (
    "soundfile decode alone",
    "our decoder alone",
    "cold path (ours)",
    "cold path + cache write",
    "warm path (disk cache)",
)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data_path", type=Path)
    parser.add_argument("--clips", type=int, default=200)
    parser.add_argument("--rate", type=int, default=16000, help="the model's sample rate")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    torch.set_num_threads(1)  # the float16 casts would otherwise use every core
    clips = open_dataset(args.data_path).all_clips()[: args.clips]
    blobs = clip_bytes(clips)
    with tempfile.TemporaryDirectory() as tmp:
        one_pass(clips[:1], blobs[:1], args.rate, Path(tmp) / "warm-up")
        passes = [
            one_pass(clips, blobs, args.rate, Path(tmp) / str(k), k) for k in range(args.repeats)
        ]
    ms = np.min(passes, axis=0)
    # Each pass's stages run within a second of each other, so a slow spell of a shared
    # machine cancels out of a pass's ratio: the median ratio is steadier than best / best.
    ratio = np.median(np.array(passes) / np.array(passes)[:, :1], axis=0)
    decode = ms[0]
    seconds = sum(sf.info(io.BytesIO(b)).duration for b in blobs) / len(clips)
    print(
        f"{len(clips)} clips from {args.data_path} (mean {seconds:.1f} s), to {args.rate} Hz, "
        f"1 thread, best of {args.repeats} (ratios: the median pass's)"
    )
    print(f"  {STAGES[0]:<26}{decode:7.2f} ms/clip")
    for name, value, r in zip(STAGES[1:-1], ms[1:-1], ratio[1:-1], strict=True):
        print(f"  {name:<26}{value:7.2f} ms/clip  ({r - 1:+.0%} vs soundfile)")
    print(f"  {STAGES[-1]:<26}{ms[-1]:7.2f} ms/clip  ({1 / ratio[-1]:.0f}x faster than soundfile)")


if __name__ == "__main__":
    main()
