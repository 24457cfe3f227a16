"""The demo's sound: synthesized snares and a pad, SOUSA's rooms and mic distances, noise.

A player's drum is rendered once into a bank of stroke waveforms (per hand, per level layer, a
few variants), so a clip is only the sum of bank slices at its stroke times (``render``) and one
FFT round trip that applies the room, the microphone colour and the noise together (``finish``).
That keeps a clip to a few milliseconds of one core.

Level and timbre both follow stroke velocity, as on a real snare: a harder stroke is louder,
rings more of the head's upper modes, has brighter snare wires and a sharper stick click.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

# Bessel-zero ratios of an ideal membrane's first modes: the drum head's partials.
_MODE_RATIOS = np.array([1.0, 1.594, 2.136, 2.296, 2.653])
# Mode weights for a strike at the centre and at the edge of the head.
_MODES_CENTRE = np.array([1.0, 0.25, 0.12, 0.15, 0.05])
_MODES_EDGE = np.array([0.6, 1.0, 0.5, 0.7, 0.4])

LAYER_DB = np.arange(-45.0, 6.01, 3.0)
"""Levels (dB, 0 = a full accent) at which each hand's strokes are pre-rendered."""
VARIANTS = 3
BANK_SECONDS = 0.35


@dataclass(frozen=True)
class Kit:
    """A family of snare drums; each player draws their own drum from these ranges."""

    name: str
    f0: tuple[float, float]
    decay: tuple[float, float]
    wires: tuple[float, float]
    wire_decay: tuple[float, float]
    cutoff: tuple[float, float]


KITS: tuple[Kit, ...] = (
    Kit("synth_snare_tight", (240, 300), (0.03, 0.06), (0.8, 1.2), (0.04, 0.07), (6000, 9000)),
    Kit("synth_snare_fat", (160, 200), (0.05, 0.09), (0.5, 0.8), (0.06, 0.10), (3500, 5500)),
    Kit("synth_snare_piccolo", (300, 380), (0.025, 0.045), (1.0, 1.4), (0.035, 0.06), (7e3, 1e4)),
    Kit("synth_snare_marching", (200, 260), (0.04, 0.07), (0.6, 1.0), (0.05, 0.08), (4500, 7000)),
    # A practice pad: no wires, a short high thud; rudiments are practised on one as often.
    Kit("synth_pad", (420, 560), (0.012, 0.025), (0.05, 0.15), (0.01, 0.02), (3000, 5000)),
)


@dataclass(frozen=True)
class Drum:
    """One concrete snare: head pitch and decay, wire level, decay and brightness."""

    kit: str
    f0: float
    decay: float
    wires: float
    wire_decay: float
    cutoff: float

    @classmethod
    def draw(cls, kit: Kit, rng: np.random.Generator) -> Drum:
        return cls(
            kit=kit.name,
            f0=float(rng.uniform(*kit.f0)),
            decay=float(rng.uniform(*kit.decay)),
            wires=float(rng.uniform(*kit.wires)),
            wire_decay=float(rng.uniform(*kit.wire_decay)),
            cutoff=float(rng.uniform(*kit.cutoff)),
        )


@dataclass(frozen=True)
class Touch:
    """How one hand strikes: brightness (stick, grip) and position (0 centre .. 1 edge).

    The two hands of a player differ in both, as real hands do; that difference is what lets
    a listener hear which hand plays, e.g. three strokes per hand versus two.
    """

    brightness: float
    position: float


class Bank(Protocol):
    """A player's pre-rendered strokes ``waves[hand, layer, variant, sample]``."""

    sample_rate: int
    waves: np.ndarray


class StrokeBank:
    """Pre-rendered strokes ``waves[hand, layer, variant]``, each peak-normalised to 1."""

    def __init__(
        self, drum: Drum, touches: tuple[Touch, Touch], sample_rate: int, rng: np.random.Generator
    ) -> None:
        self.sample_rate = sample_rate
        n = round(BANK_SECONDS * sample_rate)
        t = (np.arange(n) / sample_rate).astype(np.float32)
        vel = 10.0 ** (np.minimum(LAYER_DB, 0.0) / 20.0)[None, :, None, None]
        shape = (2, len(LAYER_DB), VARIANTS)

        position = np.array([tc.position for tc in touches])[:, None, None, None]
        modes = (1 - position) * _MODES_CENTRE + position * _MODES_EDGE
        k = np.arange(len(_MODE_RATIOS))
        modes = (modes * vel ** (0.25 * k)).astype(np.float32)
        detune = 1 + 0.01 * rng.standard_normal(shape)[..., None]
        omega = (2 * np.pi * drum.f0 * _MODE_RATIOS * detune * (1 + 0.02 * vel)).astype(np.float32)
        phase = rng.uniform(0, 2 * np.pi, (*shape, len(k))).astype(np.float32)
        tau = drum.decay / (1 + 0.5 * k)
        head = np.zeros((*shape, n), dtype=np.float32)
        for i in range(len(k)):
            ring = np.exp(-t / np.float32(tau[i]))
            partial = np.sin(omega[..., i, None] * t + phase[..., i, None])
            head += modes[..., i, None] * ring * partial

        bright = np.array([tc.brightness for tc in touches])[:, None, None, None]
        cutoff = np.minimum(drum.cutoff * bright * (0.25 + 0.75 * vel**0.5), 0.45 * sample_rate)
        f = np.fft.rfftfreq(n, 1 / sample_rate)
        colour = (1 / np.sqrt(1 + (f / cutoff) ** 4)) * (f / 150.0) ** 2 / (1 + (f / 150.0) ** 2)
        white = rng.standard_normal((*shape, 2 * len(f)), dtype=np.float32).view(np.complex64)
        noise = np.fft.irfft(white * colour.astype(np.float32), n)
        wire_env = np.exp(-t / drum.wire_decay) * (1 - np.exp(-t / 0.0008))
        click_env = np.exp(-t / 0.0015)
        noise *= (drum.wires * wire_env + 1.5 * vel**0.5 * click_env).astype(np.float32)

        waves = head + noise
        fade = max(1, n // 5)
        waves[..., -fade:] *= (0.5 + 0.5 * np.cos(np.linspace(0, np.pi, fade))).astype(np.float32)
        waves /= np.abs(waves).max(axis=-1, keepdims=True)
        self.waves = waves


def nearest_layer(level_db: np.ndarray) -> np.ndarray:
    """The nearest pre-rendered layer for each level: its timbre stands in for the stroke's."""
    idx = np.rint((level_db - LAYER_DB[0]) / (LAYER_DB[1] - LAYER_DB[0])).astype(np.int64)
    return np.clip(idx, 0, len(LAYER_DB) - 1)


def render(
    bank: Bank,
    times: np.ndarray,
    hands: np.ndarray,
    level_db: np.ndarray,
    num_samples: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """The dry drum track: each stroke's bank waveform added at its time, scaled to its level."""
    length = bank.waves.shape[-1]
    out = np.zeros(num_samples + length, dtype=np.float32)
    starts = np.clip(np.rint(times * bank.sample_rate).astype(np.int64), 0, num_samples)
    layers = nearest_layer(level_db)
    variants = rng.integers(0, VARIANTS, len(times))
    gains = (10.0 ** (level_db / 20.0)).astype(np.float32)
    waves = bank.waves
    columns = (starts, hands, layers, variants, gains)
    for s, h, layer, v, g in zip(*(c.tolist() for c in columns), strict=True):
        out[s : s + length] += g * waves[h, layer, v]
    return out[:num_samples]


@dataclass(frozen=True)
class Preset:
    """A recording situation: one of SOUSA's augmentation presets, with its figures.

    ``room_type``, ``mic_type``, ``mic_distance`` (m) and ``compression`` (ratio; 1 = none)
    are the values SOUSA's labels record for the preset. The distance sets the high-frequency
    loss. The compression is recorded, not applied: on 1,200 real SOUSA clips accents stand a
    median 16.7 dB above taps (single_stroke_four, the tests' measure), above the 6-12 dB of
    our players, so compressing would move the demo away from SOUSA. ``wet`` (the reverb's
    share of the energy) is drawn around SOUSA's ``aug_room_wet_dry``. ``noise_db`` (noise RMS
    against the dry drum's peak) is not SOUSA's ``aug_noise_level_db``, whose reference
    differs: it puts the finished clips' noise floor (5th percentile of 20 ms RMS against the
    peak) where it was measured on those real clips: clean_studio -75 dB, practice_room -71,
    marching_field -63, gym -60, garage -60. ``rt60`` is the reverb's decay time (s),
    ``noise_slope`` the noise colour (0 white, 1 pink, 2 brown).
    """

    name: str
    room_type: str
    mic_type: str
    mic_distance: float
    compression: float
    wet: tuple[float, float]
    rt60: tuple[float, float]
    noise_db: tuple[float, float]
    noise_slope: tuple[float, float]


PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(name="clean_studio", room_type="studio", mic_type="condenser", mic_distance=0.4,
               compression=2.0, wet=(0.15, 0.25), rt60=(0.15, 0.3), noise_db=(-84, -78),
               noise_slope=(0.0, 0.6)),
        Preset(name="practice_room", room_type="practice_room", mic_type="dynamic",
               mic_distance=0.5, compression=2.0, wet=(0.10, 0.20), rt60=(0.2, 0.35),
               noise_db=(-80, -74), noise_slope=(0.3, 1.0)),
        Preset(name="gym", room_type="gym", mic_type="dynamic", mic_distance=2.0,
               compression=2.5, wet=(0.30, 0.40), rt60=(0.45, 0.7), noise_db=(-71, -65),
               noise_slope=(0.5, 1.2)),
        Preset(name="garage", room_type="garage", mic_type="dynamic", mic_distance=0.8,
               compression=2.5, wet=(0.25, 0.35), rt60=(0.25, 0.45), noise_db=(-70, -64),
               noise_slope=(0.8, 1.5)),
        Preset(name="marching_field", room_type="outdoor", mic_type="dynamic", mic_distance=5.0,
               compression=1.0, wet=(0.03, 0.07), rt60=(0.1, 0.2), noise_db=(-66, -60),
               noise_slope=(0.9, 1.1)),
    )
}  # fmt: skip
AIR_CUTOFF_HZ = 12000.0
"""The high-frequency loss of air and distance: the cutoff at 1 m, falling as 1/sqrt(m)."""


@dataclass(frozen=True)
class Room:
    """One room of a preset: its reverb tail and noise colour; ``index`` is its place in the
    pool, by which each FFT size's transfer functions are found."""

    index: int
    preset: Preset
    wet: float
    rt60: float
    noise_slope: float
    tail: np.ndarray


@dataclass(frozen=True)
class Acoustics:
    """One clip's recording: a room from the pool, a microphone tilt and a noise level."""

    room: Room
    noise_db: float
    mic_tilt: float


def _power_of_two(m: int) -> int:
    return 1 << max(m - 1, 1).bit_length()


class Rooms:
    """A pool of rooms per preset, built once per data set.

    Drawing a room per clip from a pool keeps a clip to two FFTs (its own and the inverse),
    while rooms still vary within a preset. A clip's FFT is the power of two that holds it
    and the reverb tail, so SOUSA's short clips do not pay for its longest (four cycles of a
    five-beat rudiment at 60 bpm); the rooms' transfer functions are computed once per size.
    """

    def __init__(
        self, sample_rate: int, max_samples: int, rng: np.random.Generator, per_preset: int = 8
    ) -> None:
        self.sample_rate = sample_rate
        self.max_ir = round(0.5 * sample_rate)
        self.largest = _power_of_two(max_samples + self.max_ir)
        self.noise_pool = rng.standard_normal(8 * (self.largest // 2 + 1), dtype=np.float32).view(
            np.complex64
        )
        self.rooms: dict[str, list[Room]] = {}
        self._pool: list[Room] = []
        for preset in PRESETS.values():
            rooms = []
            for _ in range(per_preset):
                wet = float(rng.uniform(*preset.wet))
                rt60 = float(rng.uniform(*preset.rt60))
                slope = float(rng.uniform(*preset.noise_slope))
                t = np.arange(min(round(rt60 * sample_rate), self.max_ir)) / sample_rate
                tail = rng.standard_normal(len(t)) * np.exp(-6.91 * t / rt60)
                tail[: round(rng.uniform(0.003, 0.015) * sample_rate)] = 0.0
                tail *= np.sqrt(wet / (1 - wet) / np.sum(tail**2))
                room = Room(len(self._pool), preset, wet, rt60, slope, tail)
                rooms.append(room)
                self._pool.append(room)
            self.rooms[preset.name] = rooms
        self._grids: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = {}
        self._spectra: dict[tuple[int, int], tuple[np.ndarray, np.ndarray]] = {}

    def _grid(self, nfft: int) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        """Frequencies' log (for the mic tilt, from 40 Hz), the air's loss and the noise's
        log frequency (from 20 Hz) at ``nfft``."""
        grid = self._grids.get(nfft)
        if grid is None:
            f = np.fft.rfftfreq(nfft, 1 / self.sample_rate)
            log_f = np.log(np.maximum(f, 40.0) / 1000.0).astype(np.float32)
            grid = self._grids[nfft] = (
                f,
                log_f,
                1 / (1 + (f / 5000.0) ** 2),
                np.log(np.maximum(f, 20.0) / 1000.0),
            )
        return grid

    def spectrum(self, room: Room, nfft: int) -> tuple[np.ndarray, np.ndarray]:
        """``room``'s transfer function (reverb, air, mic distance) and noise shape at
        ``nfft``, computed on first use."""
        key = (room.index, nfft)
        done = self._spectra.get(key)
        if done is None:
            f, _, air, noise_log_f = self._grid(nfft)
            distance = 1 / np.sqrt(1 + (f * np.sqrt(room.preset.mic_distance) / AIR_CUTOFF_HZ) ** 4)
            response = (1 + np.fft.rfft(room.tail, nfft) * air) * distance
            shape = np.exp(-room.noise_slope / 2 * noise_log_f)
            shape[0] = 0.0
            done = self._spectra[key] = (response.astype(np.complex64), shape.astype(np.float32))
        return done

    def draw(self, preset: str, rng: np.random.Generator) -> Acoustics:
        p = PRESETS[preset]
        rooms = self.rooms[preset]
        return Acoustics(
            room=rooms[int(rng.integers(len(rooms)))],
            noise_db=float(rng.uniform(*p.noise_db)),
            mic_tilt=float(rng.uniform(-0.25, 0.25)),
        )

    def finish(self, dry: np.ndarray, acoustics: Acoustics, rng: np.random.Generator) -> np.ndarray:
        """Room reverb, microphone tilt and background noise, in one FFT round trip.

        The noise level is set against the dry track's peak, not its mean power, so a sparse
        rudiment and a dense one sit the same distance above the noise floor.
        """
        n = len(dry)
        if n + self.max_ir > self.largest:
            raise ValueError(f"clip of {n} samples is longer than this room pool was built for")
        nfft = _power_of_two(n + self.max_ir)
        log_f = self._grid(nfft)[1]
        response, noise_shape = self.spectrum(acoustics.room, nfft)
        bins = len(log_f)
        mic = np.exp(np.float32(acoustics.mic_tilt) * log_f)
        spectrum = np.fft.rfft(dry, nfft) * response * mic
        start = int(rng.integers(len(self.noise_pool) - bins))
        noise = self.noise_pool[start : start + bins] * noise_shape
        energy = 2 * float(np.vdot(noise, noise).real) - abs(complex(noise[-1])) ** 2
        target_rms = float(np.abs(dry).max()) * 10.0 ** (acoustics.noise_db / 20.0)
        spectrum += noise * np.float32(target_rms * nfft / np.sqrt(energy))
        return np.fft.irfft(spectrum, nfft)[:n]
