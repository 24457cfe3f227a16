"""The stroke view: a clip's features on a time axis measured in strokes, not seconds.

A drummer hears a rudiment as strokes: how many between accents, where the grace notes and
the doubles fall. On a clock the same rudiment at 60 and at 180 bpm is three times wider, and
a nine-stroke roll at one tempo looks like a thirteen-stroke roll at another. This view
estimates each clip's stroke period from the audio alone and resamples the features onto a
canvas with a fixed number of frames per stroke, so a rudiment has one shape at every tempo.

Why the stroke period and not the beat: SOUSA's generator spaces every stroke of a cycle
evenly across it, grace-note slots included, so in most rolls (a seventeen-stroke roll fills
4.5 beats with 17 even strokes) nothing in the sound marks the beat, while the strokes are
always even. The period is the fundamental of the onset envelope's autocorrelation, chosen by
a comb over its first harmonics (peak at each multiple, trough half-way between), which favours
the stroke over its multiples without any prior on tempo; so the estimate follows a clip's
speed exactly, which a tempo prior (librosa's log-normal around 120 bpm, which switches
octave as the tempo crosses it) would not. Everything runs in torch on the batch, on the
training device, so training, ``eval``, ``predict`` and the ONNX export compute it the same way.
"""

from __future__ import annotations

import math

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from sousa_train.models.frontends import EfficientATMel

# Stroke periods searched: 45 ms (seven strokes a beat at 190 bpm) to 0.6 s (a flam's
# strokes at 50 bpm, two slots apart).
SHORTEST_PERIOD = 0.045
LONGEST_PERIOD = 0.6
CANDIDATES = 400
HARMONICS = 8


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


def stroke_canvas(features: Tensor, frames_per_period: Tensor, length: int) -> Tensor:
    """``features`` [B, C, T] resampled to ``length`` frames, example b with
    ``frames_per_period[b]`` input frames per output frame, from its first frame.

    Each output frame is the mean of the input over its span (linear interpolation of the
    running sum), so a stroke is neither skipped when the canvas is coarser than the input
    nor doubled when it is finer. Beyond the clip's end the canvas is zero."""
    b, c, t = features.shape
    total = F.pad(features.float().cumsum(dim=-1), (1, 0))  # [B, C, T + 1]
    edges = torch.arange(length + 1, device=features.device) * frames_per_period[:, None]
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
    """Waveforms ``[B, N]`` -> the stroke view ``[B, n_mels + 2, strokes * frames_per_stroke]``.

    Rows: the clip's standardised log-mel and its onset envelope (scaled to peak 1), both
    resampled so that one stroke period spans ``frames_per_stroke`` frames from the clip's
    first sample, then one constant row holding the log of the stroke period (in units of
    0.1 s), so the network still knows how fast the clip was played. In training the period
    is jittered by up to ``jitter`` (log-uniform), so the network does not rely on an exact
    estimate.
    """

    def __init__(
        self,
        sample_rate: int,
        n_mels: int,
        *,
        frames_per_stroke: int,
        strokes: int,
        jitter: float = 0.03,
    ) -> None:
        super().__init__()
        self.mel = EfficientATMel(sample_rate, n_mels)
        self.frame_rate = sample_rate / self.mel.hop_length
        self.frames_per_stroke = frames_per_stroke
        self.length = strokes * frames_per_stroke
        self.jitter = jitter

    def forward(self, wave: Tensor) -> Tensor:
        with torch.autocast(device_type=wave.device.type, enabled=False):
            return self.from_logmel(self.mel(wave))

    def from_logmel(self, logmel: Tensor) -> Tensor:
        """The view of a log-mel ``[B, n_mels, T]`` already computed by :attr:`mel`."""
        onsets = onset_envelope(logmel)
        period = self.period(onsets)
        mean = logmel.mean(dim=(1, 2), keepdim=True)
        std = logmel.std(dim=(1, 2), keepdim=True)
        rows = torch.cat(
            [
                (logmel - mean) / (std + 1e-5),
                (onsets / (onsets.amax(dim=-1, keepdim=True) + 1e-6)).unsqueeze(1),
            ],
            dim=1,
        )
        canvas = stroke_canvas(rows, period * self.frame_rate / self.frames_per_stroke, self.length)
        tempo = (period / 0.1).log()[:, None, None].expand(-1, 1, self.length)
        return torch.cat([canvas, tempo], dim=1)

    def period(self, onsets: Tensor) -> Tensor:
        """The stroke period in seconds per clip, jittered in training."""
        period = stroke_period(onsets, self.frame_rate)
        if self.training and self.jitter > 0:
            spread = math.log1p(self.jitter)
            period = period * torch.empty_like(period).uniform_(-spread, spread).exp()
        return period

    def extra_repr(self) -> str:
        return (
            f"frames_per_stroke={self.frames_per_stroke}, length={self.length}, "
            f"jitter={self.jitter}"
        )
