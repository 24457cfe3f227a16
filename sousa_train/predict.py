"""Rudiments heard in recordings: a run's checkpoint applied to any WAV or FLAC, no labels.

A recording goes through the training audio path (data/audio.py: decode, mono, resample to
the model's rate) and is scored exactly as evaluation scores a clip: every
``eval_hop_seconds`` window of ``clip_seconds`` at each of ``eval_speeds``, window
log-probabilities pooled by :func:`pool_windows`. A recording longer than one window also
gets a timeline, each of its windows scored the same way, so a practice session shows where
each rudiment was played.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch

from sousa_train.data.audio import load_audio, window_starts, windows_at_speeds
from sousa_train.data.dataset import pool_windows
from sousa_train.evaluate import checkpoint_path, load_classifier, load_run_config
from sousa_train.rudiments import RUDIMENTS
from sousa_train.rundir.layout import RunDir

TOP_FILE = 5
TOP_WINDOW = 3


@dataclass(frozen=True)
class Guess:
    """One rudiment and the probability the model gives it."""

    slug: str
    name: str
    probability: float


@dataclass(frozen=True)
class Window:
    """A stretch of a long recording, in seconds from its start, and its best guesses."""

    start: float
    end: float
    top: list[Guess]


@dataclass(frozen=True)
class FilePrediction:
    """What the model hears in one file: the whole of it, then (long files) over time."""

    path: str
    seconds: float
    top: list[Guess]
    windows: list[Window] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class Predictor:
    """A run's model, loaded once, ready to score any number of files."""

    def __init__(
        self,
        run: RunDir,
        *,
        checkpoint: str = "best",
        window_seconds: float | None = None,
        device: torch.device | None = None,
    ) -> None:
        cfg = load_run_config(run)
        self.checkpoint = checkpoint_path(run, checkpoint)
        self.device = device or torch.device("cuda" if torch.cuda.is_available() else "cpu")
        self.model = load_classifier(cfg, self.checkpoint).to(self.device).eval()
        self.name = f"{cfg.model}/{cfg.variant}"
        self.sample_rate: int = self.model.sample_rate
        self.batch_size = cfg.loader.batch_size
        self.clip = round(cfg.loader.clip_seconds * self.sample_rate)
        self.hop = max(1, round(cfg.loader.eval_hop_seconds * self.sample_rate))
        self.speeds = cfg.loader.eval_speeds
        # The timeline's windows overlap as the evaluation's do; by default they are its own.
        self.window_seconds = window_seconds or cfg.loader.clip_seconds
        self.span = max(1, round(self.window_seconds * self.sample_rate))
        self.span_hop = max(1, round(self.span * self.hop / self.clip))

    @property
    def hop_seconds(self) -> float:
        return self.span_hop / self.sample_rate

    @torch.inference_mode()
    def predict(self, path: Path) -> FilePrediction:
        """Scores for one file; an unusable file raises :class:`AudioError` naming it."""
        wave = load_audio(path, self.sample_rate)
        n = wave.shape[-1]
        starts = window_starts(n, self.span, self.span_hop) if n > self.span else []
        spans = [wave, *(wave[s : s + self.span] for s in starts)]
        probs = self._pooled(spans).softmax(-1).cpu()
        return FilePrediction(
            path=str(path),
            seconds=n / self.sample_rate,
            top=_top(probs[0], TOP_FILE),
            windows=[
                Window(
                    start=s / self.sample_rate,
                    end=(s + self.span) / self.sample_rate,
                    top=_top(p, TOP_WINDOW),
                )
                for s, p in zip(starts, probs[1:], strict=True)
            ],
        )

    def _pooled(self, spans: list[torch.Tensor]) -> torch.Tensor:
        """Per-span scores [S, C]: each span windowed as evaluation windows a clip."""
        windows = [windows_at_speeds(span, self.clip, self.hop, self.speeds) for span in spans]
        owner = torch.repeat_interleave(
            torch.arange(len(windows)), torch.tensor([w.shape[0] for w in windows])
        )
        logits = torch.cat(
            [
                self.model(chunk.to(self.device))
                for chunk in torch.cat(windows).split(self.batch_size)
            ]
        )
        return pool_windows(logits, owner.to(self.device), len(spans))


def _top(probs: torch.Tensor, k: int) -> list[Guess]:
    values, ids = probs.topk(min(k, probs.numel()))
    return [
        Guess(RUDIMENTS[i].slug, RUDIMENTS[i].name, float(v))
        for v, i in zip(values.tolist(), ids.tolist(), strict=True)
    ]
