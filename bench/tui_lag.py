"""How the console keeps up with busy runs: frame lag and memory under 8 runs x 100 events/s.

    python bench/tui_lag.py [--runs 8] [--rate 100] [--seconds 30] [--history 600]

A writer process appends to 8 synthetic run directories (metric events at ``rate`` per
second each, an epoch event every 50 steps), after first writing ``history`` seconds of
backlog so the runs look long. The real app runs headless with every run overlaid in the
charts; a 20 Hz timer measures how late the event loop answers (frame lag), and the
report gives time to the first screen, lag percentiles, redraw cost, RSS and the number of
points the console holds. Not a test: run it by hand.
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
from sousa_tui.widgets.experiments import ExperimentsTable

REPO = Path(__file__).resolve().parents[1]
BACKLOG_DONE = ".backlog-written"


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


def write_runs(runs_dir: Path, runs: int, rate: int, seconds: float, history: float) -> None:
    """Backlog first, then live appends at ``rate`` events/s per run until ``seconds`` pass."""
    total = int((history + seconds) * rate) + 1
    files = []
    start = time.time() - history
    for i in range(runs):
        root = runs_dir / f"bench-{i}" / f"20260101-000000-{i:04d}"
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


async def measure(runs_dir: Path, args: argparse.Namespace) -> None:
    manifest = load_manifest(REPO / "experiments.toml")
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
        lags: list[float] = []
        period = 0.05
        expected = time.perf_counter() + period

        def tick() -> None:
            nonlocal expected
            now = time.perf_counter()
            lags.append(max(0.0, now - expected))
            expected = now + period

        app.set_interval(period, tick)
        await pilot.pause(args.seconds)
        points = sum(len(s) for r in app.session.catalog.runs() for s in r.series.values())
        rss = _rss_mb()
        await pilot.press("q", "y")

    lags_ms = sorted(x * 1000 for x in lags)
    draws_ms = sorted(x * 1000 for x in draws)

    def pct(values: list[float], q: float) -> float:
        return values[min(len(values) - 1, int(q * len(values)))] if values else float("nan")

    print(
        f"runs {args.runs} x {args.rate} events/s for {args.seconds:.0f} s, "
        f"{args.history:.0f} s of backlog each ({int(args.history * args.rate)} events/run)"
    )
    print(f"first screen        {first_screen * 1000:7.0f} ms")
    print(f"backlog read        {ingested * 1000:7.0f} ms (every run caught up)")
    print(
        f"frame lag (20 Hz)   p50 {pct(lags_ms, 0.5):6.1f}  p95 {pct(lags_ms, 0.95):6.1f}  "
        f"p99 {pct(lags_ms, 0.99):6.1f}  max {lags_ms[-1] if lags_ms else float('nan'):6.1f} ms"
        f"  ({len(lags_ms)} ticks)"
    )
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
    parser.add_argument("--runs", type=int, default=8)
    parser.add_argument("--rate", type=int, default=100, help="events per second per run")
    parser.add_argument("--seconds", type=float, default=30.0, help="how long to measure")
    parser.add_argument("--history", type=float, default=600.0, help="backlog seconds per run")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        runs_dir = Path(tmp)
        writer = multiprocessing.Process(
            target=write_runs,
            args=(runs_dir, args.runs, args.rate, args.seconds + 60, args.history),
        )
        writer.start()
        while not (runs_dir / BACKLOG_DONE).exists():
            time.sleep(0.05)
        try:
            asyncio.run(measure(runs_dir, args))
        finally:
            writer.terminate()
            writer.join()


if __name__ == "__main__":
    main()
