"""What each input of the stroke view is worth on its own, on a real SOUSA folder.

    python bench/stroke_view.py DATA_PATH [--epochs 30] [--views clock,strokes,...]

Decodes every clip once, whole (SOUSA clips are four cycles from the first stroke, under
21 s), computes the inputs below with the shipped front-end code, and trains the same
network (StrokeCNN's temporal stack, the ``small`` width, from scratch, no augmentation) on
each for the same epochs on the train split; prints each one's test balanced accuracy, by
skill tier. It isolates the representation from the recipe (pretraining, speed
perturbation, test-time speeds), so its figures are lower than bench/real_sousa.py's and are
for comparing rows with each other. Views:

- ``clock``: the standardised 32-bin log-mel on the plain time axis (40 ms frames);
- ``clock+onsets``: that and the spectral-flux row;
- ``strokes``: the stroke view on its ``"strokes"`` axis (canvas of log-mel and flux rows, 4
  frames per estimated stroke period, and the period row);
- ``performance``: the stroke view as ``strokecnn`` sees it (the same rows on the
  performance axis: first stroke to 1.15 times the span to the last on 384 frames, and the
  span row);
- ``performance-no-onsets``: the same without the flux row;
- ``beat-oracle``: the canvas with the *labelled* tempo, 16 frames per beat: not a model
  (it reads the label), the ceiling a perfect beat estimate would reach.
"""

from __future__ import annotations

import argparse
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
from torch import nn

from sousa_train.data.dataset import ClipDataset
from sousa_train.data.reader import open_dataset
from sousa_train.models.stroke_cnn import StrokeCNN
from sousa_train.models.strokes import StrokeView, onset_envelope, stroke_canvas
from sousa_train.rudiments import NUM_CLASSES
from sousa_train.scores import balanced_accuracy

RATE = 16000
WINDOW = 21 * RATE
VIEWS = ("clock", "clock+onsets", "strokes", "performance", "performance-no-onsets", "beat-oracle")
CLOCK_POOL = 4  # 10 ms frames -> 40 ms
ORACLE_FRAMES_PER_BEAT = 16
ORACLE_LENGTH = 512


def features(data: Path) -> dict[str, dict[str, torch.Tensor | list]]:
    """Every view of every clip, by split, with labels, tiers and tempos."""
    dataset = open_dataset(data)
    strokes_view = StrokeView(RATE, 32, axis="strokes", length=512).eval()
    view = StrokeView(RATE, 32, length=384).eval()
    flux_row = view.mel.n_mels
    out: dict[str, dict[str, torch.Tensor | list]] = {}
    for split in ("train", "val", "test"):
        clips = dataset.clips(split)
        reader = ClipDataset(clips, sample_rate=RATE, clip_samples=WINDOW, train=False)
        rows: dict[str, list] = {v: [] for v in VIEWS} | {"label": [], "tier": []}
        with torch.inference_mode():
            for clip in clips:
                wave = reader.waveform(clip)[:WINDOW]
                wave = nn.functional.pad(wave, (0, WINDOW - len(wave)))[None]
                logmel = view.mel(wave)
                onsets = onset_envelope(logmel)
                z = (logmel - logmel.mean()) / (logmel.std() + 1e-5)
                flux = (onsets / (onsets.amax() + 1e-6))[:, None]
                clock = nn.functional.avg_pool1d(torch.cat([z, flux], 1), CLOCK_POOL)
                performance = view.from_logmel(logmel)[0]
                beat = 60.0 / clip.tempo_bpm * view.frame_rate / ORACLE_FRAMES_PER_BEAT
                oracle = stroke_canvas(torch.cat([z, flux], 1), torch.tensor([beat]), ORACLE_LENGTH)
                rows["clock"].append(clock[0, :-1])
                rows["clock+onsets"].append(clock[0])
                rows["strokes"].append(strokes_view.from_logmel(logmel)[0])
                rows["performance"].append(performance)
                rows["performance-no-onsets"].append(
                    torch.cat([performance[:flux_row], performance[flux_row + 1 :]])
                )
                rows["beat-oracle"].append(oracle[0])
                rows["label"].append(clip.label)
                rows["tier"].append(clip.skill_tier or "unknown")
        out[split] = {v: torch.stack(rows[v]) for v in VIEWS} | {
            "label": torch.tensor(rows["label"]),
            "tier": rows["tier"],
        }
    return out


def train_and_score(
    data: dict, view: str, epochs: int, seed: int = 0
) -> tuple[float, dict[str, float]]:
    """Test balanced accuracy (all, and by tier) of StrokeCNN's stack trained on ``view``."""
    torch.manual_seed(seed)
    x, y = data["train"][view], data["train"]["label"]
    net = StrokeCNN(x.shape[1], 64, NUM_CLASSES)
    steps = epochs * math.ceil(len(x) / 32)
    optim = torch.optim.AdamW(net.parameters(), lr=3e-3, weight_decay=1e-2)
    sched = torch.optim.lr_scheduler.OneCycleLR(optim, max_lr=3e-3, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss(label_smoothing=0.05)
    for _ in range(epochs):
        net.train()
        for idx in torch.randperm(len(x)).split(32):
            optim.zero_grad()
            loss_fn(net(x[idx]), y[idx]).backward()
            optim.step()
            sched.step()
    net.eval()
    with torch.inference_mode():
        pred = torch.cat([net(b).argmax(1) for b in data["test"][view].split(64)])
    truth, tiers = data["test"]["label"], np.array(data["test"]["tier"])

    def score(mask: np.ndarray) -> float:
        confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
        for t, p in zip(truth[mask].tolist(), pred[mask].tolist(), strict=True):
            confusion[t, p] += 1
        return balanced_accuracy(confusion)

    everyone = np.ones(len(truth), dtype=bool)
    return score(everyone), {t: score(tiers == t) for t in sorted(set(tiers))}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a SOUSA folder (generator or Hub layout)")
    parser.add_argument("--epochs", type=int, default=30)
    parser.add_argument(
        "--views", default=",".join(VIEWS), help="comma-separated, of " + ", ".join(VIEWS)
    )
    args = parser.parse_args()
    views = [v for v in args.views.split(",") if v]
    unknown = [v for v in views if v not in VIEWS]
    if unknown:
        sys.exit(
            f"stroke_view: unknown view(s) {', '.join(unknown)}; choose from {', '.join(VIEWS)}"
        )
    started = time.monotonic()
    data = features(args.data.expanduser())
    print(
        f"features of {sum(len(d['label']) for d in data.values())} clips in "
        f"{time.monotonic() - started:.0f} s",
        flush=True,
    )
    for view in views:
        started = time.monotonic()
        overall, tiers = train_and_score(data, view, args.epochs)
        by_tier = ", ".join(f"{t} {v:.3f}" for t, v in tiers.items())
        print(
            f"{view}: test balanced accuracy {overall:.3f} ({by_tier}; "
            f"{time.monotonic() - started:.0f} s)",
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
