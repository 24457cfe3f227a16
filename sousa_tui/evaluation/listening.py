"""A screen that plays clips: the evaluation browser and the two-runs comparison share it.

Decoding, starting and stopping run in workers, so the console never stalls; a timer
notices when a clip ends on its own. The screen needs a ``#status`` Static for the line
that says what plays.
"""

from __future__ import annotations

from pathlib import Path

from textual import work
from textual.screen import Screen
from textual.widgets import Static

from sousa_train.rudiments import RUDIMENTS
from sousa_tui.evaluation.playback import PlaybackError, Player
from sousa_tui.evaluation.scores import (
    EvalData,
    EvalFilesError,
    Prediction,
    audio_file,
    reference_clip,
)


class ListeningScreen(Screen[None]):
    """Owns the player; subclasses call ``start_listening`` when mounted."""

    def __init__(self) -> None:
        super().__init__()
        self.player = Player()

    def start_listening(self) -> None:
        self.probe_audio()
        self.set_interval(0.25, self.refresh_playing)

    def set_status(self, message: str) -> None:
        self.query_one("#status", Static).update(message)

    @work(thread=True, group="audio")
    def probe_audio(self) -> None:
        reason = self.player.unavailable()
        if reason:
            self.app.call_from_thread(self.set_status, reason)

    def start_audio(self, data: EvalData, clip: Prediction, label: str) -> None:
        try:
            path = audio_file(data, clip)
        except EvalFilesError as exc:
            self.set_status(str(exc))
            return
        self.set_status(f"▶ loading {label}")
        self.play_worker(path, label)

    def play_reference(self, data: EvalData, class_id: int) -> None:
        """B of the A/B: what the rudiment a model heard really sounds like, from ``data``'s
        clips (one it classified correctly when it has one)."""
        ref = reference_clip(data.predictions, class_id)
        name = RUDIMENTS[class_id].name
        if ref is None:
            self.set_status(f"No {name} clip in the {data.split} split to compare with.")
            return
        how = "classified correctly" if ref.correct else "no clip of it was classified correctly"
        self.start_audio(data, ref, f"{ref.sample_id} ({name}, {how})")

    @work(thread=True, exclusive=True, group="audio")
    def play_worker(self, path: Path, label: str) -> None:
        try:
            self.player.play(path, label)
        except PlaybackError as exc:
            self.app.call_from_thread(self.set_status, str(exc))
            return
        self.app.call_from_thread(self.set_status, f"▶ playing {label}   p/esc: stop")
        self.app.call_from_thread(self.refresh_bindings)

    @work(thread=True, exclusive=True, group="audio")
    def stop_audio(self) -> None:
        self.player.stop()
        self.app.call_from_thread(self.set_status, "■ stopped")
        self.app.call_from_thread(self.refresh_bindings)

    def refresh_playing(self) -> None:
        """Clears the playing indicator when a clip ends on its own."""
        if self.player.ended():
            self.set_status("")
            self.refresh_bindings()

    def action_stop_or_back(self) -> None:
        if self.player.now_playing is not None:
            self.stop_audio()
        elif len(self.app.screen_stack) > 1:
            self.dismiss()

    def on_unmount(self) -> None:
        self.player.stop()
