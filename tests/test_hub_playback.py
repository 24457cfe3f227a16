"""The browser plays a clip of a Hub-layout run from its shard, and the sound that comes out
is the clip's (same PulseAudio null sink and recording as tests/test_playback.py)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from sousa_train.data.reader import open_dataset
from sousa_train.rudiments import class_id
from tests.test_hub import HUB
from tests.test_playback import (  # noqa: F401 (pulse, recording, sounds: fixtures)
    MISTAKE,
    OTHER,
    RATE,
    REFERENCE,
    Host,
    Recording,
    match,
    play_from_mistakes,
    pulse,
    recording,
    segment_match,
    sounds,
    status,
)
from tests.waiting import wait_until


@pytest.fixture
def hub_run(tmp_path: Path) -> Path:
    """A run over the Hub-layout fixture whose test split has one mistake."""
    clips = {c.sample_id: c for c in open_dataset(HUB).all_clips()}
    rows = [
        {
            "sample_id": sid,
            "audio_path": clips[sid].audio_path,
            "label": clips[sid].label,
            "pred": class_id(pred),
            "confidence": confidence,
        }
        for sid, pred, confidence in (
            (MISTAKE, "single_ratamacue", 0.8),
            (REFERENCE, "single_ratamacue", 0.9),
            (OTHER, "single_paradiddle", 0.7),
        )
    ]
    assert all("#row=" in row["audio_path"] for row in rows)
    root = tmp_path / "exp" / "20260101-000000-play"
    (root / "eval" / "test").mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"data_root": str(HUB)}))
    pq.write_table(pa.Table.from_pylist(rows), root / "eval" / "test" / "predictions.parquet")
    return root


async def test_p_plays_a_clip_from_its_shard(
    recording: Recording,  # noqa: F811
    hub_run: Path,
    sounds: dict[str, np.ndarray],  # noqa: F811
) -> None:
    clip = sounds[MISTAKE]
    async with Host(hub_run).run_test(size=(140, 40)) as pilot:
        screen = await play_from_mistakes(pilot, "p")
        assert MISTAKE in status(screen)
        await wait_until(pilot, lambda: not screen.player.playing, "the clip to end")
    sound = recording.stop()
    assert np.sqrt(np.mean(sound**2)) > 0.01, "only silence reached the sink"
    assert segment_match(sound, clip) > 0.9
    assert match(sound, sounds[OTHER]) < 0.5
