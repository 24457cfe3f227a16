"""The Hugging Face Hub layout of SOUSA: Parquet shards whose rows carry the FLAC bytes.

The release (``zkeown/sousa``) has configs ``audio`` (the default), ``midi_only`` and
``labels_only``, each ``<config>/<split>-NNNNN-of-NNNNN.parquet``; the README's YAML header
lists them. Only ``audio`` is read: its rows hold the labels and, in column ``audio``, a
struct ``{bytes, path}`` with the whole FLAC file. A clip is addressed as
``<shard>#row=<n>`` (e.g. ``audio/train-00000-of-00001.parquet#row=3``, relative to the data
root), which is also its ``audio_path`` in ``predictions.parquet``.

Torch-free, so the console can play clips from shards.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq

from sousa_train.data.clips import ROW_MARK, DatasetError

AUDIO_CONFIG = "audio"
_SHARD_NAME = re.compile(r"^(?P<split>[A-Za-z]+)(-[^.]*)?\.parquet$")


class ShardError(DatasetError):
    """A shard that cannot be read; the message names it and, where known, the row."""


def location(shard_rel: str, row: int) -> str:
    """How a clip in a shard is addressed: ``<shard path relative to the root>#row=<n>``."""
    return f"{shard_rel}{ROW_MARK}{row}"


def parse_location(audio_path: str) -> tuple[str, int | None]:
    """``(shard, row)`` for a shard address, ``(audio_path, None)`` for a plain file."""
    path, mark, row = audio_path.rpartition(ROW_MARK)
    if not mark or not row.isdigit():
        return audio_path, None
    return path, int(row)


def audio_shards(root: Path) -> list[tuple[Path, str]] | None:
    """``(shard, split name)`` of the ``audio`` config, in order; None if not this layout.

    The README's ``configs`` header says where the shards are; without one, the shards are
    ``audio/*.parquet`` and each file's name starts with its split.
    """
    listed = _configured_files(root)
    if listed is not None:
        return listed
    found = sorted((root / AUDIO_CONFIG).glob("*.parquet"))
    out = []
    for shard in found:
        match = _SHARD_NAME.match(shard.name)
        if match is None:
            raise DatasetError(
                f"{shard}: a Hub-layout shard's name must start with its split "
                "(train-00000-of-00001.parquet); rename it or list it under the README's "
                "`configs` header."
            )
        out.append((shard, match["split"]))
    return out or None


def _configured_files(root: Path) -> list[tuple[Path, str]] | None:
    readme = root / "README.md"
    if not readme.is_file():
        return None
    import yaml
    from huggingface_hub.repocard import metadata_load

    try:
        configs = (metadata_load(readme) or {}).get("configs")
    except (ValueError, yaml.YAMLError) as exc:  # a YAML header that does not parse
        raise DatasetError(f"{readme}: its YAML header cannot be read ({exc}).") from exc
    if not isinstance(configs, list):
        return None
    chosen = [c for c in configs if isinstance(c, dict) and c.get("config_name") == AUDIO_CONFIG]
    chosen = chosen or [c for c in configs if isinstance(c, dict) and c.get("default")]
    if not chosen:
        return None
    out: list[tuple[Path, str]] = []
    for entry in chosen[0].get("data_files") or []:
        patterns = entry.get("path") if isinstance(entry, dict) else None
        for pattern in [patterns] if isinstance(patterns, str) else patterns or []:
            out.extend((shard, str(entry.get("split"))) for shard in sorted(root.glob(pattern)))
    return out or None


def audio_bytes(column: pa.Array) -> pa.Array:
    """The FLAC bytes of an ``audio`` column: the struct's ``bytes`` field, or the column."""
    return column.field("bytes") if pa.types.is_struct(column.type) else column


def iter_audio(shard: Path, batch_rows: int = 8) -> Iterator[tuple[int, bytes | None]]:
    """Every row's FLAC bytes, streamed once in file order, a few rows in memory at a time.

    A row group that cannot be read is a :class:`ShardError` naming its first row; the rows
    before it have been yielded.
    """
    start = 0
    try:
        parquet = pq.ParquetFile(shard)
        for group in range(parquet.metadata.num_row_groups):
            row = start
            batches = parquet.iter_batches(batch_rows, row_groups=[group], columns=[AUDIO_CONFIG])
            for batch in batches:
                cells = audio_bytes(batch.column(0))
                for i in range(len(cells)):
                    yield row + i, cells[i].as_py()
                row += len(cells)
            start += parquet.metadata.row_group(group).num_rows
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(_damaged(shard, start, exc)) from exc


def read_audio(shard: Path, row: int) -> bytes | None:
    """One row's FLAC bytes, reading only the row group that holds it (for playback)."""
    try:
        parquet = pq.ParquetFile(shard)
        start = 0
        for group in range(parquet.metadata.num_row_groups):
            size = parquet.metadata.row_group(group).num_rows
            if row < start + size:
                table = parquet.read_row_group(group, columns=[AUDIO_CONFIG])
                return audio_bytes(table.column(0).combine_chunks())[row - start].as_py()
            start += size
    except (pa.ArrowException, OSError) as exc:
        raise ShardError(_damaged(shard, row, exc)) from exc
    raise ShardError(
        f"{shard}: has {start} rows, so row {row} is not there; the shard was "
        "replaced since the clip list was made. Evaluate the run again."
    )


def _damaged(shard: Path, row: int, exc: Exception) -> str:
    return (
        f"{shard}: cannot be read at row {row} ({' '.join(str(exc).split())}); the shard is "
        "truncated or damaged. "
        "Download it again (delete it from the Hugging Face cache, or copy it anew)."
    )
