"""Where SOUSAphone keeps what it makes on a machine: one cache folder, set by the environment."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """SOUSA_CACHE_DIR, else the XDG cache folder: demo sets, decoded waveforms, official
    weights and followed mirrors live here."""
    env = os.environ.get("SOUSA_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "sousaphone"
