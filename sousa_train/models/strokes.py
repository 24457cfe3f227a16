"""The stroke view: a clip's features on a time axis of its own performance, not seconds.

A drummer hears a rudiment as strokes: how many between accents, where the grace notes and
the doubles fall. On a clock the same rudiment at 60 and at 180 bpm is three times wider, and
a nine-stroke roll at one tempo looks like a thirteen-stroke roll at another. This view finds
in the audio alone where the performance starts and ends (the first and the last stroke's
attack) and resamples the features onto a canvas that the performance fills, so a rudiment
has one shape at every tempo: every SOUSA clip is four cycles of its rudiment, so a cycle is
a quarter of the canvas whoever plays it and however fast.

Why not the beat or the stroke period: SOUSA's generator spaces every stroke of a cycle
evenly across it, grace-note slots included, so in most rolls (a seventeen-stroke roll fills
4.5 beats with 17 even strokes) nothing in the sound marks the beat; and the stroke period
(:func:`stroke_period`, the fundamental of the onset envelope's autocorrelation chosen by a
comb over its first harmonics, with no prior on tempo) is exact for steady players but
washes out under a beginner's ~60 ms slips, and is then off by a whole factor. The span
from the first to the last attack is a sum of every slip, not a periodicity, so it holds for
every player (measured in README, "Real SOUSA audio"). The stroke period remains the view's
tempo estimate and its ``"strokes"`` axis, for comparison. Everything runs in torch on the
batch, on the training device, so training, ``eval``, ``predict`` and the ONNX export
compute it the same way.
"""

from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sousa_train.models.frontends import NORM_SCALE, NORM_SHIFT, EfficientATMel

# Stroke periods searched: 45 ms (seven strokes a beat at 190 bpm) to 0.6 s (a flam's
# strokes at 50 bpm, two slots apart).
SHORTEST_PERIOD = 0.045
LONGEST_PERIOD = 0.6
CANDIDATES = 400
HARMONICS = 8

# A stroke's attack: the frame's power rises by 0.5 Np (4.3 dB) within 30 ms, to within 8 Np
# (35 dB) of the clip's loud frames (its tenth loudest: a few accents' attacks). On the dev
# set's 1,200 clips the span from the first to the last stroke so found is within 3 % of the
# labelled strokes' span for 83 % (beginners 78 %), within 5 % for 90 %.
STROKE_RISE = 0.5
RISE_FRAMES = 3
STROKE_DEPTH = 8.0
LOUD_FRAMES = 10
# The performance canvas runs 15 % past the last stroke, for the last cycle's final slot
# (four cycles end one slot after the last stroke: at most 1/16 of the span, a flam's) and
# the stroke's ring.
SPAN_MARGIN = 1.15
AXES = ("performance", "strokes")
# Slips (training only): knots of the warp lie this many times the largest slip apart, so
# two neighbouring knots never cross and strokes keep their order.
SLIP_KNOT_SPACING = 2.3


def onset_envelope(logmel: Tensor) -> Tensor:
    """Spectral flux ``[B, T]`` of log-mel ``[B, F, T]``: the mean rise across bins per frame
    (frame 0 is 0), the onset strength that strokes stand out in."""
    rise = F.relu(logmel[..., 1:] - logmel[..., :-1]).mean(dim=-2)
    return F.pad(rise, (1, 0))


def autocorrelation(envelope: Tensor) -> Tensor:
    """Normalised autocorrelation ``[B, T]`` of a compressed, centred envelope (via FFT).

    ``log1p(x / median)`` compresses loudness, so a weak hand's strokes or the taps between
    accents count as strokes, not as a periodicity at twice the stroke period."""
    n = envelope.shape[-1]
    median = envelope.median(dim=-1, keepdim=True).values
    x = torch.log1p(envelope / (median + 1e-6))
    x = x - x.mean(dim=-1, keepdim=True)
    size = 1 << (2 * n - 1).bit_length()
    spectrum = torch.fft.rfft(x, size)
    ac = torch.fft.irfft(spectrum.real.square() + spectrum.imag.square(), size)[..., :n]
    return ac / (ac[..., :1] + 1e-9)


def stroke_period(envelope: Tensor, frame_rate: float) -> Tensor:
    """Each clip's stroke period in seconds ``[B]`` from its onset envelope ``[B, T]``.

    Scores every candidate lag τ by ``mean_k ac(kτ) - ac((k - 1/2)τ)`` over the first
    :data:`HARMONICS` multiples: the true period has a peak at every multiple and a trough
    between, a multiple of it has peaks in between too, a fraction of it troughs on its own
    multiples."""
    ac = autocorrelation(envelope.float())
    n = ac.shape[-1]
    lags = (
        torch.linspace(
            math.log(SHORTEST_PERIOD), math.log(LONGEST_PERIOD), CANDIDATES, device=ac.device
        ).exp()
        * frame_rate
    )
    score = torch.zeros(ac.shape[0], CANDIDATES, device=ac.device)
    for k in range(1, HARMONICS + 1):
        score += _at(ac, k * lags, n) - _at(ac, (k - 0.5) * lags, n)
    return lags[score.argmax(dim=-1)] / frame_rate


def _at(ac: Tensor, lags: Tensor, n: int) -> Tensor:
    """``ac`` at fractional ``lags`` [L] by linear interpolation; 0 beyond its end."""
    low = lags.floor().long().clamp(0, n - 2)
    frac = (lags - low).clamp(0.0, 1.0)
    value = ac[..., low] * (1 - frac) + ac[..., low + 1] * frac
    return torch.where(lags < n - 1, value, torch.zeros_like(value))


def loudness(logmel: Tensor) -> Tensor:
    """Each frame's power in nepers (natural log), ``[B, T]``, from the frontend's normalised
    log-mel: the level a stroke's attack lifts and a room's decay only lowers."""
    return torch.logsumexp(logmel * NORM_SCALE - NORM_SHIFT, dim=-2)


def performance_span(logmel: Tensor) -> tuple[Tensor, Tensor]:
    """The first and last stroke's frames ``([B], [B])`` of each clip in log-mel ``[B, F, T]``.

    A stroke is a frame whose level rises by :data:`STROKE_RISE` within :data:`RISE_FRAMES`
    frames and lies within :data:`STROKE_DEPTH` of the clip's loud frames (the
    :data:`LOUD_FRAMES`-th loudest, however much silence pads the window): a room's decay
    and the noise floor never rise like that, and the quiet strokes (taps, grace notes, the
    end of a decrescendo) still do. A clip with no stroke spans all its frames."""
    level = loudness(logmel.float())
    t = level.shape[-1]
    # Before the clip is its quietest level: a stroke on the very first sample rises too.
    floor = level.amin(dim=-1, keepdim=True).expand(-1, RISE_FRAMES)
    before = -F.max_pool1d(-torch.cat([floor, level], dim=-1)[:, None], RISE_FRAMES, stride=1)
    before = before[:, 0, :t]
    loud = torch.topk(level, min(LOUD_FRAMES, t), dim=-1).values[..., -1:]
    stroke = (level - before > STROKE_RISE) & (level > loud - STROKE_DEPTH)
    frames = torch.arange(t, device=level.device)
    none = ~stroke.any(dim=-1)
    first = torch.where(stroke, frames, t).amin(dim=-1).masked_fill(none, 0)
    last = torch.where(stroke, frames, -1).amax(dim=-1).masked_fill(none, t - 1)
    return first, last


def slip_strokes(logmel: Tensor, frame_rate: float, slip_ms: float) -> Tensor:
    """``logmel`` [B, F, T] as a sloppier drummer would have played it: each stroke early or
    late by up to ``slip_ms``.

    A piecewise-linear warp of the frame axis: knots every :data:`SLIP_KNOT_SPACING` times
    ``slip_ms``, each moved by a uniform draw in ``[-slip_ms, slip_ms]`` and a random phase
    per clip, so strokes between two knots move together and never pass each other. It moves
    frames, not samples, so a stroke keeps its pitch and ring however far it moves."""
    b, f, t = logmel.shape
    most = slip_ms / 1000 * frame_rate
    spacing = SLIP_KNOT_SPACING * most
    knots = math.ceil(t / spacing) + 2
    shift = torch.empty(b, knots, device=logmel.device).uniform_(-most, most)
    frames = torch.arange(t, device=logmel.device, dtype=torch.float32)
    phase = torch.rand(b, 1, device=logmel.device)
    at = frames / spacing + phase
    low = at.floor().long().clamp(max=knots - 2)
    frac = at - low
    moved = shift.gather(1, low) * (1 - frac) + shift.gather(1, low + 1) * frac
    source = (frames + moved).clamp(0, t - 1)
    first = source.floor().long().clamp(max=t - 2)
    weight = (source - first).unsqueeze(1)
    index = first.unsqueeze(1).expand(b, f, t)
    return logmel.gather(-1, index) * (1 - weight) + logmel.gather(-1, index + 1) * weight


def stroke_canvas(
    features: Tensor, frames_per_output: Tensor, length: int, start: Tensor | None = None
) -> Tensor:
    """``features`` [B, C, T] resampled to ``length`` frames, example b with
    ``frames_per_output[b]`` input frames per output frame, from its frame ``start[b]``
    (default 0).

    Each output frame is the mean of the input over its span (linear interpolation of the
    running sum), so a stroke is neither skipped when the canvas is coarser than the input
    nor doubled when it is finer. Beyond the clip's end the canvas is zero."""
    b, c, t = features.shape
    total = F.pad(features.float().cumsum(dim=-1), (1, 0))  # [B, C, T + 1]
    edges = torch.arange(length + 1, device=features.device) * frames_per_output[:, None]
    if start is not None:
        edges = edges + start[:, None].to(edges.dtype)
    edges = edges.clamp(max=float(t))  # [B, L + 1]
    low = edges.floor().long().clamp(max=t - 1)
    frac = (edges - low).unsqueeze(1)
    index = low.unsqueeze(1).expand(b, c, length + 1)
    at_low = total.gather(-1, index)
    at_high = total.gather(-1, index + 1)
    running = at_low + (at_high - at_low) * frac
    width = (edges[:, 1:] - edges[:, :-1]).unsqueeze(1)
    return (running[..., 1:] - running[..., :-1]) / width.clamp_min(1e-6) * (width > 0)


class StrokeView(nn.Module):
    """Waveforms ``[B, N]`` -> the stroke view ``[B, n_mels + 2, length]``.

    Rows: the clip's log-mel and its onset envelope (scaled to peak 1), both resampled onto
    ``length`` frames along one of two axes, the log-mel then standardised over the canvas;
    then one constant row holding
    the log of the axis's unit in seconds, so the network still knows how fast the clip was
    played:

    - ``"performance"`` (the model's): from the first stroke to :data:`SPAN_MARGIN` times
      the span to the last (:func:`performance_span`), so the whole performance fills the
      canvas. Every SOUSA clip is four cycles of its rudiment, so a cycle spans the same
      frames at every tempo and a bar of it the same frames for every player, however the
      player drifts; the count of strokes per cycle, the accents and the grace notes are
      then shapes at fixed places, as a drummer reads them off the page.
    - ``"strokes"``: from the clip's first sample, ``frames_per_stroke`` frames per stroke
      period (:func:`stroke_period`); right where the comb hears the stroke, off by a whole
      factor where it does not (README, "Real SOUSA audio").

    In training the unit is jittered by up to ``jitter`` (log-uniform), so the network does
    not rely on an exact estimate, and with ``slip_ms`` each stroke is moved by up to that
    many milliseconds first (:func:`slip_strokes`), so the network hears every player as a
    sloppier one too (``augment.slip_ms``).
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int,
        *,
        length: int,
        axis: Literal["performance", "strokes"] = "performance",
        frames_per_stroke: int = 4,
        jitter: float = 0.03,
        slip_ms: float = 0.0,
    ) -> None:
        super().__init__()
        if axis not in AXES:
            raise ValueError(f"StrokeView axis {axis!r}: choose one of {', '.join(AXES)}")
        self.mel = EfficientATMel(sample_rate, n_mels)
        self.frame_rate = sample_rate / self.mel.hop_length
        self.length = length
        self.axis = axis
        self.frames_per_stroke = frames_per_stroke
        self.jitter = jitter
        self.slip_ms = slip_ms

    def forward(self, wave: Tensor) -> Tensor:
        with torch.autocast(device_type=wave.device.type, enabled=False):
            return self.from_logmel(self.mel(wave))

    def from_logmel(self, logmel: Tensor) -> Tensor:
        """The view of a log-mel ``[B, n_mels, T]`` already computed by :attr:`mel`."""
        if self.training and self.slip_ms > 0:
            logmel = slip_strokes(logmel, self.frame_rate, self.slip_ms)
        onsets = onset_envelope(logmel)
        rows = torch.cat(
            [logmel, (onsets / (onsets.amax(dim=-1, keepdim=True) + 1e-6)).unsqueeze(1)], dim=1
        )
        if self.axis == "performance":
            first, last = performance_span(logmel)
            span = self.jittered((last - first).float() * SPAN_MARGIN + 1)
            canvas = stroke_canvas(rows, span / self.length, self.length, first)
            unit = span / self.frame_rate
        else:
            period = self.jittered(stroke_period(onsets, self.frame_rate))
            canvas = stroke_canvas(
                rows, period * self.frame_rate / self.frames_per_stroke, self.length
            )
            unit = period / 0.1
        # Standardised over the canvas, what the network sees, so the silence a window pads
        # a short clip with does not set its level.
        mel = canvas[:, :-1]
        mel = (mel - mel.mean(dim=(1, 2), keepdim=True)) / (
            mel.std(dim=(1, 2), keepdim=True) + 1e-5
        )
        scale = unit.log()[:, None, None].expand(-1, 1, self.length)
        return torch.cat([mel, canvas[:, -1:], scale], dim=1)

    def jittered(self, unit: Tensor) -> Tensor:
        """``unit`` [B] scaled by up to ``jitter`` either way in training; as is otherwise."""
        if self.training and self.jitter > 0:
            spread = math.log1p(self.jitter)
            return unit * torch.empty_like(unit).uniform_(-spread, spread).exp()
        return unit

    def extra_repr(self) -> str:
        return (
            f"axis={self.axis}, length={self.length}, jitter={self.jitter}, slip_ms={self.slip_ms}"
        )
