"""The sim-to-real recipe end to end on a real SOUSA folder, timed as a user would run it.

    python bench/real_sousa.py DATA_PATH [--runs-dir D] [--manifest F]

Runs ``sousa-pretrain`` (RhythmCNN on a demo render) and then ``sousa-finetune`` (from that
run, on DATA_PATH) through the real CLI (``python -m sousa_train.cli run`` subprocesses), with
a temporary copy of the manifest that names DATA_PATH as a data set; so what it measures is
what users run. It starts cold: a fresh runs folder (a new temporary one unless --runs-dir,
which must be empty or absent) and SOUSA_CACHE_DIR under it (unless the environment sets one),
so the demo render and every decode are inside the wall time. Prints macro F1, the ten most
confused pairs of the test split, the wall time and, last, ``test balanced accuracy: 0.xxxx``;
before those, the zero-shot figure: the pretrained (demo-only) run scored on DATA_PATH's test
split with ``eval --data``, outside the wall time. Each command's output is in
``<runs dir>/<experiment>.log``. Not a test: run it by hand.
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

from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.scan import find_runs

DATASET = "bench-real-sousa"
PRETRAIN = "sousa-pretrain"
FINETUNE = "sousa-finetune"
DEFAULT_MANIFEST = Path(__file__).resolve().parent.parent / "experiments.toml"


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


def zero_shot(manifest: Path, runs_dir: Path) -> dict:
    """The pretrained (demo-only) run scored on DATA_PATH's test split with `eval --data`:
    how far what the renderer teaches carries to real audio. Not inside the wall time."""
    pretrained = latest(runs_dir, PRETRAIN)
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


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("data", type=Path, help="a SOUSA folder (generator or Hub layout)")
    parser.add_argument("--runs-dir", type=Path, help="an empty or new folder for the runs")
    parser.add_argument("--manifest", type=Path, default=DEFAULT_MANIFEST)
    args = parser.parse_args()
    data = args.data.expanduser().absolute()
    if not data.is_dir():
        sys.exit(f"real_sousa: {data} is not a folder; pass a SOUSA data set folder.")
    runs_dir = fresh_runs_dir(args.runs_dir).absolute()
    os.environ.setdefault("SOUSA_CACHE_DIR", str(runs_dir / "cache"))
    manifest = bench_manifest(args.manifest, data, runs_dir)
    print(f"runs in {runs_dir}, cache in {os.environ['SOUSA_CACHE_DIR']}", flush=True)

    started = time.monotonic()
    run(PRETRAIN, manifest, runs_dir)
    run(FINETUNE, manifest, runs_dir, f'data="{DATASET}"')
    wall = time.monotonic() - started

    test = latest(runs_dir, FINETUNE).eval_dir("test")
    metrics = read_json(test / "metrics.json")
    pretrain = read_json(latest(runs_dir, PRETRAIN).eval_dir("test") / "metrics.json")
    unseen = zero_shot(manifest, runs_dir)
    print(f"pretrain (demo test split) balanced accuracy: {pretrain['balanced_accuracy']:.4f}")
    print(
        f"zero-shot (demo-trained, scored on this test split) balanced accuracy: "
        f"{unseen['balanced_accuracy']:.4f}"
    )
    print(f"test macro F1: {metrics['macro_f1']:.4f} over {metrics['num_clips']} clips")
    print("most confused (true -> predicted: clips):")
    for count, true, predicted in confused_pairs(read_json(test / "confusion.json")):
        print(f"  {true} -> {predicted}: {count}")
    print(f"wall time: {minutes(wall)} (pretraining included)")
    print(f"test balanced accuracy: {metrics['balanced_accuracy']:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
