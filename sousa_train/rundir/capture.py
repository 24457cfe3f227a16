"""Send everything the process prints to train.log as well as to the terminal."""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Lightning's advertisements, not information about the run.
_NOISE = ("💡 Tip:",)


def _not_noise(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_NOISE)


class _Tee:
    """A text stream that writes through to the original stream and a log file."""

    def __init__(self, stream: TextIO, log: TextIO) -> None:
        self._stream = stream
        self._log = log

    def write(self, text: str) -> int:
        self._stream.write(text)
        self._log.write(text)
        self._log.flush()
        return len(text)

    def flush(self) -> None:
        self._stream.flush()
        self._log.flush()

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    def __getattr__(self, name: str) -> object:
        return getattr(self._stream, name)


@contextlib.contextmanager
def capture_output(log_path: Path) -> Iterator[None]:
    """Tee stdout/stderr and route logging (ours, Lightning's, warnings) into ``log_path``."""
    log_file = open(log_path, "a", encoding="utf-8", buffering=1)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _Tee(old_out, log_file)  # type: ignore[assignment]
    sys.stderr = _Tee(old_err, log_file)  # type: ignore[assignment]
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter(LOG_FORMAT, "%H:%M:%S"))
    handler.addFilter(_not_noise)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    faulthandler.enable(file=log_file)
    try:
        yield
    finally:
        faulthandler.disable()
        logging.captureWarnings(False)
        root.removeHandler(handler)
        root.setLevel(old_level)
        sys.stdout, sys.stderr = old_out, old_err
        log_file.close()
