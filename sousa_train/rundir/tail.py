"""Incremental readers of files a run appends to: never re-read a whole file, never block.

A run writes ``events.jsonl`` and ``train.log`` while the console reads them, so the last
line may be half-written; it is held back until its newline arrives.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class LineTail:
    """Complete lines appended to a file since the last read.

    ``start_back`` bytes before the end is where the first read begins (0: the start), so
    opening a long log costs the same as opening a short one. One read takes at most
    ``max_bytes``, so catching up on an hour of events never holds the whole file in memory.
    """

    def __init__(self, path: Path, start_back: int = 0, max_bytes: int = 512 * 1024) -> None:
        self.path = path
        self.max_bytes = max_bytes
        self._offset: int | None = None if start_back else 0
        self._start_back = start_back
        self._partial = b""

    def read_lines(self) -> list[bytes]:
        try:
            if self._offset is not None and os.stat(self.path).st_size == self._offset:
                return []  # the common case, answered without opening the file
            with open(self.path, "rb") as fh:
                size = os.fstat(fh.fileno()).st_size
                if self._offset is None:
                    self._offset = max(0, size - self._start_back)
                    if self._offset:  # the first line is probably cut: skip to the next
                        fh.seek(self._offset)
                        self._offset += len(fh.readline())
                if size < self._offset:  # truncated (a torn tail was cut on resume)
                    self._offset, self._partial = 0, b""
                fh.seek(self._offset)
                chunk = fh.read(self.max_bytes)
        except OSError:
            return []
        self._offset += len(chunk)
        lines = (self._partial + chunk).split(b"\n")
        self._partial = lines.pop()
        return lines


class EventTail:
    """New events of an ``events.jsonl``; a garbled line is skipped, never fatal."""

    def __init__(self, path: Path) -> None:
        self.lines = LineTail(path)

    @property
    def path(self) -> Path:
        return self.lines.path

    def read_new(self) -> list[dict[str, Any]]:
        events = []
        for line in self.lines.read_lines():
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                events.append(event)
        return events


class LogTail:
    """The last ``keep`` lines of a text log, kept up to date by ``read_new``."""

    def __init__(self, path: Path, keep: int = 200) -> None:
        self.lines = LineTail(path, start_back=64 * 1024)
        self.recent: deque[str] = deque(maxlen=keep)

    def read_new(self) -> list[str]:
        new = [line.decode("utf-8", "replace").rstrip("\r") for line in self.lines.read_lines()]
        self.recent.extend(new)
        return new


def iter_events(path: Path) -> Iterator[dict]:
    """Every complete event; a torn or garbled line is skipped, never fatal."""
    try:
        fh = open(path, encoding="utf-8", errors="replace")
    except OSError:
        return
    with fh:
        for line in fh:
            if not line.endswith("\n"):
                return
            try:
                event = json.loads(line)
            except ValueError:
                continue
            if isinstance(event, dict):
                yield event
