"""Writing a manifest for a test, and checking how one is refused."""

from __future__ import annotations

from pathlib import Path

import pytest

from sousa_train.config.manifest import ManifestError, load_manifest


def write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "experiments.toml"
    path.write_text(text)
    return path


def assert_refused(path: Path, needles: list[str]) -> None:
    """Loading ``path`` fails with one paragraph that names the file and holds ``needles``."""
    with pytest.raises(ManifestError) as info:
        load_manifest(path)
    message = str(info.value)
    assert str(path) in message and "\n" not in message
    for needle in needles:
        assert needle in message
