"""`sousa-train report` on a real 2 x 2 matrix of tiny runs: the numbers are the runs'
metrics.json, CSV parses back, the plot is a PNG, and empty or unknown matrices read right."""

from __future__ import annotations

import csv
import io
import json
import re
from pathlib import Path

from PIL import Image

from sousa_train.compare.grid import GridReader
from sousa_train.config.manifest import load_manifest
from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs
from tests.cli import sousa_train
from tests.conftest import GRID_TRAINED


def _args(root: Path, *more: str) -> tuple[str, ...]:
    return (
        "report",
        *more,
        "--runs-dir",
        str(root / "runs"),
        "--manifest",
        str(root / "experiments.toml"),
    )


def _metrics(root: Path, experiment: str, split: str = "test") -> dict:
    (run,) = find_runs(root / "runs", experiment)
    return read_json(run.eval_dir(split) / "metrics.json")


def test_markdown_grid_holds_each_runs_metrics(grid_runs: Path) -> None:
    done = sousa_train(*_args(grid_runs, "--matrix", "grid", "--format", "md"))
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    header = next(line for line in lines if line.startswith("| model | from_scratch"))
    grid = lines[lines.index(header) + 2 : lines.index(header) + 4]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:4]] for line in grid}
    expected = {
        "efficientat/tiny": [
            _metrics(grid_runs, GRID_TRAINED[0]),
            _metrics(grid_runs, GRID_TRAINED[2]),
        ],
        "rhythmcnn/tiny": [_metrics(grid_runs, GRID_TRAINED[1]), None],
    }
    for model, metrics in expected.items():
        for shown, m in zip(rows[model], metrics, strict=True):
            if m is None:
                assert shown == "missing"
            else:
                assert float(shown.strip("*")) == round(m["balanced_accuracy"], 4)
    # The best of each column is bold: with one value the from_scratch column has two.
    scratch = [rows[m][0] for m in rows]
    best = max(scratch, key=lambda s: float(s.strip("*")))
    assert best.startswith("**") and sum(s.startswith("**") for s in scratch) >= 1
    assert "by family" in done.stdout and "trainable parameters" in done.stdout


def test_csv_parses_back_and_json_and_latex_agree(grid_runs: Path) -> None:
    done = sousa_train(*_args(grid_runs, "--matrix", "grid", "--format", "csv"))
    assert done.returncode == 0, done.stderr
    records = {r["experiment"]: r for r in csv.DictReader(io.StringIO(done.stdout))}
    assert len(records) == 4
    for name in GRID_TRAINED:
        m = _metrics(grid_runs, name)
        assert float(records[name]["test_bacc"]) == m["balanced_accuracy"]
        assert float(records[name]["macro_f1"]) == m["macro_f1"]
        assert (
            float(records[name]["val_bacc"])
            == _metrics(grid_runs, name, "val")["balanced_accuracy"]
        )
        assert records[name]["state"] == "finished"
    missing = records["grid-rhythmcnn-full_finetune"]
    assert missing["state"] == "missing" and missing["test_bacc"] == ""

    doc = json.loads(sousa_train(*_args(grid_runs, "--matrix", "grid", "--format", "json")).stdout)
    assert doc["rows"] == ["efficientat/tiny", "rhythmcnn/tiny"]
    assert doc["columns"] == ["from_scratch", "full_finetune"]
    tex = sousa_train(*_args(grid_runs, "--matrix", "grid", "--format", "latex")).stdout
    assert "\\toprule" in tex and "\\textbf{" in tex and "from\\_scratch" in tex


def test_plot_writes_a_png(grid_runs: Path, tmp_path: Path) -> None:
    png = tmp_path / "grid.png"
    done = sousa_train(
        *_args(grid_runs, "--matrix", "grid", "--plot", str(png), "--out", str(tmp_path / "r.md"))
    )
    assert done.returncode == 0, done.stderr
    with Image.open(png) as image:
        image.verify()
        assert image.format == "PNG"
    assert (tmp_path / "r.md").read_text().startswith("### grid")


def test_run_dirs_report_and_the_shared_grid(grid_runs: Path) -> None:
    dirs = [str(find_runs(grid_runs / "runs", n)[0].root) for n in GRID_TRAINED[:2]]
    done = sousa_train("report", *dirs, "--format", "csv")
    assert done.returncode == 0, done.stderr
    assert {r["model"] for r in csv.DictReader(io.StringIO(done.stdout))} == {
        "efficientat/tiny",
        "rhythmcnn/tiny",
    }
    manifest = load_manifest(grid_runs / "experiments.toml")
    grid = GridReader().matrix_grid(manifest, "grid", grid_runs / "runs")
    cell = grid.cell("efficientat/tiny", "from_scratch")
    assert cell is not None and cell.figures is not None
    assert (
        cell.value("trainable_params")
        == read_json(Path(cell.finished) / "config.json")["parameters"]["trainable"]
    )
    assert set(cell.figures.families) == {"roll", "diddle", "flam", "drag"}


def test_a_matrix_with_no_run_prints_missing_cells(grid_runs: Path, tmp_path: Path) -> None:
    done = sousa_train(
        "report",
        "--matrix",
        "empty",
        "--runs-dir",
        str(tmp_path / "none"),
        "--manifest",
        str(grid_runs / "experiments.toml"),
    )
    assert done.returncode == 0, done.stderr
    assert re.search(r"\| efficientat/tiny \| missing \|", done.stdout)


def test_an_unknown_matrix_exits_2_naming_the_valid_ones(grid_runs: Path) -> None:
    done = sousa_train(*_args(grid_runs, "--matrix", "paper"))
    assert done.returncode == 2
    assert "no matrix named 'paper'" in done.stderr and "grid, empty" in done.stderr
