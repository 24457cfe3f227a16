"""The demo's sampled snares: TimGM6mb's drum kits played by the real FluidSynth.

A stroke's label says when its stick lands, so every sampled layer must start sounding at its
first sample; the demo must hold both kinds of drum; and a machine without FluidSynth must get
a message that says what to install, not a half-written data set.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sousa_train.data.demo.render import generate_demo_dataset
from sousa_train.data.demo.soundfont import SAMPLED_KITS, snare_layers
from sousa_train.data.demo.synth import BANK_SECONDS, KITS, LAYER_DB

RATE = 16000


def test_every_kit_sounds_its_snare_from_the_first_sample() -> None:
    for kit, program in SAMPLED_KITS.items():
        layers = snare_layers(program, RATE)
        assert layers.shape == (len(LAYER_DB), round(BANK_SECONDS * RATE)), kit
        peaks = np.abs(layers).max(axis=1)
        assert np.allclose(peaks, 1.0), kit
        onsets = np.argmax(np.abs(layers) > 0.1, axis=1)
        assert onsets.max() < 0.002 * RATE, (kit, onsets)
        assert np.abs(layers[:, round(0.05 * RATE) :]).max() < 0.9, kit


def test_the_kits_are_different_snares() -> None:
    """Seven kits, no two the same sound: TimGM6mb's Jazz kit, which plays the Standard
    snare alone, is left out; Orchestra layers a snap over the Standard snare (r 0.95)."""
    loudest = [snare_layers(program, RATE)[-1] for program in SAMPLED_KITS.values()]
    r = np.corrcoef(loudest)[np.triu_indices(len(loudest), 1)]
    assert r.max() < 0.98 and np.median(r) < 0.3, np.round(r, 2)


def test_the_demo_holds_sampled_and_synthesized_players(tmp_path: Path) -> None:
    root = generate_demo_dataset(tmp_path / "demo", clips_per_rudiment=12, seed=3).root
    rows = pq.read_table(root / "labels" / "samples.parquet").to_pylist()
    kits = {row["soundfont"] for row in rows}
    assert kits & set(SAMPLED_KITS) and kits & {kit.name for kit in KITS}, kits
    assert all(row["aug_soundfont"] == row["soundfont"] for row in rows)


def test_without_fluidsynth_the_demo_says_what_to_install(tmp_path: Path) -> None:
    """pyfluidsynth raises ImportError when libfluidsynth is missing; a Python that cannot
    import it shows what the user sees, and no folder is left behind."""
    out = tmp_path / "demo"
    script = (
        "import sys; sys.modules['fluidsynth'] = None\n"
        "from pathlib import Path\n"
        "from sousa_train.data.demo.render import DemoDataError, generate_demo_dataset\n"
        "try:\n"
        f"    generate_demo_dataset(Path({str(out)!r}), clips_per_rudiment=12, seed=3)\n"
        "except DemoDataError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(3)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert done.returncode == 3, done.stderr
    assert str(out) in done.stdout
    assert "FluidSynth" in done.stdout and "apt-get install libfluidsynth3" in done.stdout
    assert not out.exists() and not list(tmp_path.iterdir())
