"""The console's experiments pane, driven through Textual's pilot over real run files."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from textual.widgets import DataTable

from sousa_train.manifest import load_manifest
from sousa_train.runlog import RunDir, RunLog
from sousa_tui.app import SousaApp
from sousa_tui.runs import EventTail

REPO = Path(__file__).resolve().parents[1]


def test_console_import_pulls_in_no_torch() -> None:
    code = "import sys, sousa_tui.app; print(any(m.split('.')[0] == 'torch' for m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_event_tail_reads_only_new_complete_lines(tmp_path: Path) -> None:
    path = tmp_path / "events.jsonl"
    path.write_text('{"kind": "start"}\n{"kind": "met')
    tail = EventTail(path)
    assert [e["kind"] for e in tail.read_new()] == ["start"]
    with open(path, "a") as fh:
        fh.write('ric", "step": 3}\n')
    assert tail.read_new() == [{"kind": "metric", "step": 3}]
    assert tail.read_new() == []


async def test_experiments_pane_shows_latest_run_state_and_metrics(tmp_path: Path) -> None:
    manifest = load_manifest(REPO / "experiments.toml")
    run = RunDir(tmp_path / "smoke" / "20260101-000000-abcd")
    log = RunLog(run)
    run.config.write_text("{}")
    log.status("running")
    log.event("metric", step=5, total_steps=20, epoch=0)
    app = SousaApp(manifest, tmp_path)
    async with app.run_test() as pilot:
        table = app.query_one("#experiments", DataTable)
        assert table.row_count == len(manifest.experiments)
        assert table.get_cell("smoke", "state") == "running"
        assert table.get_cell("smoke", "progress") == "25%"
        log.event("epoch", epoch=0, step=20, **{"val/balanced_accuracy": 0.5})
        log.event("eval", split="test", balanced_accuracy=0.42)
        log.status("finished")
        await pilot.pause(1.3)
        assert table.get_cell("smoke", "state") == "finished"
        assert table.get_cell("smoke", "best val bal.acc") == "0.5000"
        assert table.get_cell("smoke", "test bal.acc") == "0.4200"
        assert table.get_cell("demo-quick", "state") == "-"
        await pilot.press("q")
