"""`sousa-tui --follow URL`: a mirror of cloud runs pulled into a local folder, in the background.

The console then reads that folder like ./runs; the pulls land file by file under
temporary names (rundir.sync.pull), so the file worker never reads half a file.
"""

from __future__ import annotations

import hashlib
import threading
from pathlib import Path

from sousa_train.config.paths import cache_dir
from sousa_train.rundir.sync import open_target, pull

PULL_EVERY_SECONDS = 2.0


def follow_dir(url: str) -> Path:
    """Where a URL is pulled when no --runs-dir is given: one folder per URL, in the cache."""
    digest = hashlib.sha256(url.encode()).hexdigest()[:12]
    return cache_dir() / "follow" / digest


class Follower:
    """Pulls ``url`` into ``dest`` every few seconds from a daemon thread until stopped."""

    def __init__(self, url: str, dest: Path, every: float = PULL_EVERY_SECONDS) -> None:
        open_target(url, create=False)  # a wrong URL is refused before the console opens
        self.url, self.dest, self.every = url, Path(dest), every
        self.error: str | None = None  # the last pull's failure, for the console to show
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="follow", daemon=True)

    def start(self) -> None:
        self.dest.mkdir(parents=True, exist_ok=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()

    def _loop(self) -> None:
        while True:
            try:
                pull(self.url, self.dest)
                self.error = None
            except Exception as exc:  # a network hiccup: say so, try again next round
                self.error = f"pulling {self.url}: {type(exc).__name__}: {exc}"
            if self._stop.wait(self.every):
                return
