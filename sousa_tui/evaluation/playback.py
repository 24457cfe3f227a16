"""Playing one clip at a time through sounddevice, without ever blocking the console.

sounddevice (and the PortAudio library under it) is imported on first use, so a machine
without PortAudio or without an output device still runs every other part of the console;
`unavailable()` then returns the one line the UI shows instead.
"""

from __future__ import annotations

import io
import subprocess
import sys
import threading
from pathlib import Path
from types import ModuleType

import soundfile as sf

from sousa_train.data.shards import ShardError, parse_location, read_audio

_NO_PORTAUDIO = 3
# Exit 0: an output device exists; 3: no PortAudio library; anything else: no device.
_PROBE = f"""
import sys
try:
    import sounddevice
except (OSError, ImportError):
    sys.exit({_NO_PORTAUDIO})
sounddevice.query_devices(kind="output")
"""


class PlaybackError(RuntimeError):
    """A clip that could not be played; the message names the file or the missing device."""


class Player:
    """One output stream at a time: a new clip stops the previous one."""

    def __init__(self) -> None:
        self._sd: ModuleType | None = None
        self._lock = threading.Lock()
        # play() and stop() run off the UI thread and replace or close sounddevice's one
        # stream; the UI's poll of that stream must not run while it is being closed.
        self._stream_lock = threading.Lock()
        self.now_playing: str | None = None

    def unavailable(self) -> str | None:
        """None when sound can be played, else a one-line reason with what to do.

        PortAudio lists devices once, when it starts in a process, and sounddevice offers no
        public way to look again. So until an output device is seen, a short-lived process
        looks for one; only then is sounddevice imported here. A sound server started after
        the console opened is found on the next try.
        """
        with self._lock:
            if self._sd is not None:
                return None
            probe = subprocess.run(
                [sys.executable, "-c", _PROBE], capture_output=True, timeout=30, check=False
            )
            if probe.returncode == _NO_PORTAUDIO:
                return "No audio playback: PortAudio is not installed (install libportaudio2)."
            if probe.returncode != 0:
                return "No audio playback: no output device found (start a sound server)."
            import sounddevice as sd

            self._sd = sd
            return None

    def play(self, path: Path, label: str) -> None:
        """Decode ``path`` and start it playing; returns at once (call it off the UI thread).

        ``path`` is an audio file, or ``<shard>#row=<n>``: a clip inside a Hub shard, whose
        row group is read for its FLAC bytes.
        """
        reason = self.unavailable()
        if reason:
            raise PlaybackError(reason)
        shard, row = parse_location(str(path))
        try:
            source = path if row is None else io.BytesIO(read_audio(Path(shard), row) or b"")
            audio, rate = sf.read(source, dtype="float32", always_2d=True)
        except ShardError as exc:
            raise PlaybackError(str(exc)) from exc
        except (OSError, RuntimeError) as exc:
            raise PlaybackError(
                f"{path}: cannot read this clip ({exc}); is the data set still where the "
                "run's config.json says (data_root)?"
            ) from exc
        assert self._sd is not None
        try:
            with self._stream_lock:
                # 200 ms of buffer: we listen, not perform; a busy CPU must not cause dropouts.
                self._sd.play(audio, rate, latency=0.2)
        except self._sd.PortAudioError as exc:
            raise PlaybackError(f"The audio device refused {path.name}: {exc}") from exc
        self.now_playing = label

    def stop(self) -> None:
        if self._sd is not None:
            with self._stream_lock:
                self._sd.stop()
        self.now_playing = None

    @property
    def playing(self) -> bool:
        """True while the last clip is still sounding."""
        if self._sd is None or self.now_playing is None:
            return False
        try:
            with self._stream_lock:
                return bool(self._sd.get_stream().active)
        except RuntimeError:  # nothing was ever played
            return False

    def ended(self) -> bool:
        """True once when a clip has run to its end, so the UI clears its indicator once."""
        if self.now_playing is None or self.playing:
            return False
        self.now_playing = None
        return True
