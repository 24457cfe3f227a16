"""Hub shards -> the waveform cache, each shard streamed once before training reads it.

A shard keeps its FLAC bytes in row groups of many clips, so fetching one clip per training
step would read (and decompress) a whole row group for it. Instead every shard that holds a
clip the cache lacks is read once, sequentially, and each of its clips decoded, resampled
and stored; shards are read in parallel threads (libsndfile, soxr and Arrow release the GIL).
Training then reads the cache as for any data set.
"""

from __future__ import annotations

import logging
import os
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from sousa_train.data.audio import AudioError, load_audio
from sousa_train.data.cache import WaveCache
from sousa_train.data.clips import Clip
from sousa_train.data.shards import iter_audio

log = logging.getLogger(__name__)


def fill_cache(
    clips: list[Clip], cache: WaveCache, sample_rate: int, workers: int | None = None
) -> dict[str, str]:
    """Decode every shard clip of ``clips`` that ``cache`` lacks into it.

    Returns the undecodable clips (audio_path -> reason): the loader skips and counts them.
    A shard that cannot be read is a :class:`~sousa_train.data.shards.ShardError`.
    """
    todo: dict[Path, dict[int, Clip]] = defaultdict(dict)
    for clip in clips:
        if clip.row is not None and not cache.has(clip):
            todo[clip.path][clip.row] = clip
    if not todo:
        return {}
    total = sum(len(rows) for rows in todo.values())
    log.info("decoding %d clips from %d shard(s) into the waveform cache", total, len(todo))
    started = time.monotonic()
    failed: dict[str, str] = {}
    done = 0
    threads = workers or min(len(todo), os.cpu_count() or 1, 8)
    with ThreadPoolExecutor(threads) as pool:
        jobs = [pool.submit(_fill_shard, s, rows, cache, sample_rate) for s, rows in todo.items()]
        for shard, job in zip(todo, jobs, strict=True):
            bad = job.result()
            failed.update(bad)
            done += len(todo[shard])
            log.info(
                "decoded %s: %d clips (%d/%d clips, %.0f clips/s)%s",
                shard.name,
                len(todo[shard]),
                done,
                total,
                done / max(time.monotonic() - started, 1e-9),
                f", {len(bad)} undecodable" if bad else "",
            )
    return failed


def _fill_shard(
    shard: Path, rows: dict[int, Clip], cache: WaveCache, sample_rate: int
) -> dict[str, str]:
    failed: dict[str, str] = {}
    for row, data in iter_audio(shard):
        clip = rows.get(row)
        if clip is None:
            continue
        try:
            cache.put(clip, load_audio(clip.where, sample_rate, data or b""))
        except AudioError as exc:
            log.warning("skipping clip %s: %s", exc.path, exc.reason)
            failed[clip.audio_path] = exc.reason
    return failed
