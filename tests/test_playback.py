"""Playback for real: PulseAudio with a null sink, clips played from the browser, the sink's
monitor recorded with parec and compared with the clip that should have sounded."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import soundfile as sf
from textual.app import App
from textual.widgets import Static

from sousa_train.rudiments import class_id
from sousa_tui.evaluation import EvalScreen
from tests.waiting import wait_for, wait_until

SINK = "sousa_test"
RATE = 44100
MISTAKE = "beg008_flam_accent_122bpm_fluidr3g_gym"  # shown as single_ratamacue
REFERENCE = "adv012_single_ratamacue_135bpm_fluidr3g_gym"  # a correct single_ratamacue
OTHER = "adv013_single_paradiddle_177bpm_fluidr3g_marchingfield"


@pytest.fixture(scope="module")
def pulse(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, str]]:
    """Our own PulseAudio daemon with one null sink, on a private socket; stopped afterwards."""
    tools = {name: shutil.which(name) for name in ("pulseaudio", "parec", "pactl")}
    if not all(tools.values()):
        pytest.skip(
            "PulseAudio is not installed, so no sound can be recorded: "
            "apt-get install pulseaudio pulseaudio-utils libportaudio2"
        )
    home = tmp_path_factory.mktemp("pulse")
    socket = home / "native"
    env = {
        **os.environ,
        "HOME": str(home),
        "XDG_RUNTIME_DIR": str(home),
        "PULSE_RUNTIME_PATH": str(home),
        "PULSE_SERVER": f"unix:{socket}",
    }
    daemon = subprocess.Popen(
        [
            str(tools["pulseaudio"]),
            "-n",  # no default.pa: only the modules below
            "--daemonize=no",
            "--exit-idle-time=-1",
            "--disallow-exit",
            "--use-pid-file=no",
            "--log-target=stderr",
            "-L",
            f"module-native-protocol-unix auth-anonymous=1 socket={socket}",
            "-L",
            f"module-null-sink sink_name={SINK} rate={RATE}",
        ],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:

        def answers() -> bool:
            if daemon.poll() is not None:  # it exited: waiting longer cannot help
                pytest.fail(f"pulseaudio did not start: {daemon.communicate()[1][-2000:]}")
            return not subprocess.run(
                [tools["pactl"], "info"], env=env, capture_output=True
            ).returncode

        wait_for(answers, "pulseaudio to answer", 60)
        with pytest.MonkeyPatch.context() as mp:  # this process's PortAudio talks to it
            for key in ("PULSE_SERVER", "PULSE_RUNTIME_PATH", "XDG_RUNTIME_DIR"):
                mp.setenv(key, env[key])
            yield env
    finally:
        daemon.terminate()
        daemon.wait(timeout=10)


class Recording:
    """parec on the null sink's monitor: every sample that was played, as mono float32."""

    def __init__(self, env: dict[str, str], path: Path) -> None:
        self.path = path
        cmd = ["parec", "-d", f"{SINK}.monitor", "--raw", "--format=float32le"]
        # Small fragments: parec's default (about 2 s) loses its unflushed tail when stopped.
        cmd += [f"--rate={RATE}", "--channels=1", "--latency-msec=20"]
        self.proc = subprocess.Popen(cmd, env=env, stdout=open(path, "wb"))
        wait_for(lambda: self.connected(env), "parec to connect to the sink's monitor", 30)

    def connected(self, env: dict[str, str]) -> bool:
        """The server lists parec's stream, so nothing played from now on is missed."""
        assert self.proc.poll() is None, "parec exited"
        listed = subprocess.run(
            ["pactl", "list", "source-outputs"], env=env, capture_output=True, text=True
        ).stdout
        return f'application.process.id = "{self.proc.pid}"' in listed

    def seconds(self) -> float:
        """How much the monitor has recorded so far (it records silence too)."""
        return self.path.stat().st_size / 4 / RATE

    def loud_seconds(self) -> float:
        """Seconds from the first audible sample to the end of the recording so far."""
        sound = np.fromfile(self.path, dtype=np.float32)
        loud = np.flatnonzero(np.abs(sound) > 1e-3)
        return 0.0 if loud.size == 0 else (len(sound) - loud[0]) / RATE

    def stop(self) -> np.ndarray:
        self.proc.terminate()
        self.proc.wait(timeout=10)
        return np.fromfile(self.path, dtype=np.float32)


@pytest.fixture
def recording(pulse: dict[str, str], tmp_path: Path) -> Iterator[Recording]:
    rec = Recording(pulse, tmp_path / "monitor.raw")
    yield rec
    if rec.proc.poll() is None:
        rec.stop()


@pytest.fixture(scope="module")
def sounds(fixture_root: Path) -> dict[str, np.ndarray]:
    """The three clips the run lists, as the mono signal parec records."""
    out = {}
    for path in (fixture_root / "audio").rglob("*.flac"):
        if path.stem in (MISTAKE, REFERENCE, OTHER):
            audio, rate = sf.read(path, dtype="float32", always_2d=True)
            assert rate == RATE
            out[path.stem] = audio.mean(axis=1)
    return out


def match(recording: np.ndarray, clip: np.ndarray) -> float:
    """Peak normalised cross-correlation of ``clip`` inside ``recording`` (1.0: identical)."""
    recording = np.concatenate([recording, np.zeros(len(clip))])
    size = 1 << (len(recording) + len(clip)).bit_length()
    corr = np.fft.irfft(np.fft.rfft(recording, size) * np.conj(np.fft.rfft(clip, size)), size)
    corr = corr[: len(recording) - len(clip) + 1]
    energy = np.concatenate([[0.0], np.cumsum(recording.astype(np.float64) ** 2)])
    window = energy[len(clip) :] - energy[: -len(clip)]
    clip_energy = float(np.sum(clip.astype(np.float64) ** 2))
    floor = 1e-3 * clip_energy  # silence must not divide by ~0
    return float(np.max(corr / np.sqrt(clip_energy * np.maximum(window, floor))))


def segment_match(recording: np.ndarray, clip: np.ndarray, seconds: float = 0.5) -> float:
    """Median match of the clip's pieces: a dropout under load shifts the rest of
    the clip, which must not count against it."""
    step = int(RATE * seconds)
    pieces = [clip[i : i + step] for i in range(0, len(clip) - step + 1, step)]
    return float(np.median([match(recording, piece) for piece in pieces]))


@pytest.fixture
def run(tmp_path: Path, fixture_root: Path) -> Path:
    """A run whose test split has one mistake, over the real SOUSA fixture's FLAC files."""
    samples = {
        r["sample_id"]: r
        for r in pq.read_table(fixture_root / "labels/samples.parquet").to_pylist()
    }
    rows = []
    for sid, pred, confidence in (
        (MISTAKE, "single_ratamacue", 0.8),
        (REFERENCE, "single_ratamacue", 0.9),
        (OTHER, "single_paradiddle", 0.7),
    ):
        s = samples[sid]
        rows.append(
            {
                "sample_id": sid,
                "audio_path": s["audio_path"],
                "label": class_id(s["rudiment_slug"]),
                "pred": class_id(pred),
                "confidence": confidence,
                "tempo_bpm": float(s["tempo_bpm"]),
                "skill_tier": s["skill_tier"],
                "augmentation_preset": s["augmentation_preset"],
            }
        )
    root = tmp_path / "exp" / "20260101-000000-play"
    (root / "eval" / "test").mkdir(parents=True)
    (root / "config.json").write_text(json.dumps({"data_root": str(fixture_root)}))
    pq.write_table(pa.Table.from_pylist(rows), root / "eval" / "test" / "predictions.parquet")
    return root


class Host(App[None]):
    def __init__(self, run_dir: Path) -> None:
        super().__init__()
        self.run_dir = run_dir

    def on_mount(self) -> None:
        self.push_screen(EvalScreen(self.run_dir))


def status(screen: EvalScreen) -> str:
    return str(screen.query_one("#status", Static).render())


async def play_from_mistakes(pilot, key: str) -> EvalScreen:
    """Open the mistakes tab once loaded, press ``key``, and wait for the playing indicator."""
    screen = pilot.app.screen
    assert isinstance(screen, EvalScreen)
    await wait_until(pilot, lambda: screen.data is not None, "the predictions", 60)
    await pilot.press("4", key)
    await wait_until(pilot, lambda: status(screen).startswith("▶ playing"), "playing", 30)
    return screen


async def test_p_plays_the_mistake_and_sound_comes_out(
    recording: Recording, run: Path, sounds: dict[str, np.ndarray]
) -> None:
    clip = sounds[MISTAKE]
    async with Host(run).run_test(size=(140, 40)) as pilot:
        screen = await play_from_mistakes(pilot, "p")
        assert MISTAKE in status(screen)
        await wait_until(pilot, lambda: not screen.player.playing, "the end", len(clip) / RATE + 30)
        await wait_until(pilot, lambda: status(screen) == "", "the indicator to go", 30)
    sound = recording.stop()
    assert np.sqrt(np.mean(sound**2)) > 0.01, "only silence reached the sink"
    assert segment_match(sound, clip) > 0.9
    assert match(sound, sounds[OTHER]) < 0.5


async def test_b_plays_a_correct_clip_of_the_predicted_rudiment_and_p_stops_it(
    recording: Recording, run: Path, sounds: dict[str, np.ndarray]
) -> None:
    async with Host(run).run_test(size=(140, 40)) as pilot:
        screen = await play_from_mistakes(pilot, "b")
        assert REFERENCE in status(screen) and "classified correctly" in status(screen)
        await pilot.press("1")  # the UI answers while the clip plays
        assert screen.query_one("#views").active == "summary"
        await wait_until(pilot, lambda: recording.loud_seconds() >= 1.0, "a second of sound", 60)
        await pilot.press("p")
        await wait_until(pilot, lambda: status(screen).startswith("■ stopped"), "the stop", 30)
        assert not screen.player.playing
        stopped_at = recording.seconds()  # then 1.5 s more of the monitor: silence, if stopped
        await wait_until(pilot, lambda: recording.seconds() >= stopped_at + 1.5, "1.5 s more", 60)
    sound, reference = recording.stop(), sounds[REFERENCE]
    assert segment_match(sound, reference[:RATE], seconds=0.25) > 0.9
    # Whole, not in pieces: a dropout can only lower a match, so this needs no allowance.
    assert match(sound, sounds[MISTAKE][:RATE]) < 0.5
    # Stopped after about a second: the sound that reached the sink is far shorter than the clip.
    loud = np.flatnonzero(np.abs(sound) > 1e-3)
    assert (loud[-1] - loud[0]) / RATE < len(reference) / RATE - 1.5
