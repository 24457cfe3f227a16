"""Two real runs side by side: the per-rudiment differences are the two predictions.parquet
files', runs over different clips refuse to compare, and a clip that one run classifies
right and the other wrong plays (same PulseAudio null sink as tests/test_playback.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow.parquet as pq
import pytest
import soundfile as sf
import soxr
from textual.app import App
from textual.widgets import Static

from sousa_train.rudiments import RUDIMENTS
from sousa_train.rundir.scan import find_runs
from sousa_tui.evaluation.compare import CannotCompare, compare
from sousa_tui.evaluation.compare_screen import CompareScreen, FlipTable, RecallDiffTable
from sousa_tui.evaluation.scores import audio_file, load_eval
from tests.conftest import GRID_TRAINED
from tests.test_playback import (  # noqa: F401 (pulse, recording: fixtures)
    RATE,
    Recording,
    pulse,
    recording,
    segment_match,
)
from tests.waiting import wait_until


@pytest.fixture
def pair(grid_runs: Path) -> tuple[Path, Path]:
    """efficientat and rhythmcnn, both from scratch on the same demo clips."""
    return tuple(find_runs(grid_runs / "runs", name)[0].root for name in GRID_TRAINED[:2])


def parquet_recalls(run: Path) -> dict[int, float]:
    rows = pq.read_table(run / "eval" / "test" / "predictions.parquet").to_pylist()
    labels = {r["label"] for r in rows}
    return {c: np.mean([r["pred"] == c for r in rows if r["label"] == c]) for c in sorted(labels)}


def right(run: Path) -> dict[str, bool]:
    rows = pq.read_table(run / "eval" / "test" / "predictions.parquet").to_pylist()
    return {r["sample_id"]: r["label"] == r["pred"] for r in rows}


class Host(App[None]):
    def __init__(self, a: Path, b: Path) -> None:
        super().__init__()
        self.pair = (a, b)

    def on_mount(self) -> None:
        self.push_screen(CompareScreen(*self.pair))


def test_differences_are_the_predictions_files_and_other_clips_refuse(
    pair: tuple[Path, Path],
) -> None:
    a, b = pair
    found = compare(load_eval(a, "test"), load_eval(b, "test"))
    recall_a, recall_b = parquet_recalls(a), parquet_recalls(b)
    assert [r.pas - 1 for r in found.rudiments] == sorted(recall_a)
    for r in found.rudiments:
        assert r.difference == pytest.approx(recall_b[r.pas - 1] - recall_a[r.pas - 1])
    right_a, right_b = right(a), right(b)
    flipped = {s for s in right_a if right_a[s] != right_b[s]}
    assert {f.a.sample_id for f in found.flips} == flipped and flipped
    assert all((f.right == "A") == right_a[f.a.sample_id] for f in found.flips)
    assert found.difference.sum() == 0  # the same clips, moved between cells
    with pytest.raises(CannotCompare, match="different clips"):
        compare(load_eval(a, "test"), load_eval(b, "val"))


async def test_a_flipped_clip_plays_and_sound_comes_out(
    recording: Recording,  # noqa: F811
    pair: tuple[Path, Path],
) -> None:
    async with Host(*pair).run_test(size=(150, 45)) as pilot:
        screen = pilot.app.screen
        assert isinstance(screen, CompareScreen)
        await wait_until(pilot, lambda: screen.comparison is not None, "the comparison", 60)
        table = screen.query_one(RecallDiffTable)
        assert table.row_count == len(screen.comparison.rudiments)
        await pilot.press("3")
        flips = screen.query_one(FlipTable)
        flips.focus()
        flip = flips.selected
        assert flip is not None and flip.a.correct != flip.b.correct
        await pilot.press("p")

        def status() -> str:
            return str(screen.query_one("#status", Static).render())

        await wait_until(pilot, lambda: status().startswith("▶ playing"), "playing", 30)
        assert flip.a.sample_id in status() and RUDIMENTS[flip.a.label].name in status()
        await wait_until(pilot, lambda: not screen.player.playing, "the end", 60)
        path = audio_file(screen.comparison.a, flip.a)
        await pilot.press("b")  # A/B: the rudiment the wrong run heard, then p stops it
        heard = RUDIMENTS[flip.wrong.pred].name
        await wait_until(pilot, lambda: status().startswith("▶ playing"), "the B clip", 30)
        assert f"({heard}, " in status()
        await pilot.press("p")
        await wait_until(pilot, lambda: status().startswith("■ stopped"), "the stop", 30)
    audio, rate = sf.read(path, dtype="float32", always_2d=True)
    clip = soxr.resample(audio.mean(axis=1), rate, RATE)
    sound = recording.stop()
    assert np.sqrt(np.mean(sound**2)) > 1e-3, "only silence reached the sink"
    assert segment_match(sound, clip) > 0.9
