"""The evaluation browser on a real finished `smoke` run, driven through Textual's pilot."""

from __future__ import annotations

import csv
import io
import json
import shutil
import subprocess
import sys
from collections import Counter
from dataclasses import fields
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from PIL import Image
from rich.console import Console
from textual.app import App
from textual.widgets import DataTable, ProgressBar, Static

from sousa_train.rudiments import FAMILIES, NUM_CLASSES, RUDIMENTS, SLUGS
from sousa_tui.evaluation import EvalScreen, playback
from sousa_tui.evaluation.confusion import ConfusionHeatmap, FamilyMatrix
from sousa_tui.evaluation.rudiment_table import RudimentTable
from sousa_tui.evaluation.scores import (
    Prediction,
    breakdowns,
    load_eval,
    per_rudiment,
    reference_clip,
    summary,
)
from tests.conftest import copy_run
from tests.waiting import wait_until

REPO = Path(__file__).resolve().parents[1]


class Host(App[None]):
    """A bare app that opens the browser, as the console does."""

    def __init__(self, run_dir: Path, split: str = "test") -> None:
        super().__init__()
        self.run_dir, self.split = run_dir, split

    def on_mount(self) -> None:
        self.push_screen(EvalScreen(self.run_dir, self.split))


async def opened(pilot, timeout: float = 120.0) -> EvalScreen:
    """Wait until the screen has shown its data (after an eval subprocess if one runs)."""
    screen = pilot.app.screen
    assert isinstance(screen, EvalScreen)
    try:
        await wait_until(pilot, lambda: screen.data is not None, "the evaluation", timeout)
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {screen.query_one('#eval-status').render()}") from None
    await pilot.pause()
    return screen


@pytest.fixture(scope="module")
def smoke_run(tmp_path_factory: pytest.TempPathFactory, finished_smoke: Path) -> Path:
    """The module's own copy of the shared real finished smoke run."""
    return copy_run(finished_smoke, tmp_path_factory.mktemp("runs"))


def parquet_rows(run_dir: Path, split: str = "test") -> list[dict]:
    return pq.read_table(run_dir / "eval" / split / "predictions.parquet").to_pylist()


def test_numbers_agree_with_the_metrics_training_wrote(smoke_run: Path) -> None:
    """The console's numpy figures equal torchmetrics' in metrics.json and confusion.json."""
    data = load_eval(smoke_run, "test")
    metrics = json.loads((smoke_run / "eval/test/metrics.json").read_text())
    confusion = json.loads((smoke_run / "eval/test/confusion.json").read_text())
    assert data.confusion.tolist() == confusion["matrix"]
    s = summary(data)
    for key, value in (
        ("accuracy", s.accuracy),
        ("balanced_accuracy", s.balanced_accuracy),
        ("top5_accuracy", s.top5_accuracy),
        ("macro_f1", s.macro_f1),
    ):
        assert value == pytest.approx(metrics[key], abs=1e-6), key
    for row in per_rudiment(data.confusion):
        expected = metrics["per_class"][row.slug]
        assert row.precision == pytest.approx(expected["precision"], abs=1e-6)
        assert row.recall == pytest.approx(expected["recall"], abs=1e-6)
        assert row.f1 == pytest.approx(expected["f1"], abs=1e-6)
        assert row.support == expected["support"]


async def test_matrix_cells_match_predictions_and_list_their_clips(smoke_run: Path) -> None:
    rows = parquet_rows(smoke_run)
    app = Host(smoke_run)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        heatmap = screen.query_one(ConfusionHeatmap)
        expected = np.zeros((NUM_CLASSES, NUM_CLASSES), dtype=int)
        for r in rows:
            expected[r["label"], r["pred"]] += 1
        assert (heatmap.confusion == expected).all()

        # Walk the cursor to the commonest cell of the second rudiment and read it.
        true = 1
        pred = int(expected[true].argmax())
        await pilot.press("2", "down", *["right"] * pred)
        assert heatmap.cursor == (true, pred)
        n = int(expected[true, pred])
        pct = 100 * n / expected[true].sum()
        info = str(screen.query_one("#cell-info", Static).render())
        assert info == f"{RUDIMENTS[true].name} -> {RUDIMENTS[pred].name}: {n} ({pct:.1f} %)"

        await pilot.press("enter")
        await pilot.pause()
        listed = screen.query_one("#clip-table", DataTable)
        assert screen.query_one("#views").active == "mistakes"
        got = [listed.get_row_at(i)[-1] for i in range(listed.row_count)]
        want = [r["sample_id"] for r in rows if (r["label"], r["pred"]) == (true, pred)]
        assert sorted(got) == sorted(want) and got

        await pilot.press("a")
        await pilot.pause()
        assert listed.row_count == sum(r["label"] != r["pred"] for r in rows)


async def test_normalised_toggle_and_family_matrix(smoke_run: Path) -> None:
    rows = parquet_rows(smoke_run)
    family = {r.class_id: FAMILIES.index(r.family) for r in RUDIMENTS}
    want = np.zeros((len(FAMILIES), len(FAMILIES)), dtype=int)
    for r in rows:
        want[family[r["label"]], family[r["pred"]]] += 1
    app = Host(smoke_run)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        families = screen.query_one(FamilyMatrix)
        assert (families.counts == want).all()
        await pilot.press("2", "n")
        assert screen.query_one(ConfusionHeatmap).normalised and families.normalised
        console = Console(width=80, record=True, file=io.StringIO())
        console.print(families.content)
        shown = console.export_text()
        assert (
            f"{100 * want[3, 3] / want[3].sum():.0f}%" in shown and "%" in shown.split("roll")[-1]
        )


async def test_rudiment_table_sorts_by_any_column(smoke_run: Path) -> None:
    app = Host(smoke_run)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        await pilot.press("3")
        table = screen.query_one(RudimentTable)
        by_pas = {r.pas: r for r in per_rudiment(screen.data.confusion)}

        def column(attr: str) -> list:
            return [getattr(by_pas[table.get_row_at(i)[0]], attr) for i in range(table.row_count)]

        table.move_cursor(column=4)  # recall
        await pilot.press("s")
        assert column("recall") == sorted(column("recall"))
        await pilot.press("s")
        assert column("recall") == sorted(column("recall"), reverse=True)
        assert column("pas") != sorted(column("pas"))  # the sort moved rows, not only values
        table.sort_by("rudiment")
        assert column("name") == sorted(r.name for r in RUDIMENTS)
        table.sort_by("support")
        assert column("support") == sorted(column("support"))


async def test_export_writes_png_and_csvs_into_eval(smoke_run: Path, tmp_path: Path) -> None:
    run = Path(shutil.copytree(smoke_run, tmp_path / "smoke" / smoke_run.name))
    app = Host(run)
    async with app.run_test(size=(140, 50)) as pilot:
        await opened(pilot)
        await pilot.press("x")
        await pilot.pause()
    folder = run / "eval" / "test"
    with open(folder / "confusion.csv") as fh:
        table = list(csv.reader(fh))
    assert table[0][1:] == list(SLUGS)
    matrix = [[int(v) for v in row[1:]] for row in table[1:]]
    assert matrix == json.loads((folder / "confusion.json").read_text())["matrix"]
    with open(folder / "per_rudiment.csv") as fh:
        rudiments = list(csv.DictReader(fh))
    assert [r["rudiment"] for r in rudiments] == list(SLUGS)
    assert sum(int(r["support"]) for r in rudiments) == len(parquet_rows(run))
    with Image.open(folder / "confusion.png") as image:
        assert image.width > 40 * 10 and image.height > 40 * 10


async def test_missing_split_is_evaluated_by_a_subprocess(
    smoke_run: Path, tmp_path: Path, smoke_env: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SOUSA_CACHE_DIR", smoke_env["SOUSA_CACHE_DIR"])
    run = Path(shutil.copytree(smoke_run, tmp_path / "smoke" / smoke_run.name))
    shutil.rmtree(run / "eval" / "val")
    app = Host(run, "val")
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        status = str(screen.query_one("#eval-status", Static).render())
        assert "Evaluating the val split with `sousa-train eval`" in status
        assert screen.query_one("#views").display
        assert summary(screen.data).num_clips == len(parquet_rows(run, "val"))
        bar = screen.query_one(ProgressBar)
        assert bar.total == bar.progress == summary(screen.data).num_clips


async def test_without_portaudio_the_ui_says_so_and_still_works(
    smoke_run: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # As if PortAudio were missing: the device probe answers so.
    monkeypatch.setattr(playback, "_PROBE", f"import sys; sys.exit({playback._NO_PORTAUDIO})")
    app = Host(smoke_run)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)

        def status() -> str:
            return str(screen.query_one("#status", Static).render())

        await wait_until(pilot, lambda: status().startswith("No audio playback"), "the notice")
        assert "\n" not in status()
        await pilot.press("4", "p")
        await pilot.pause()
        assert str(screen.query_one("#status", Static).render()).startswith("No audio playback")
        await pilot.press("2", "enter")
        assert screen.query_one("#views").active == "mistakes"


async def test_v_switches_to_the_validation_split(smoke_run: Path) -> None:
    app = Host(smoke_run)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        await pilot.press("v")
        screen = await opened(pilot)
        assert screen.data.split == "val"
        assert "val split" in str(screen.query_one("#title", Static).render())
        want = Counter((r["label"], r["pred"]) for r in parquet_rows(smoke_run, "val"))
        got = screen.query_one(ConfusionHeatmap).confusion
        assert {k: int(got[k]) for k in want} == dict(want) and got.sum() == sum(want.values())


async def test_unreadable_predictions_are_named_with_what_to_do(tmp_path: Path) -> None:
    run = tmp_path / "exp" / "20260101-000000-bad"
    (run / "eval" / "test").mkdir(parents=True)
    (run / "eval" / "test" / "predictions.parquet").write_bytes(b"PAR1 not really")
    app = Host(run)
    async with app.run_test(size=(140, 50)) as pilot:
        path = str(run / "eval" / "test" / "predictions.parquet")
        status = app.screen.query_one("#eval-status", Static)
        await wait_until(pilot, lambda: path in str(status.render()), "the error")
        message = str(status.render())
        assert "sousa-train eval" in message


async def test_a_failing_eval_subprocess_shows_its_error(tmp_path: Path) -> None:
    run = tmp_path / "exp" / "20260101-000000-empty"  # no config.json, no checkpoint
    run.mkdir(parents=True)
    app = Host(run)
    async with app.run_test(size=(140, 50)) as pilot:
        status = app.screen.query_one("#eval-status", Static)
        await wait_until(pilot, lambda: "failed" in str(status.render()), "the failure")
        assert "failed (exit code 1)" in str(status.render())
        output = str(app.screen.query_one("#eval-output", Static).render())
        assert "config.json" in output and not app.screen.query_one("#views").display


def write_eval(run: Path, rows: list[dict], data_root: Path) -> Path:
    """A run directory holding only what the browser reads: config.json and predictions."""
    (run / "eval" / "test").mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_root": str(data_root)}))
    pq.write_table(pa.Table.from_pylist(rows), run / "eval" / "test" / "predictions.parquet")
    return run


def synthetic_rows() -> list[dict]:
    """A plausible model: mostly right, wrong mostly within a family; fixed seed."""
    rng = np.random.default_rng(7)
    rows = []
    for r in RUDIMENTS:
        same_family = [o.class_id for o in RUDIMENTS if o.family == r.family]
        for k in range(10):
            roll = rng.random()
            pred = r.class_id if roll < 0.7 else int(rng.choice(same_family))
            if roll > 0.95:
                pred = int(rng.integers(NUM_CLASSES))
            rows.append(
                {
                    "sample_id": f"{r.slug}_{k}",
                    "audio_path": f"audio/{r.slug}/{r.slug}_{k}.flac",
                    "label": r.class_id,
                    "pred": pred,
                    "confidence": float(rng.uniform(0.3, 0.99)),
                    "top5_ids": [pred, *[(pred + i) % NUM_CLASSES for i in range(1, 5)]],
                    "tempo_bpm": float(60 + 12 * k),
                    "skill_tier": ("beginner", "intermediate", "advanced", "professional")[k % 4],
                    "augmentation_preset": ("clean_studio", "gym")[k % 2],
                }
            )
    return rows


def test_matrix_screen_snapshot(
    snap_compare, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The same status line on every machine: the device probe answers "no PortAudio".
    monkeypatch.setattr(playback, "_PROBE", f"import sys; sys.exit({playback._NO_PORTAUDIO})")
    run = write_eval(tmp_path / "demo" / "20260101-000000-snap", synthetic_rows(), tmp_path)

    async def open_matrix(pilot) -> None:
        screen = await opened(pilot)
        await wait_until(
            pilot, lambda: str(screen.query_one("#status", Static).render()), "the status line"
        )
        await pilot.press("2", "down", "down", "right")
        await pilot.pause()

    assert snap_compare(Host(run), run_before=open_matrix, terminal_size=(140, 50))


def plain_balanced_accuracy(rows: list[dict]) -> float:
    """Mean over the true classes present of the share of their clips predicted right."""
    by_class: dict[int, list[bool]] = {}
    for r in rows:
        by_class.setdefault(r["label"], []).append(r["label"] == r["pred"])
    return sum(sum(v) / len(v) for v in by_class.values()) / len(by_class)


async def test_summary_breaks_down_where_the_data_has_it(tmp_path: Path) -> None:
    rows = synthetic_rows()
    for r in rows:
        r["augmentation_preset"] = None  # a data set that records no presets
    run = write_eval(tmp_path / "demo" / "20260101-000000-sum", rows, tmp_path)
    data = load_eval(run, "test")
    groups = breakdowns(data.predictions)
    assert list(groups) == ["family", "skill tier", "tempo band"]
    tiers = {g.name: g for g in groups["skill tier"]}
    assert list(tiers) == ["beginner", "intermediate", "advanced", "professional"]
    beginners = [r for r in rows if r["skill_tier"] == "beginner"]
    assert tiers["beginner"].clips == len(beginners)
    assert tiers["beginner"].balanced_accuracy == pytest.approx(plain_balanced_accuracy(beginners))
    drags = [r for r in rows if RUDIMENTS[r["label"]].family == "drag"]
    assert groups["family"][3].balanced_accuracy == pytest.approx(plain_balanced_accuracy(drags))
    fast = [r for r in rows if r["tempo_bpm"] >= 160]
    fastest = groups["tempo band"][-1]
    assert (fastest.name, fastest.clips) == ("160+ bpm", len(fast))
    assert summary(data).balanced_accuracy == pytest.approx(plain_balanced_accuracy(rows))
    async with Host(run).run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        console = Console(width=140, record=True, file=io.StringIO())
        console.print(screen.query_one("#summary-text", Static).content)
        shown = console.export_text()
        assert f"{tiers['beginner'].balanced_accuracy:.4f}" in shown
        assert "augmentation" not in shown


def test_reference_clip_prefers_a_confident_correct_one() -> None:
    rows = synthetic_rows()
    data_rows = [Prediction(**{f.name: r[f.name] for f in fields(Prediction)}) for r in rows]
    flam = RUDIMENTS[19].class_id
    ref = reference_clip(data_rows, flam)
    right = [p for p in data_rows if p.label == flam and p.correct]
    assert ref is not None and ref.correct and ref.confidence == max(p.confidence for p in right)
    wrong_only = [p for p in data_rows if not (p.label == flam and p.correct)]
    fallback = reference_clip(wrong_only, flam)
    assert fallback is not None and fallback.label == flam and not fallback.correct
    assert reference_clip([p for p in data_rows if p.label != flam], flam) is None


async def test_e_on_the_console_opens_the_latest_run_and_escape_returns(smoke_run: Path) -> None:
    from sousa_train.config.manifest import load_manifest
    from sousa_tui.app import SousaApp
    from sousa_tui.widgets.experiments import ExperimentsTable

    app = SousaApp(load_manifest(REPO / "experiments.toml"), smoke_run.parent.parent)
    async with app.run_test(size=(140, 50)) as pilot:
        table = app.screen.query_one(ExperimentsTable)
        await wait_until(
            pilot, lambda: table.row_count and app.session.latest("smoke") is not None, "the run"
        )
        table.move_cursor(row=table.get_row_index("demo-quick"))
        await pilot.press("e")  # no run: a warning, no screen change
        assert not isinstance(app.screen, EvalScreen)
        table.move_cursor(row=table.get_row_index("smoke"))
        await pilot.press("e")
        screen = await opened(pilot)
        assert screen.run.root == smoke_run
        assert summary(screen.data).num_clips == len(parquet_rows(smoke_run))
        await pilot.press("escape")
        assert app.screen is app.main_screen


async def test_open_flag_starts_in_the_browser_of_a_copied_back_run(
    smoke_run: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sousa_tui.app import SousaApp, _manifest, _opened_run

    copied = Path(shutil.copytree(smoke_run, tmp_path / "back" / "smoke" / smoke_run.name))
    monkeypatch.chdir(tmp_path)  # no experiments.toml here, as after an rsync from the cloud
    run = _opened_run(str(copied))
    app = SousaApp(_manifest(None, run), copied.parent.parent, open_run=run)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = await opened(pilot)
        assert screen.run.root == copied
        await pilot.press("escape")
        assert app.screen is app.main_screen
        assert app.session.names() == ["smoke"]


def test_open_flag_names_a_folder_that_is_not_a_run(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sousa_tui.app", "--open", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 2
    assert str(tmp_path) in done.stderr and "config.json" in done.stderr


@pytest.fixture(scope="module")
def scored_on_real(
    smoke_run: Path,
    tmp_path_factory: pytest.TempPathFactory,
    smoke_env: dict[str, str],
    fixture_root: Path,
) -> Path:
    """A copy of the demo-trained smoke run scored with `eval --data` on the real fixture."""
    tmp = tmp_path_factory.mktemp("real")
    run = Path(shutil.copytree(smoke_run, tmp / "smoke" / smoke_run.name))
    manifest = tmp / "experiments.toml"
    manifest.write_text(
        f'[datasets.real]\npath = "{fixture_root}"\n\n'
        '[experiments.any]\nmodel = "efficientat"\nstrategy = "from_scratch"\ndata = "real"\n'
    )
    before = {p.name: p.read_bytes() for p in (run / "events.jsonl", run / "status.json")}
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "sousa_train.cli",
            "eval",
            str(run),
            "--data",
            "real",
            "--manifest",
            str(manifest),
            "--split",
            "test",
        ],
        env=smoke_env,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert "real test: balanced accuracy" in done.stdout
    # Only the eval folder is written: the training process owns events and status.
    assert before == {p: (run / p).read_bytes() for p in before}
    return run


def test_eval_on_another_data_set_writes_its_own_folder(
    scored_on_real: Path, fixture_root: Path
) -> None:
    from sousa_train.data.reader import open_dataset

    folder = scored_on_real / "eval" / "real-test"
    assert {p.name for p in folder.iterdir()} == {
        "metrics.json",
        "confusion.json",
        "predictions.parquet",
    }
    own = pq.read_table(scored_on_real / "eval" / "test" / "predictions.parquet")
    table = pq.read_table(folder / "predictions.parquet")
    assert table.schema == own.schema  # every column, same types: the same format
    metrics = json.loads((folder / "metrics.json").read_text())
    test_clips = open_dataset(fixture_root).clips("test")
    assert metrics["num_clips"] == table.num_rows == len(test_clips) > 0
    assert (metrics["data"], metrics["split"]) == ("real", "test")
    assert set(table.column("sample_id").to_pylist()) == {c.sample_id for c in test_clips}
    root = Path(metrics["data_root"])
    assert all((root / p).is_file() for p in table.column("audio_path").to_pylist())
    confusion = json.loads((folder / "confusion.json").read_text())
    assert sum(map(sum, confusion["matrix"])) == len(test_clips)


async def test_v_cycles_through_every_evaluation_of_the_run(scored_on_real: Path) -> None:
    from sousa_tui.evaluation.scores import audio_file

    metrics = json.loads((scored_on_real / "eval" / "real-test" / "metrics.json").read_text())
    app = Host(scored_on_real)
    async with app.run_test(size=(140, 50)) as pilot:
        seen = []
        for _ in range(4):
            screen = await opened(pilot)
            title = str(screen.query_one("#title", Static).render())
            seen.append((screen.data.split, title.rsplit("· ", 1)[-1]))
            if screen.data.split == "real-test":
                assert summary(screen.data).num_clips == metrics["num_clips"]
                clip = screen.data.predictions[0]
                # Its clips play from the data set it was scored on, not the run's demo set.
                assert audio_file(screen.data, clip).is_file()
                assert str(audio_file(screen.data, clip)).startswith(metrics["data_root"])
            await pilot.press("v")
        assert seen == [
            ("test", "test split"),
            ("val", "val split"),
            ("real-test", "test split of data set real"),
            ("test", "test split"),
        ]
