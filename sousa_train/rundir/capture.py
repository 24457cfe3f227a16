"""Send everything the process prints to train.log; show the terminal only what is ours.

Lightning reports at INFO what it found and what it advertises ("GPU available: False",
"Loading `train_dataloader` ..."): facts about Lightning, not the run, so train.log keeps
them and the terminal does not. Its advertisements ("💡 Tip: ...") go nowhere. Its warnings,
and all our own lines, show in both.
"""

from __future__ import annotations

import contextlib
import faulthandler
import logging
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TextIO

LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"
# Lightning's loggers; their rank-zero messages come from children such as
# ``lightning.pytorch.utilities.rank_zero``.
LIGHTNING_LOGGERS = ("lightning.pytorch", "lightning.fabric")
# Their parent, to which they propagate once rerouted: Lightning gives it a stderr handler too.
_LIGHTNING_PARENT = "lightning"
_ADVERTISEMENT = "💡 Tip:"


def _not_advertisement(record: logging.LogRecord) -> bool:
    return not str(record.msg).startswith(_ADVERTISEMENT)


def _for_terminal(record: logging.LogRecord) -> bool:
    """Everything but Lightning's INFO (and DEBUG) chatter."""
    return record.levelno >= logging.WARNING or not record.name.startswith(LIGHTNING_LOGGERS)


@contextlib.contextmanager
def _lightning_through_root() -> Iterator[None]:
    """Lightning, imported before our handlers existed, gave its loggers (and their parent) a
    stderr handler of their own and stopped them propagating; undo that so its records meet
    our routing, and only it."""
    saved = []
    for name in (_LIGHTNING_PARENT, *LIGHTNING_LOGGERS):
        logger = logging.getLogger(name)
        saved.append((logger, logger.handlers[:], logger.propagate))
        logger.handlers.clear()
        logger.propagate = True
    try:
        yield
    finally:
        for logger, handlers, propagate in saved:
            logger.handlers[:] = handlers
            logger.propagate = propagate


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
    """Tee stdout/stderr into ``log_path``; log records (ours, Lightning's, warnings) all go to
    the file and, but for Lightning's INFO chatter, to the terminal."""
    log_file = open(log_path, "a", encoding="utf-8", buffering=1)
    old_out, old_err = sys.stdout, sys.stderr
    sys.stdout = _Tee(old_out, log_file)  # type: ignore[assignment]
    sys.stderr = _Tee(old_err, log_file)  # type: ignore[assignment]
    formatter = logging.Formatter(LOG_FORMAT, "%H:%M:%S")
    to_file = logging.StreamHandler(log_file)
    to_terminal = logging.StreamHandler(old_err)
    to_terminal.addFilter(_for_terminal)
    root = logging.getLogger()
    old_level = root.level
    for handler in (to_file, to_terminal):
        handler.setFormatter(formatter)
        handler.addFilter(_not_advertisement)
        root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.captureWarnings(True)
    faulthandler.enable(file=log_file)
    try:
        with _lightning_through_root():
            yield
    finally:
        faulthandler.disable()
        logging.captureWarnings(False)
        for handler in (to_file, to_terminal):
            root.removeHandler(handler)
        root.setLevel(old_level)
        sys.stdout, sys.stderr = old_out, old_err
        log_file.close()
