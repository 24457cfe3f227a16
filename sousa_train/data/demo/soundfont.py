"""The demo's sampled snares: a General MIDI soundfont's drum kits, played by FluidSynth.

SOUSA renders its MIDI with FluidSynth through General MIDI soundfonts, every stroke the snare
(note 38) of the drum bank. A synthesized drum sounds like none of them, and a network that
hears only synthesized drums learns their timbre along with the rhythm: the demo-only model
scored 0.19-0.23 on real players. So part of the demo's players play sampled snares: the kits
of TimGM6mb, the small General MIDI soundfont that pretty_midi installs, rendered by FluidSynth
as SOUSA's generator renders its own. The dev set's soundfont (FluidR3 GM) is never used: a
score gained from the very samples of the real clips would not hold on other soundfonts.

Each kit's snare is rendered once per level layer (a note-on at the velocity FluidSynth plays
at that level), so a clip is still a sum of bank slices, as with the synthesized drums.
"""

from __future__ import annotations

import ctypes
import importlib.util
from collections.abc import Callable
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from types import ModuleType

import numpy as np

from sousa_train.data.demo.synth import BANK_SECONDS, LAYER_DB, VARIANTS

SOUNDFONT = "TimGM6mb.sf2"
"""The soundfont, from the pretty_midi package (GPL-2, by Tim Brechbill)."""
GM_SNARE = 38
"""General MIDI's acoustic snare: the note SOUSA's MIDI plays for every stroke."""
DRUM_BANK = 128

SAMPLED_KITS: dict[str, int] = {
    "timgm6mb_standard": 0,
    "timgm6mb_room": 8,
    "timgm6mb_power": 16,
    "timgm6mb_electronic": 24,
    "timgm6mb_808": 25,
    "timgm6mb_brush": 40,
    "timgm6mb_orchestra": 48,
}
"""TimGM6mb's drum kits by General MIDI program: six snares (Orchestra layers a snap over the
Standard one); its Jazz kit (32) plays the Standard snare alone, so it is left out."""

BLOCK = 64
"""FluidSynth's block: a note-on takes effect at the start of the next one."""


class SynthUnavailable(RuntimeError):
    """FluidSynth or the soundfont is not installed; the message says how to install it."""


@dataclass(frozen=True)
class SampledDrum:
    """A player's drum that is a soundfont kit's snare."""

    kit: str

    @property
    def program(self) -> int:
        return SAMPLED_KITS[self.kit]


def soundfont_path() -> Path:
    """TimGM6mb.sf2 inside the installed pretty_midi package (found without importing it)."""
    spec = importlib.util.find_spec("pretty_midi")
    path = Path(spec.submodule_search_locations[0]) / SOUNDFONT if spec else None
    if path is None or not path.is_file():
        raise SynthUnavailable(
            f"the demo's sampled snares need {SOUNDFONT} from the pretty_midi package, which is "
            "not installed: run `bash scripts/bootstrap.sh` (or `pip install pretty_midi`)."
        )
    return path


def _fluidsynth() -> ModuleType:
    """pyfluidsynth, which loads libfluidsynth on import."""
    try:
        import fluidsynth
    except ImportError as exc:
        raise SynthUnavailable(
            "rendering the demo's sampled snares needs the FluidSynth library (2.x) and "
            f"pyfluidsynth ({exc}): `apt-get install libfluidsynth3` on Debian or Ubuntu, "
            "`brew install fluid-synth` on macOS, then `bash scripts/bootstrap.sh`, which also "
            "installs it with apt when run as root."
        ) from exc
    return fluidsynth


@cache
def _write_float(fluidsynth: ModuleType) -> Callable[..., int]:
    """libfluidsynth's ``fluid_synth_write_float``, which pyfluidsynth does not wrap: its
    ``get_samples`` gives dithered 16-bit samples, too coarse for the quietest layers."""
    args = (
        ("synth", ctypes.c_void_p),
        ("len", ctypes.c_int),
        ("lout", ctypes.c_void_p),
        ("loff", ctypes.c_int),
        ("lincr", ctypes.c_int),
        ("rout", ctypes.c_void_p),
        ("roff", ctypes.c_int),
        ("rincr", ctypes.c_int),
    )
    return fluidsynth.cfunc("fluid_synth_write_float", ctypes.c_int, *((n, k, 1) for n, k in args))


class _Player:
    """One FluidSynth instance with a drum kit on channel 0, reverb and chorus off (the
    demo's rooms add the room), writing float samples."""

    def __init__(self, program: int, sample_rate: int) -> None:
        fluidsynth = _fluidsynth()
        self.synth = fluidsynth.Synth(gain=1.0, samplerate=float(sample_rate))
        self.synth.setting("synth.reverb.active", 0)
        self.synth.setting("synth.chorus.active", 0)
        sfid = self.synth.sfload(str(soundfont_path()))
        if sfid < 0 or self.synth.program_select(0, sfid, DRUM_BANK, program) != 0:
            raise SynthUnavailable(f"FluidSynth could not load drum kit {program} of {SOUNDFONT}")
        self._write = _write_float(fluidsynth)

    def strike(self, velocity: int, num_samples: int) -> np.ndarray:
        """One snare note from its first sample, mono (the mean of the two channels)."""
        n = -(-(num_samples + BLOCK) // BLOCK) * BLOCK
        left = np.zeros(n, dtype=np.float32)
        right = np.zeros(n, dtype=np.float32)
        self.synth.noteon(0, GM_SNARE, velocity)
        self._write(self.synth.synth, n, left.ctypes.data, 0, 1, right.ctypes.data, 0, 1)
        self.synth.noteoff(0, GM_SNARE)
        self.synth.all_sounds_off(0)
        wave = 0.5 * (left + right)
        start = int(np.flatnonzero(wave)[0]) if wave.any() else 0
        return wave[start : start + num_samples]

    def close(self) -> None:
        self.synth.delete()


@cache
def snare_layers(program: int, sample_rate: int) -> np.ndarray:
    """``[layer, sample]``: kit ``program``'s snare at each of LAYER_DB's levels, each
    peak-normalised to 1. A layer is the note-on whose peak, against a full-velocity one's,
    is nearest that level, so the soundfont's own velocity curve and filter set its timbre."""
    player = _Player(program, sample_rate)
    try:
        n = round(BANK_SECONDS * sample_rate)
        strikes = [player.strike(v, n) for v in range(1, 128)]
    finally:
        player.close()
    peaks = np.array([np.abs(s).max() for s in strikes])
    if peaks[-1] <= 0:
        raise SynthUnavailable(f"drum kit {program} of {SOUNDFONT} has no snare on note 38")
    level_db = 20 * np.log10(np.maximum(peaks, 1e-9) / peaks[-1])
    layers = []
    for target in np.minimum(LAYER_DB, 0.0):
        wave = strikes[int(np.argmin(np.abs(level_db - target)))]
        layers.append(np.pad(wave, (0, n - len(wave))) / np.abs(wave).max())
    return np.stack(layers).astype(np.float32)


class SampledBank:
    """The bank of a sampled drum, shaped as StrokeBank's ``waves[hand, layer, variant]``:
    both hands and every variant play the same sample, as FluidSynth plays one note."""

    def __init__(self, drum: SampledDrum, sample_rate: int) -> None:
        self.sample_rate = sample_rate
        layers = snare_layers(drum.program, sample_rate)
        shape = (2, len(LAYER_DB), VARIANTS, layers.shape[-1])
        self.waves = np.broadcast_to(layers[None, :, None], shape)
