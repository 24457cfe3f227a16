"""The list of clips (all mistakes, or one matrix cell's) with how each was played."""

from __future__ import annotations

from textual.widgets import DataTable

from sousa_train.rudiments import RUDIMENTS
from sousa_tui.evaluation.rudiment_table import number
from sousa_tui.evaluation.scores import Prediction

COLUMNS = ("true", "predicted", "confidence", "tempo", "skill tier", "augmentation", "clip")


class ClipTable(DataTable):
    """One row a clip; `selected` is the clip under the cursor, for playback."""

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id, cursor_type="row", zebra_stripes=True)
        self.clips: list[Prediction] = []

    def on_mount(self) -> None:
        for label in COLUMNS:
            self.add_column(label, key=label)

    def show(self, clips: list[Prediction]) -> None:
        self.clips = clips
        self.clear()
        for i, p in enumerate(clips):
            self.add_row(
                RUDIMENTS[p.label].name,
                RUDIMENTS[p.pred].name,
                number(p.confidence),
                "-" if p.tempo_bpm is None else f"{p.tempo_bpm:.0f}",
                p.skill_tier or "-",
                p.augmentation_preset or "-",
                p.sample_id,
                key=str(i),
            )

    @property
    def selected(self) -> Prediction | None:
        if not self.clips:
            return None
        return self.clips[min(self.cursor_row, len(self.clips) - 1)]
