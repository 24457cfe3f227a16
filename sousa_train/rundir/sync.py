"""A run directory mirrored to any fsspec URL while it runs, and runs pulled back home.

The target mirrors a runs folder: a run ``<experiment>/<run_id>`` lands at
``URL/<experiment>/<run_id>/``, so ``pull URL DIR`` gives a DIR the console and
``sousa-train runs`` read like ./runs. Files the run appends to or replaces (events,
status, train.log, config) go up whenever they change; checkpoints and eval files once
they have stopped changing for one round, so a checkpoint is never sent half-written.
An upload goes to a ``.tmp`` name first and is moved into place where a half-sent file
would be visible (plain folders); object stores and the Hub show an object only when it
is complete. A failed upload is logged and retried next round, never raised: training
matters more than its mirror. Torch-free: the console pulls with it.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import threading
import time
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import fsspec
from fsspec.core import url_to_fs

from sousa_train.rundir.layout import RunDir

log = logging.getLogger("sousa_train.rundir.sync")

# Sent every round when they change: a reader follows the run through these.
LIVE_FILES = ("events.jsonl", "status.json", "train.log", "config.json")
# Written into the target (never the local run) each round: who is mirroring, and when last.
HEARTBEAT = "sync.json"
# Seconds between rounds; each file sent to the Hub is a commit, so it gets a slower cadence.
EVERY_SECONDS = 5.0
HUB_EVERY_SECONDS = 60.0
# Where a put is visible while it is written, so an upload goes to a .tmp name first.
_VISIBLE_WHILE_WRITTEN = ("file", "local")


def _protocols(fs: fsspec.AbstractFileSystem) -> tuple[str, ...]:
    return (fs.protocol,) if isinstance(fs.protocol, str) else tuple(fs.protocol)


def default_every(url: str) -> float:
    return HUB_EVERY_SECONDS if url.startswith("hf://") else EVERY_SECONDS


@dataclass(frozen=True)
class _Stamp:
    size: int
    mtime_ns: int


class RunSyncer:
    """Mirrors one run directory to ``URL/<experiment>/<run_id>`` from a background thread.

    ``start`` begins the rounds; ``stop`` ends them with a final round that sends
    everything (called on every exit path of a run, SIGTERM included).
    """

    def __init__(self, run: RunDir, url: str, every: float | None = None) -> None:
        self.run = run
        self.url = url
        self.every = default_every(url) if every is None else every
        self.fs, base = open_target(url)
        self.base = f"{base.rstrip('/')}/{run.root.parent.name}/{run.run_id}"
        self._atomic = any(p in _VISIBLE_WHILE_WRITTEN for p in _protocols(self.fs))
        self._sent: dict[str, _Stamp] = {}
        self._seen: dict[str, _Stamp] = {}
        self._failing: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="run-sync", daemon=True)

    def start(self) -> None:
        log.info("mirroring %s to %s every %.0f s", self.run.root, self.target, self.every)
        self._thread.start()

    @property
    def target(self) -> str:
        return self.fs.unstrip_protocol(self.base)

    def stop(self) -> None:
        """The final round: every file, changed or settled, then the heartbeat."""
        self._stop.set()
        if self._thread.is_alive():
            self._thread.join()
        self.sync_once(final=True)

    def _loop(self) -> None:
        while not self._stop.wait(self.every):
            self.sync_once()

    def sync_once(self, final: bool = False) -> int:
        """One round; returns how many files went up. Never raises."""
        sent = 0
        for rel, stamp in _local_files(self.run.root).items():
            if self._sent.get(rel) == stamp:
                continue
            live = rel in LIVE_FILES
            settled = self._seen.get(rel) == stamp
            self._seen[rel] = stamp
            if live or settled or final:
                sent += self._send(rel, stamp)
        self._put_heartbeat(final)
        return sent

    def _send(self, rel: str, stamp: _Stamp) -> int:
        local, remote = self.run.root / rel, f"{self.base}/{rel}"
        try:
            self.fs.makedirs(self.fs._parent(remote), exist_ok=True)
            if self._atomic:
                tmp = f"{remote}.{os.getpid()}.tmp"
                self.fs.put_file(str(local), tmp)
                self.fs.mv(tmp, remote)
            else:
                self.fs.put_file(str(local), remote)
        except Exception as exc:  # any backend's error: log, retry next round
            if rel not in self._failing:
                log.warning("sync: could not upload %s to %s (%s); retrying", rel, remote, exc)
            self._failing.add(rel)
            return 0
        if rel in self._failing:
            log.info("sync: %s uploaded after earlier failures", rel)
            self._failing.discard(rel)
        self._sent[rel] = stamp
        return 1

    def _put_heartbeat(self, final: bool) -> None:
        beat = {
            "host": socket.gethostname(),
            "pid": os.getpid(),
            "synced": time.time(),
            "every": self.every,
            "final": final,
        }
        try:
            with self.fs.open(f"{self.base}/{HEARTBEAT}", "w") as fh:
                json.dump(beat, fh)
        except Exception as exc:  # as for uploads: the next round tries again
            log.debug("sync: heartbeat not written (%s)", exc)


def _local_files(root: Path) -> dict[str, _Stamp]:
    """Every file of the run directory but temporaries (a write in progress)."""
    out = {}
    for path in sorted(root.rglob("*")):
        if path.name.endswith(".tmp") or not path.is_file():
            continue
        try:
            st = path.stat()
        except OSError:  # replaced between listing and stat: next round
            continue
        out[path.relative_to(root).as_posix()] = _Stamp(st.st_size, st.st_mtime_ns)
    return out


def heartbeat_alive(run: RunDir, now: float | None = None) -> bool | None:
    """For a pulled run still mirrored from another machine: whether its mirror is fresh.

    None when the run was not pulled from a mirror, or is mirrored from this machine (then
    its pid tells). Alive means a round arrived within three rounds and a minute.
    """
    try:
        beat = json.loads((run.root / HEARTBEAT).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if beat.get("host") == socket.gethostname() or beat.get("final"):
        return None
    age = (time.time() if now is None else now) - float(beat.get("synced", 0))
    return age < 3 * float(beat.get("every", EVERY_SECONDS)) + 60


def pull(url: str, dest: Path) -> list[str]:
    """Bring the runs under ``url`` into ``dest``; only files whose size or mtime changed.

    Each file lands under a temporary name and is renamed into place, so a reader of
    ``dest`` (the console) never sees half of it; in-flight ``.tmp`` uploads are skipped.
    Returns the relative paths fetched.
    """
    fs, base = open_target(url, create=False)
    base = base.rstrip("/")
    fetched = []
    for remote, info in sorted(fs.find(base, detail=True).items()):
        rel = remote[len(base) :].lstrip("/")
        if info.get("type") != "file" or rel.endswith(".tmp") or not rel:
            continue
        local = dest / rel
        mtime = _remote_mtime(info)
        if _unchanged(local, int(info.get("size") or 0), mtime):
            continue
        local.parent.mkdir(parents=True, exist_ok=True)
        part = local.with_name(f".{local.name}.pull.tmp")
        fs.get_file(remote, str(part))
        if mtime is not None:
            os.utime(part, (mtime, mtime))
        os.replace(part, local)
        fetched.append(rel)
    return fetched


def _remote_mtime(info: dict[str, Any]) -> float | None:
    """Modification time in seconds, from whichever key the backend reports."""
    for key in ("mtime", "LastModified", "updated", "last_modified", "created"):
        value = info.get(key)
        if isinstance(value, (int, float)):
            return float(value)
        if hasattr(value, "timestamp"):
            return float(value.timestamp())
        if isinstance(value, str):
            try:
                return datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp()
            except ValueError:
                continue
    return None


def _unchanged(local: Path, size: int, mtime: float | None) -> bool:
    try:
        st = local.stat()
    except OSError:
        return False
    if st.st_size != size:
        return False
    # Without a remote time only the size tells; the small live files are cheap to refetch.
    if mtime is None:
        return local.name not in LIVE_FILES and local.name != HEARTBEAT
    return abs(st.st_mtime - mtime) < 1e-3


class SyncError(ValueError):
    """A target that cannot be opened, phrased for the person who gave it."""


def open_target(url: str, *, create: bool = True) -> tuple[fsspec.AbstractFileSystem, str]:
    """The file system and path of ``url``, checked before a run starts rather than after.

    ``create=False`` (pulling) requires the target to exist: a mistyped URL is an error,
    not an empty download.
    """
    try:
        fs, base = url_to_fs(url)
        if create:
            fs.makedirs(base, exist_ok=True)
        fs.invalidate_cache()  # listings are cached per file system; a follower needs fresh ones
        exists = fs.exists(base)
    except Exception as exc:  # ImportError for a missing backend, auth and network errors
        raise SyncError(
            f"{url}: cannot open this sync target ({type(exc).__name__}: {exc}). A plain "
            "folder or file:// URL always works; s3:// needs s3fs and gs:// gcsfs installed; "
            "hf://datasets/USER/REPO needs that repository to exist and HF_TOKEN with write "
            "access."
        ) from exc
    if not exists:
        raise SyncError(
            f"{url}: nothing is there. Give the URL a run was started with (`sousa-train run "
            "NAME --sync-to URL`); its runs are under URL/<experiment>/<run id>."
        )
    return fs, base
