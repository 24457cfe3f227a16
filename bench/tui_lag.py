"""How the console keeps up with busy runs: frame lag and memory under 8 runs x 100 events/s.

    python bench/tui_lag.py [--runs 8] [--rate 100] [--seconds 30] [--history 600]
                            [--capture FILE]

A writer process appends to 8 synthetic run directories (metric events at ``rate`` per
second each, an epoch event every 50 steps), after first writing ``history`` seconds of
backlog so the runs look long. The runs are 8 cells of a 3 x 4 ``[matrix.bench]`` in a
manifest the bench writes; the other 4 are finished runs with made-up figures. The real
app runs headless with every run overlaid in the charts, then with the matrix view (`m`)
open over them, each for ``seconds``; a 20 Hz timer measures how late the event loop
answers (frame lag). The report gives time to the first screen, lag percentiles for each
phase, redraw cost, RSS and the number of points the console holds; ``--capture`` writes
the matrix view's screen as text. Not a test: run it by hand.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import math
import multiprocessing
import os
import statistics
import tempfile
import time
from pathlib import Path

from sousa_train.config.manifest import load_manifest
from sousa_train.rundir.layout import write_json_atomic
from sousa_tui.app import SousaApp
from sousa_tui.screens.main import MainScreen
from sousa_tui.screens.matrix import MatrixScreen
from sousa_tui.widgets.experiments import ExperimentsTable

BACKLOG_DONE = ".backlog-written"
# The runs are a matrix's cells, so the matrix view has a live grid to show.
MANIFEST = """
[datasets.demo-tiny]
demo = { clips_per_rudiment = 5, seed = 1, sample_rate = 16000 }
[defaults]
data = "demo-tiny"
[models.efficientat]
pretrained = "run:bench-efficientat-from_scratch"
[models.rhythmcnn]
pretrained = "run:bench-rhythmcnn-from_scratch"
[models.ast]
pretrained = "run:bench-ast-from_scratch"
[matrix.bench]
model = ["efficientat", "rhythmcnn", "ast"]
variant = "tiny"
strategy = ["from_scratch", "full_finetune", "lora", "ia3"]
"""


def _event(step: int, t: float, total: int) -> dict:
    return {
        "t": round(t, 3),
        "kind": "metric",
        "step": step,
        "epoch": step // 50,
        "total_steps": total,
        "train/loss": 3.7 * math.exp(-step / 5000) + 0.1 * math.sin(step / 7),
        "lr": 1e-3 * (1 - step / total),
        "samples_per_sec": 120.0 + step % 13,
        "peak_mem_mb": 900.0,
        "eta_sec": (total - step) / 100,
    }


def _epoch(step: int, t: float) -> dict:
    acc = 0.9 * (1 - math.exp(-step / 8000))
    return {
        "t": round(t, 3),
        "kind": "epoch",
        "epoch": step // 50,
        "step": step,
        "val/loss": 3.0 * math.exp(-step / 6000),
        "val/accuracy": acc,
        "val/balanced_accuracy": acc - 0.01,
    }


def write_finished(runs_dir: Path, names: list[str]) -> None:
    """Finished runs with synthetic figures, for the matrix view's other cells."""
    for i, name in enumerate(names):
        root = runs_dir / name / f"20260101-000000-f{i:03d}"
        root.mkdir(parents=True)
        config = {"experiment": {"model": "ast"}, "parameters": {"trainable": 10**5 * (i + 1)}}
        (root / "config.json").write_text(json.dumps(config))
        events = [
            {"t": 0.0, "kind": "start"},
            {"t": 300.0 + 60 * i, "kind": "metric", "step": 9, "samples_per_sec": 90.0 + i},
            {"t": 300.0 + 60 * i, "kind": "end", "reason": "completed"},
        ]
        (root / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
        write_json_atomic(root / "status.json", {"state": "finished", "pid": 0})
        for split, bacc in (("test", 0.61 + 0.07 * i), ("val", 0.64 + 0.06 * i)):
            metrics = {"balanced_accuracy": bacc, "macro_f1": bacc - 0.02, "per_class": {}}
            write_json_atomic(root / "eval" / split / "metrics.json", metrics)


def write_runs(runs_dir: Path, names: list[str], rate: int, seconds: float, history: float) -> None:
    """Backlog first, then live appends at ``rate`` events/s per run until ``seconds`` pass."""
    total = int((history + seconds) * rate) + 1
    files = []
    start = time.time() - history
    for i, name in enumerate(names):
        root = runs_dir / name / f"20260101-000000-{i:04d}"
        root.mkdir(parents=True)
        (root / "config.json").write_text(json.dumps({"experiment": {"model": "synthetic"}}))
        write_json_atomic(root / "status.json", {"state": "running", "pid": os.getpid()})
        fh = open(root / "events.jsonl", "a", encoding="utf-8")
        fh.write(json.dumps({"t": start, "kind": "start"}) + "\n")
        backlog = int(history * rate)
        for step in range(1, backlog + 1):
            fh.write(json.dumps(_event(step, start + step / rate, total)) + "\n")
            if step % 50 == 0:
                fh.write(json.dumps(_epoch(step, start + step / rate)) + "\n")
        fh.flush()
        files.append(fh)
    (runs_dir / BACKLOG_DONE).touch()
    step = int(history * rate)
    began = time.monotonic()
    while time.monotonic() - began < seconds:
        step += 1
        for fh in files:
            fh.write(json.dumps(_event(step, time.time(), total)) + "\n")
            if step % 50 == 0:
                fh.write(json.dumps(_epoch(step, time.time())) + "\n")
            fh.flush()
        time.sleep(max(0.0, began + (step - history * rate) / rate - time.monotonic()))


def _rss_mb() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


class LagMeter:
    """A 20 Hz timer's lateness: how long the event loop took to answer it."""

    PERIOD = 0.05

    def __init__(self) -> None:
        self.lags: list[float] = []
        self.expected = time.perf_counter() + self.PERIOD

    def tick(self) -> None:
        now = time.perf_counter()
        self.lags.append(max(0.0, now - self.expected))
        self.expected = now + self.PERIOD

    def restart(self) -> None:
        self.lags, self.expected = [], time.perf_counter() + self.PERIOD


def pct(values: list[float], q: float) -> float:
    return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")


def lag_line(what: str, lags: list[float]) -> str:
    ms = sorted(x * 1000 for x in lags)
    return (
        f"{what:<20}p50 {pct(ms, 0.5):6.1f}  p95 {pct(ms, 0.95):6.1f}  p99 {pct(ms, 0.99):6.1f}"
        f"  max {ms[-1] if ms else float('nan'):6.1f} ms  ({len(ms)} ticks)"
    )


def screen_text(app: SousaApp) -> str:
    """The current screen as plain text, line by line (what a terminal would show)."""
    return "\n".join(strip.text.rstrip() for strip in app.screen._compositor.render_strips())


async def measure(runs_dir: Path, manifest_path: Path, args: argparse.Namespace) -> None:
    manifest = load_manifest(manifest_path)
    rss_before = _rss_mb()
    opened = time.perf_counter()
    app = SousaApp(manifest, runs_dir)
    async with app.run_test(size=(160, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, MainScreen)
        table = screen.query_one(ExperimentsTable)
        while not table.row_count:
            await pilot.pause(0.01)
        first_screen = time.perf_counter() - opened
        backlog = int(args.history * args.rate)
        while sum(r.step >= backlog for r in app.session.catalog.runs()) < args.runs:
            await pilot.pause(0.05)
        ingested = time.perf_counter() - opened
        for name in app.session.names("bench-"):
            table.move_cursor(row=table.get_row_index(name))
            await pilot.press("space")

        draws: list[float] = []
        original = screen.refresh_view

        def timed_refresh() -> None:
            t = time.perf_counter()
            original()
            draws.append(time.perf_counter() - t)

        screen.refresh_view = timed_refresh  # type: ignore[method-assign]
        meter = LagMeter()
        app.set_interval(meter.PERIOD, meter.tick)
        await pilot.pause(args.seconds)
        overlaid = meter.lags
        await pilot.press("m")
        assert isinstance(app.screen, MatrixScreen)
        meter.restart()
        await pilot.pause(args.seconds)
        with_matrix = meter.lags
        if args.capture:
            Path(args.capture).write_text(screen_text(app) + "\n")
        points = sum(len(s) for r in app.session.catalog.runs() for s in r.series.values())
        rss = _rss_mb()
        await pilot.press("escape", "q", "y")

    draws_ms = sorted(x * 1000 for x in draws)
    print(
        f"runs {args.runs} x {args.rate} events/s for {args.seconds:.0f} s a phase, "
        f"{args.history:.0f} s of backlog each ({int(args.history * args.rate)} events/run), "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    print(f"first screen        {first_screen * 1000:7.0f} ms")
    print(f"backlog read        {ingested * 1000:7.0f} ms (every run caught up)")
    print(lag_line("frame lag, overlaid", overlaid))
    print(lag_line("frame lag, matrix", with_matrix))
    print(
        f"refresh + redraw    p50 {pct(draws_ms, 0.5):6.1f}  p95 {pct(draws_ms, 0.95):6.1f}  "
        f"mean {statistics.fmean(draws_ms) if draws_ms else float('nan'):6.1f} ms"
        f"  ({len(draws_ms)} refreshes)"
    )
    print(
        f"memory              RSS {rss:.0f} MB ({rss - rss_before:+.0f} MB for the app), "
        f"{points} series points held"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=8, help="live runs (at most 8)")
    parser.add_argument("--rate", type=int, default=100, help="events per second per run")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long each phase is")
    parser.add_argument("--history", type=float, default=600.0, help="backlog seconds per run")
    parser.add_argument("--capture", help="write the matrix view's screen to this text file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        manifest_path = Path(tmp) / "experiments.toml"
        manifest_path.write_text(MANIFEST)
        cells = load_manifest(manifest_path).matrix("bench")
        names = cells[: min(args.runs, 8)]
        args.runs = len(names)
        runs_dir = Path(tmp) / "runs"
        write_finished(runs_dir, cells[8:])
        writer = multiprocessing.Process(
            target=write_runs,
            args=(runs_dir, names, args.rate, 2 * args.seconds + 60, args.history),
        )
        writer.start()
        while not (runs_dir / BACKLOG_DONE).exists():
            time.sleep(0.05)
        try:
            asyncio.run(measure(runs_dir, manifest_path, args))
        finally:
            writer.terminate()
            writer.join()


if __name__ == "__main__":
    main()
