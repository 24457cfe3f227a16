"""The sim-to-real recipe end to end on a real SOUSA folder, timed as a user would run it.

    python bench/real_sousa.py DATA_PATH [--runs-dir D] [--manifest F] [--pretrain NAME]
                                         [--finetune NAME]

Runs the shipped recipe, ``strokes-pretrain`` (on a demo render) and then ``strokes-finetune``
(from that run, on DATA_PATH), or the two experiments named (the RhythmCNN recipe: ``--pretrain
sousa-pretrain --finetune sousa-finetune``), so a variant of the recipe is measured the same
way: through the real CLI (``python -m sousa_train.cli run`` subprocesses), with a temporary
copy of the manifest that names DATA_PATH as a data set, so what it measures is what users run.
It starts cold: a fresh runs folder (a new temporary one unless --runs-dir, which must be empty
or absent) and SOUSA_CACHE_DIR under it (unless the environment sets one), so the demo render
and every decode are inside the wall time. Prints macro F1, balanced accuracy by skill tier,
tempo band and player, the ten most confused pairs of the test split, the wall time and, last,
``test balanced accuracy: 0.xxxx``; before those, the zero-shot figure (the pretrained,
demo-only run scored on DATA_PATH's test split with ``eval --data``) and how often each of the
stroke view's two estimates (the stroke period, the performance span) gives each test clip's
labelled tempo, both outside the wall time. Each command's output is in ``<runs
dir>/<experiment>.log``. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pyarrow.parquet as pq

from sousa_train.rudiments import NUM_CLASSES
from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.scores import balanced_accuracy

DATASET = "bench-real-sousa"
DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "experiments.toml"
TIERS = ("beginner", "intermediate", "advanced", "professional")
TEMPO_BANDS = (("below 100 bpm", 0, 100), ("100-139 bpm", 100, 140), ("140 bpm and up", 140, 1e9))
WHOLE_FACTORS = (2, 3, 4, 1 / 2, 1 / 3, 1 / 4, 3 / 2, 2 / 3)
"""Ratios of heard to labelled tempo that are a confusion of the pulse (a stroke heard as two,
or three strokes as one), not a wrong speed: the octave errors of tempo estimation."""


def fresh_runs_dir(given: Path | None) -> Path:
    """The runs folder: new, or given and empty, so no earlier run or cache is reused."""
    if given is None:
        return Path(tempfile.mkdtemp(prefix="real-sousa-"))
    if given.exists() and any(given.iterdir()):
        sys.exit(f"real_sousa: {given} is not empty; the benchmark starts cold. Pass a new folder.")
    given.mkdir(parents=True, exist_ok=True)
    return given


def bench_manifest(source: Path, data: Path, runs_dir: Path) -> Path:
    """The manifest with DATA_PATH added as one more data set, written beside the runs."""
    text = source.read_text(encoding="utf-8")
    out = runs_dir / "manifest.toml"
    out.write_text(f"{text}\n[datasets.{DATASET}]\npath = {json.dumps(str(data))}\n")
    return out


def run(experiment: str, manifest: Path, runs_dir: Path, *overrides: str) -> float:
    """One `sousa-train run` subprocess, its output to a log file; its wall seconds."""
    args = ["run", experiment, *overrides, "--manifest", str(manifest), "--runs-dir", str(runs_dir)]
    return sousa_train(experiment, args, runs_dir / f"{experiment}.log")


def sousa_train(label: str, args: list[str], log: Path) -> float:
    """A `sousa-train ARGS` subprocess, its output to ``log``; its wall seconds. A failure ends
    the benchmark with the end of its log."""
    started = time.monotonic()
    print(f"running {label} (output in {log})", flush=True)
    with log.open("w") as out:
        cmd = [sys.executable, "-m", "sousa_train.cli", *args]
        code = subprocess.call(cmd, stdout=out, stderr=subprocess.STDOUT)
    seconds = time.monotonic() - started
    if code != 0:
        tail = log.read_text(errors="replace").splitlines()[-15:]
        ending = "\n".join(tail)
        sys.exit(f"real_sousa: {label} failed (exit {code}); end of {log}:\n{ending}")
    print(f"{label}: {minutes(seconds)}", flush=True)
    return seconds


def zero_shot(manifest: Path, runs_dir: Path, pretrain: str) -> dict:
    """The pretrained (demo-only) run scored on DATA_PATH's test split with `eval --data`:
    how far what the renderer teaches carries to real audio. Not inside the wall time."""
    pretrained = latest(runs_dir, pretrain)
    args = ["eval", str(pretrained.root), "--data", DATASET, "--manifest", str(manifest)]
    sousa_train("zero-shot eval", args, runs_dir / "zero-shot.log")
    return read_json(pretrained.eval_dir(f"{DATASET}-test") / "metrics.json")


def minutes(seconds: float) -> str:
    return f"{int(seconds // 60)} min {seconds % 60:.0f} s"


def latest(runs_dir: Path, experiment: str) -> RunDir:
    return find_runs(runs_dir, experiment)[-1]


def confused_pairs(confusion: dict, top: int = 10) -> list[tuple[int, str, str]]:
    """(count, true, predicted) for the largest off-diagonal cells (rows are true classes)."""
    labels, matrix = confusion["labels"], confusion["matrix"]
    cells = [
        (count, labels[t], labels[p])
        for t, row in enumerate(matrix)
        for p, count in enumerate(row)
        if t != p and count
    ]
    return sorted(cells, key=lambda c: -c[0])[:top]


def by_group(predictions: Path) -> list[tuple[str, float, int]]:
    """(group, balanced accuracy, clips) per skill tier, tempo band and player of the test
    split. SOUSA gives each player one tempo for every rudiment, so a tempo band is a few
    players and a player's figure says which of tier and tempo moved."""
    rows = pq.read_table(predictions).to_pylist()
    groups: list[tuple[str, list[dict]]] = [
        (tier, [r for r in rows if r["skill_tier"] == tier]) for tier in TIERS
    ]
    groups += [
        (band, [r for r in rows if r["tempo_bpm"] is not None and lo <= r["tempo_bpm"] < hi])
        for band, lo, hi in TEMPO_BANDS
    ]
    players: dict[str, list[dict]] = {}
    for r in sorted(rows, key=lambda r: (r["tempo_bpm"] or 0, r["profile_id"] or "")):
        tempo = f"{r['tempo_bpm']:.0f} bpm" if r["tempo_bpm"] is not None else "tempo unknown"
        name = f"player {str(r['profile_id'])[:6]} ({r['skill_tier']}, {tempo})"
        players.setdefault(name, []).append(r)
    groups += list(players.items())
    out = []
    for name, members in groups:
        if members:
            confusion = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=np.int64)
            for r in members:
                confusion[r["label"], r["pred"]] += 1
            out.append((name, balanced_accuracy(confusion), len(members)))
    return out


def tempo_estimates(data: Path) -> dict[str, dict[str, dict[str, float]]]:
    """How the stroke view's two tempo estimates, each read as a tempo with the clip's own
    rudiment (SOUSA's timing: its slots and beats per cycle, four cycles a clip), compare
    with the labelled ``tempo_bpm`` on the test split: the share within 4 % and the share
    off by a whole factor (an octave error), by estimate, then by skill tier and over all.
    ``period`` is the comb's stroke period; ``span`` the first to last attack, the
    performance axis the model sees. Outside the wall time."""
    import torch

    from sousa_train.data.dataset import ClipDataset
    from sousa_train.data.demo.patterns import PATTERNS
    from sousa_train.data.demo.render import CYCLES  # SOUSA's too: every clip is four cycles
    from sousa_train.data.reader import open_dataset
    from sousa_train.models.frontends import EfficientATMel
    from sousa_train.models.strokes import onset_envelope, performance_span, stroke_period

    clips = [c for c in open_dataset(data).clips("test") if c.tempo_bpm]
    reader = ClipDataset(clips, sample_rate=16000, clip_samples=16000, train=False)
    mel = EfficientATMel(16000, 32)
    frame_rate = 16000 / mel.hop_length
    ratios: dict[str, dict[str, list[float]]] = {"period": {}, "span": {}}
    with torch.inference_mode():
        for clip in clips:
            logmel = mel(reader.waveform(clip)[None])
            period = float(stroke_period(onset_envelope(logmel), frame_rate)[0])
            first, last = performance_span(logmel)
            span = float(last[0] - first[0]) / frame_rate
            pattern = PATTERNS[clip.slug]
            heard = {
                "period": pattern.tempo_from_stroke_period(period),
                "span": pattern.tempo_from_span(span, CYCLES),
            }
            for estimate, tempo in heard.items():
                tier = clip.skill_tier or "unknown"
                ratios[estimate].setdefault(tier, []).append(tempo / clip.tempo_bpm)

    def near(values: np.ndarray, target: float) -> np.ndarray:
        return np.abs(values / target - 1) < 0.04

    out: dict[str, dict[str, dict[str, float]]] = {}
    for estimate, by_tier in ratios.items():
        by_tier["all"] = [r for values in by_tier.values() for r in values]
        out[estimate] = {}
        for group, values in by_tier.items():
            v = np.array(values)
            whole = np.any([near(v, f) for f in WHOLE_FACTORS], axis=0)
            out[estimate][group] = {
                "within": float(near(v, 1).mean()),
                "whole": float(whole.mean()),
            }
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a SOUSA folder (generator or Hub layout)")
    parser.add_argument("--runs-dir", type=Path, help="an empty or new folder for the runs")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    parser.add_argument("--pretrain", default="strokes-pretrain", help="the demo experiment")
    parser.add_argument(
        "--finetune", default="strokes-finetune", help="the experiment that starts from it"
    )
    args = parser.parse_args()
    data = args.data.expanduser().absolute()
    if not data.is_dir():
        sys.exit(f"real_sousa: {data} is not a folder; pass a SOUSA data set folder.")
    runs_dir = fresh_runs_dir(args.runs_dir).absolute()
    os.environ.setdefault("SOUSA_CACHE_DIR", str(runs_dir / "cache"))
    manifest = bench_manifest(args.manifest, data, runs_dir)
    print(f"runs in {runs_dir}, cache in {os.environ['SOUSA_CACHE_DIR']}", flush=True)

    started = time.monotonic()
    run(args.pretrain, manifest, runs_dir)
    run(args.finetune, manifest, runs_dir, f'data="{DATASET}"')
    wall = time.monotonic() - started

    test = latest(runs_dir, args.finetune).eval_dir("test")
    metrics = read_json(test / "metrics.json")
    pretrain = read_json(latest(runs_dir, args.pretrain).eval_dir("test") / "metrics.json")
    unseen = zero_shot(manifest, runs_dir, args.pretrain)
    tempo = tempo_estimates(data)
    print(f"pretrain (demo test split) balanced accuracy: {pretrain['balanced_accuracy']:.4f}")
    print(
        f"zero-shot (demo-trained, scored on this test split) balanced accuracy: "
        f"{unseen['balanced_accuracy']:.4f}"
    )
    for estimate, name in (("period", "the stroke period"), ("span", "the performance span")):
        for group in ("all", *TIERS):
            if group in tempo[estimate]:
                t = tempo[estimate][group]
                print(
                    f"tempo from {name} ({group}): within 4 % {t['within']:.0%}, "
                    f"off by a whole factor {t['whole']:.0%}"
                )
    print(f"test macro F1: {metrics['macro_f1']:.4f} over {metrics['num_clips']} clips")
    print("test balanced accuracy by group (clips):")
    for name, value, clips in by_group(test / "predictions.parquet"):
        print(f"  {name}: {value:.3f} ({clips})")
    print("most confused (true -> predicted: clips):")
    for count, true, predicted in confused_pairs(read_json(test / "confusion.json")):
        print(f"  {true} -> {predicted}: {count}")
    print(f"wall time: {minutes(wall)} (pretraining included)")
    print(f"test balanced accuracy: {metrics['balanced_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
