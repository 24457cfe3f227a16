"""Where each file of a run directory lives, and JSON written so readers never see half of it.

Layout (DESIGN.md): config.json, events.jsonl (append-only), status.json (replaced
atomically), train.log, checkpoints/, adapter/, eval/<split>/.
"""

from __future__ import annotations

import json
import os
import secrets
import time
from pathlib import Path
from typing import Any

STATES = ("running", "finished", "failed", "stopped", "pruned")


def new_run_id() -> str:
    """Sortable by start time; the suffix keeps two runs started in one second apart."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def write_json_atomic(path: Path, obj: Any) -> None:
    """Write to a temporary file and rename over, so readers never see half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, default=str)
        fh.write("\n")
        fh.flush()
        os.fsync(fh.fileno())
    os.replace(tmp, path)


def read_json(path: Path) -> Any | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


class RunDir:
    """Paths of one run directory."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root).absolute()
        self.config = self.root / "config.json"
        self.events = self.root / "events.jsonl"
        self.status = self.root / "status.json"
        self.log = self.root / "train.log"
        self.checkpoints = self.root / "checkpoints"
        self.best_ckpt = self.checkpoints / "best.ckpt"
        self.last_ckpt = self.checkpoints / "last.ckpt"
        self.adapter = self.root / "adapter"

    def eval_dir(self, split: str) -> Path:
        return self.root / "eval" / split

    @property
    def run_id(self) -> str:
        return self.root.name

    def read_status(self) -> dict | None:
        return read_json(self.status)
