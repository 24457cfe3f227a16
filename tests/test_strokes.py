"""The stroke view: the tempo heard from the audio (the stroke period, the performance's
span), and a rudiment's one shape at every tempo. Clips are rendered by the demo generator
at tempos the test chooses, so the truth (SOUSA's timing: even slots across each cycle's
beats) is known exactly."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn import functional as F

from sousa_train.data.demo.patterns import PATTERNS
from sousa_train.data.demo.render import (
    CYCLES,
    LONGEST_SEC,
    TIERS,
    _stream,
    draw_profile,
    play,
    stroke_bank,
)
from sousa_train.data.demo.synth import Rooms
from sousa_train.models.frontends import EfficientATMel
from sousa_train.models.strokes import (
    StrokeView,
    onset_envelope,
    performance_span,
    slip_strokes,
    stroke_canvas,
    stroke_period,
)

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
    bank = stroke_bank(profile, RATE, _stream(2, player))
    take = play(PATTERNS[slug], profile, bank, rooms, tempo, _stream(3, player))
    return torch.from_numpy(take.wave).float()[None]


@pytest.mark.parametrize("slug", EVEN_RUDIMENTS)
def test_the_stroke_period_gives_the_tempo_from_60_to_200_bpm(slug: str, rooms: Rooms) -> None:
    mel = EfficientATMel(RATE, 32)
    pattern = PATTERNS[slug]
    for tempo in (60, 80, 100, 120, 140, 160, 180, 200):
        period = float(stroke_period(onset_envelope(mel(played(slug, tempo, rooms))), 100.0)[0])
        heard = pattern.tempo_from_stroke_period(period)
        assert abs(heard / tempo - 1) < 0.04, (slug, tempo, heard)


@pytest.mark.parametrize("slug", EVEN_RUDIMENTS)
def test_the_performance_span_gives_the_tempo_from_60_to_200_bpm(slug: str, rooms: Rooms) -> None:
    """Four cycles end one slot after the last stroke: the span between the first and the
    last attack is ``4 - 1/slots`` cycles, at every tempo."""
    mel = EfficientATMel(RATE, 32)
    pattern = PATTERNS[slug]
    for tempo in (60, 80, 100, 120, 140, 160, 180, 200):
        first, last = performance_span(mel(played(slug, tempo, rooms)))
        heard = pattern.tempo_from_span(float(last[0] - first[0]) / 100.0, CYCLES)
        assert abs(heard / tempo - 1) < 0.04, (slug, tempo, heard)


def test_the_span_ignores_the_silence_around_a_performance(rooms: Rooms) -> None:
    """Leading silence moves the first stroke, a padded window adds nothing after the last,
    and a silent window is one span of all its frames, not an error."""
    mel = EfficientATMel(RATE, 32)
    wave = played("single_paradiddle", 120, rooms)
    padded = F.pad(wave, (RATE // 2, 3 * RATE))
    first, last = performance_span(mel(wave))
    first_p, last_p = performance_span(mel(padded))
    assert abs(int(first_p[0]) - int(first[0]) - 50) <= 1
    assert abs(int(last_p[0]) - int(last[0]) - 50) <= 1
    silent = mel(torch.zeros(1, RATE))
    assert [int(v[0]) for v in performance_span(silent)] == [0, silent.shape[-1] - 1]


def blurred(row: torch.Tensor, sigma: float = 2.0) -> np.ndarray:
    """``row`` [T] smoothed by a Gaussian of ``sigma`` frames: onset peaks that fall within a
    frame or two of each other then count as the same stroke."""
    taps = torch.arange(-4 * sigma, 4 * sigma + 1)
    kernel = torch.exp(-0.5 * (taps / sigma) ** 2)
    kernel = (kernel / kernel.sum())[None, None]
    return F.conv1d(row[None, None], kernel, padding=len(taps) // 2)[0, 0].numpy()


def test_one_rudiment_at_two_tempos_has_one_shape(rooms: Rooms) -> None:
    """Canvas onset rows of a rudiment at 80 and 160 bpm line up; on the clock they do not
    (both blurred alike: the fast clip's strokes are half as many input frames wide)."""
    view = StrokeView(RATE, 32, length=384).eval()
    onset_row = 32
    for slug in ("nine_stroke_roll", "single_paradiddle", "double_stroke_open_roll"):
        slow, fast = played(slug, 80, rooms), played(slug, 160, rooms)
        with torch.no_grad():
            a, b = view(slow)[0], view(fast)[0]
            clock_a, clock_b = onset_envelope(view.mel(slow))[0], onset_envelope(view.mel(fast))[0]
        canvas = np.corrcoef(blurred(a[onset_row]), blurred(b[onset_row]))[0, 1]
        m = min(len(clock_a), len(clock_b))
        clock = np.corrcoef(blurred(clock_a)[:m], blurred(clock_b)[:m])[0, 1]
        assert canvas > 0.85 and canvas > clock + 0.3, (slug, canvas, clock)
        # The span row keeps what normalising took away: the fast clip's span is half.
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


def test_slips_move_each_stroke_within_bounds_and_keep_the_order() -> None:
    """Strokes 120 ms apart, each smeared over five frames as a 25 ms window smears it,
    slipped by up to 35 ms: each lands within 35 ms of where it was played, keeps its order
    and its peak, and they do move, differently in each clip."""
    played_at = torch.arange(50, 950, 12)
    strokes = torch.zeros(64, 1, 1000)
    strokes[..., played_at] = 1.0
    strokes = F.conv1d(strokes, torch.tensor([[[1 / 3, 2 / 3, 1.0, 2 / 3, 1 / 3]]]), padding=2)
    slipped = slip_strokes(strokes, 100.0, 35.0)
    frames = torch.arange(1000, dtype=torch.float32)
    near = (frames[None] - played_at[:, None]).abs() <= 6  # 35 ms, and the smear
    moved = []
    for clip in slipped[:, 0]:
        assert torch.all((clip * near).amax(-1) >= 0.6)  # every stroke is still there
        centre = (clip * frames * near).sum(-1) / (clip * near).sum(-1)
        assert torch.all(centre[1:] > centre[:-1])
        moved.append(centre - played_at)
    shift = torch.stack(moved)
    assert shift.abs().max() <= 3.5 + 0.5
    assert shift.abs().mean() > 0.8 and shift.std(dim=0).mean() > 0.8


def test_slips_act_in_training_only(rooms: Rooms) -> None:
    """``predict`` and ``eval`` see the clip as played; training sees it slipped."""
    wave = played("single_paradiddle", 120, rooms)
    plain, slipping = StrokeView(RATE, 32, length=384), StrokeView(RATE, 32, length=384, slip_ms=35)
    with torch.no_grad():
        assert torch.equal(plain.eval()(wave), slipping.eval()(wave))
        plain.jitter = slipping.jitter = 0.0
        assert not torch.allclose(plain.train()(wave), slipping.train()(wave), atol=1e-3)
