"""The console's bounded metric series and incremental file tails."""

from __future__ import annotations

from pathlib import Path

from sousa_train.rundir.tail import EventTail, LogTail
from sousa_tui.state.series import BoundedSeries, min_max_buckets, smooth


def test_series_stays_bounded_and_keeps_its_extremes() -> None:
    series = BoundedSeries(capacity=256)
    for step in range(100_000):
        value = 100.0 if step == 54_321 else (-5.0 if step == 77_777 else float(step % 7))
        series.append(step, step / 10, value)
    assert len(series) <= 256
    values = [p[2] for p in series.points]
    assert max(values) == 100.0 and min(values) == -5.0
    steps = [p[0] for p in series.points]
    assert steps == sorted(steps) and steps[-1] == 99_999


def test_a_resumed_run_replaces_the_steps_it_repeats() -> None:
    series = BoundedSeries()
    for step in (2, 4, 6, 8):
        series.append(step, step, 1.0)
    series.append(6, 20, 2.0)  # resumed from the step-4 checkpoint, logs step 6 again
    assert [(p[0], p[2]) for p in series.points] == [(2, 1.0), (4, 1.0), (6, 2.0)]


def test_min_max_buckets_bound_the_drawn_points_and_keep_a_spike() -> None:
    points = [(float(i), float(i), 0.0) for i in range(10_000)]
    points[5_003] = (5_003.0, 5_003.0, 9.0)
    shown = min_max_buckets(points, 40)
    assert len(shown) <= 80
    assert max(p[2] for p in shown) == 9.0
    assert [p[0] for p in shown] == sorted(p[0] for p in shown)


def test_smoothing_is_debiased_and_zero_weight_is_identity() -> None:
    assert smooth([3.0, 1.0], 0.0) == [3.0, 1.0]
    smoothed = smooth([2.0, 2.0, 2.0, 10.0], 0.9)
    assert smoothed[:3] == [2.0, 2.0, 2.0]  # no pull towards zero at the start
    assert 2.0 < smoothed[3] < 10.0


def test_event_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "start"}\n{"kind": "met')
    tail = EventTail(path)
    assert [e["kind"] for e in tail.read_new()] == ["start"]
    with open(path, "a") as fh:
        fh.write('ric", "step": 3}\n')
    assert tail.read_new() == [{"kind": "metric", "step": 3}]
    assert tail.read_new() == []


def test_event_tail_starts_over_when_a_resumed_run_cut_the_file(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "start"}\n{"kind": "metric", "step": 1}\n')
    tail = EventTail(path)
    assert len(tail.read_new()) == 2
    path.write_text('{"kind": "end"}\n')
    assert tail.read_new() == [{"kind": "end"}]


def test_log_tail_opens_a_long_log_at_its_end(tmp_path: Path) -> None:
    path = tmp_path / "train.log"
    path.write_text("".join(f"line {i}\n" for i in range(50_000)))
    tail = LogTail(path, keep=5)
    tail.read_new()
    assert list(tail.recent) == [f"line {i}" for i in range(49_995, 50_000)]
    assert tail.lines._offset == path.stat().st_size
    with open(path, "a") as fh:
        fh.write("new line\n")
    assert tail.read_new() == ["new line"]
