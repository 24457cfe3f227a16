"""The stroke view: the stroke period heard from the audio, and a rudiment's one shape at
every tempo. Clips are rendered by the demo generator at tempos the test chooses, so the
truth (SOUSA's timing: even slots across each cycle's beats) is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from sousa_train.data.demo.patterns import PATTERNS
from sousa_train.data.demo.render import LONGEST_SEC, TIERS, _stream, draw_profile, play
from sousa_train.data.demo.synth import Rooms, StrokeBank
from sousa_train.models.frontends import EfficientATMel
from sousa_train.models.strokes import StrokeView, onset_envelope, stroke_canvas, stroke_period

RATE = 16000
PROFESSIONAL = TIERS[-1]
EVEN_RUDIMENTS = ("single_stroke_roll", "double_stroke_open_roll", "single_paradiddle")


@pytest.fixture(scope="module")
def rooms() -> Rooms:
    return Rooms(RATE, math.ceil(LONGEST_SEC * RATE), _stream(0, 9))


def played(slug: str, tempo: int, rooms: Rooms, player: int = 0) -> torch.Tensor:
    """``slug`` at ``tempo`` bpm by one professional player, as a waveform ``[1, N]``; the
    same take (room, slips, levels) at every tempo."""
    profile = draw_profile(1, "train", PROFESSIONAL, _stream(1, player))
    bank = StrokeBank(profile.drum, profile.touches, RATE, _stream(2, player))
    take = play(PATTERNS[slug], profile, bank, rooms, tempo, _stream(3, player))
    return torch.from_numpy(take.wave).float()[None]


@pytest.mark.parametrize("slug", EVEN_RUDIMENTS)
def test_the_stroke_period_gives_the_tempo_from_60_to_200_bpm(slug: str, rooms: Rooms) -> None:
    mel = EfficientATMel(RATE, 32)
    pattern = PATTERNS[slug]
    for tempo in (60, 80, 100, 120, 140, 160, 180, 200):
        period = float(stroke_period(onset_envelope(mel(played(slug, tempo, rooms))), 100.0)[0])
        heard = 60 * pattern.beats_per_cycle / (period * pattern.slots)
        assert abs(heard / tempo - 1) < 0.04, (slug, tempo, heard)


def test_one_rudiment_at_two_tempos_has_one_shape(rooms: Rooms) -> None:
    """Canvas onset rows of a rudiment at 80 and 160 bpm line up; on the clock they do not."""
    view = StrokeView(RATE, 32, frames_per_stroke=4, strokes=128).eval()
    onset_row = 32
    for slug in ("nine_stroke_roll", "single_paradiddle", "double_stroke_open_roll"):
        slow, fast = played(slug, 80, rooms), played(slug, 160, rooms)
        with torch.no_grad():
            a, b = view(slow)[0], view(fast)[0]
        n = int(min((a[onset_row] != 0).sum(), (b[onset_row] != 0).sum()))
        assert n >= 4 * 4 * PATTERNS[slug].slots  # four cycles on both canvases
        canvas = np.corrcoef(a[onset_row, :n], b[onset_row, :n])[0, 1]
        clock_a, clock_b = onset_envelope(view.mel(slow))[0], onset_envelope(view.mel(fast))[0]
        m = min(len(clock_a), len(clock_b))
        clock = np.corrcoef(clock_a[:m], clock_b[:m])[0, 1]
        assert canvas > 0.8 and canvas > clock + 0.3, (slug, canvas, clock)
        # The tempo row keeps what normalising took away: the fast clip's period is half.
        assert float(a[-1, 0] - b[-1, 0]) == pytest.approx(math.log(2), abs=0.04)


def test_the_canvas_keeps_each_strokes_energy_whatever_the_scale() -> None:
    """Area resampling: a finer or coarser canvas neither drops nor doubles a stroke."""
    features = torch.zeros(1, 1, 100)
    features[0, 0, 10::20] = 1.0  # five strokes, 20 frames apart
    for per_frame in (0.5, 1.0, 2.5, 5.0):
        canvas = stroke_canvas(features, torch.tensor([per_frame]), round(100 / per_frame))
        assert float(canvas.sum() * per_frame) == pytest.approx(5.0, rel=1e-4)
    beyond = stroke_canvas(features, torch.tensor([2.0]), 80)
    assert torch.all(beyond[..., 50:] == 0)
