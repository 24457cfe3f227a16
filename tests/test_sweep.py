"""A sweep end to end on the smoke model: trials are ordinary run directories, the study is
Optuna's, pruned trials end cleanly, and the best trial comes back as a manifest table."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState

from sousa_train.config.manifest import load_manifest
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status
from sousa_train.rundir.tail import iter_events
from tests.cli import sousa_train
from tests.conftest import REPO

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

SWEEP = """
[sweeps.search]
experiment = "smoke"
trials = {trials}
sampler = "random"
{pruner}
space.optim.lr = {{ log_uniform = [1e-4, 1e-2] }}
space.loader.batch_size = {{ choice = [8, 16] }}
"""
NO_PRUNING = 'pruner = "none"'
# A pruner forced to prune: no accuracy reaches 1.01, so every trial stops after epoch 0.
FORCED = 'pruner = "threshold"\nthreshold = 1.01\nwarmup_epochs = 0'


def write_sweep_manifest(folder: Path, pruner: str, trials: int = 6) -> Path:
    """The shipped manifest plus a sweep ``search`` of the smoke model."""
    path = folder / "experiments.toml"
    sweep = SWEEP.format(pruner=pruner, trials=trials)
    path.write_text((REPO / "experiments.toml").read_text() + sweep)
    return path


def study_of(runs: Path) -> optuna.Study:
    return optuna.load_study(study_name="search", storage=f"sqlite:///{runs / 'optuna.db'}")


@pytest.fixture(scope="module")
def swept(tmp_path_factory: pytest.TempPathFactory, smoke_env: dict[str, str]) -> Path:
    """Six trials of the smoke model: four by a first call without pruning, then two by a
    second call whose pruner prunes every trial; a third call has nothing left to do."""
    folder = tmp_path_factory.mktemp("sweep")
    runs = folder / "runs"
    common = ("--runs-dir", str(runs), "--manifest")
    manifest = str(write_sweep_manifest(folder, NO_PRUNING))
    first = sousa_train("sweep", "search", "--trials", "4", *common, manifest, env=smoke_env)
    assert first.returncode == 0, first.stderr[-3000:]
    manifest = str(write_sweep_manifest(folder, FORCED))
    for _ in range(2):
        done = sousa_train("sweep", "search", *common, manifest, env=smoke_env)
        assert done.returncode == 0, done.stderr[-3000:]
    (folder / "third.txt").write_text(done.stdout)
    return runs


def test_six_trials_leave_six_run_directories_and_a_study_in_the_expected_states(
    swept: Path,
) -> None:
    runs = find_runs(swept, "search")
    assert len(runs) == 6
    trials = sorted(study_of(swept).trials, key=lambda t: t.number)
    assert [t.state for t in trials] == [TrialState.COMPLETE] * 4 + [TrialState.PRUNED] * 2
    assert [read_status(r).state for r in runs] == ["finished"] * 4 + ["pruned"] * 2
    assert (swept.parent / "third.txt").read_text() == ""  # nothing left to run


def test_each_trial_is_a_run_with_its_sampled_values(swept: Path) -> None:
    by_number = {t.number: t for t in study_of(swept).trials}
    for run in find_runs(swept, "search"):
        sweep = json.loads(run.config.read_text())["sweep"]
        trial = by_number[sweep["trial"]]
        assert sweep["params"] == trial.params
        assert trial.user_attrs["run_dir"] == str(run.root)
        config = json.loads(run.config.read_text())["experiment"]
        assert config["optim"]["lr"] == trial.params["optim.lr"]
        assert config["loader"]["batch_size"] == trial.params["loader.batch_size"]
        events = list(iter_events(run.events))
        (record,) = [e for e in events if e["kind"] == "trial"]
        assert record["params"] == trial.params and record["sweep"] == "search"
        if trial.state == TrialState.PRUNED:
            assert events[-1]["kind"] == "end" and events[-1]["reason"] == "pruned"
            assert sorted(trial.intermediate_values) == [0]
        else:
            assert trial.value == max(
                e["val/balanced_accuracy"] for e in events if e["kind"] == "epoch"
            )


def test_show_prints_every_trial_the_best_and_the_importances(swept: Path) -> None:
    manifest = str(write_sweep_manifest(swept.parent, FORCED))
    args = ("sweep", "search", "--runs-dir", str(swept), "--manifest", manifest)
    shown = sousa_train(*args, "--show")
    assert shown.returncode == 0, shown.stderr
    assert "6 of 6 trials done" in shown.stdout
    assert shown.stdout.count("complete") == 4 and shown.stdout.count("pruned") == 2
    report = json.loads(sousa_train(*args, "--show", "--json").stdout)
    assert [t["state"] for t in report["trials"]] == ["complete"] * 4 + ["pruned"] * 2
    assert report["best"] == study_of(swept).best_trial.number
    assert report["importances"] is None or set(report["importances"]) <= {
        "optim.lr",
        "loader.batch_size",
    }


def test_best_prints_a_manifest_table_that_pastes_as_an_experiment(swept: Path) -> None:
    manifest = write_sweep_manifest(swept.parent, FORCED)
    best = sousa_train(
        "sweep", "search", "--runs-dir", str(swept), "--manifest", str(manifest), "--best"
    )
    assert best.returncode == 0, best.stderr
    assert "[experiments.search-best]" in best.stdout
    tomllib.loads(best.stdout)
    manifest.write_text(manifest.read_text() + "\n" + best.stdout)
    cfg = load_manifest(manifest).get("search-best")
    params = study_of(swept).best_trial.params
    assert (cfg.model, cfg.variant, cfg.data.name) == ("efficientat", "tiny", "demo-tiny")
    assert cfg.optim.lr == params["optim.lr"]
    assert cfg.loader.batch_size == params["loader.batch_size"]


async def test_the_console_shows_the_sweep_row_its_trials_and_its_view(swept: Path) -> None:
    from textual.widgets import DataTable, Static

    from sousa_tui.app import SousaApp
    from sousa_tui.screens.results import COLUMN_NAMES
    from sousa_tui.screens.sweep import SweepScreen
    from tests.test_tui import SIZE, cell, table_of
    from tests.waiting import wait_until

    manifest = load_manifest(write_sweep_manifest(swept.parent, FORCED))
    app = SousaApp(manifest, swept)
    async with app.run_test(size=SIZE) as pilot:
        await wait_until(
            pilot, lambda: cell(app, "search", "state") == "6/6 trials", "the sweep row"
        )
        best = max(r.best_val_bacc for r in app.session.catalog.runs_of("search"))
        assert cell(app, "search", "best val") == f"{best:.4f}"
        table = table_of(app)
        table.move_cursor(row=app.session.names().index("search"))
        await pilot.press("t")
        results = app.screen.query_one("#results", DataTable)
        await wait_until(pilot, lambda: results.row_count == 6, "six trials in the results")
        app.screen.sort_by("trial")
        column = list(COLUMN_NAMES)
        trials = [results.get_cell_at((i, column.index("trial"))) for i in range(6)]
        states = [results.get_cell_at((i, column.index("state"))) for i in range(6)]
        assert [t.split()[0] for t in trials] == [f"#{n}" for n in range(6)]
        assert "optim.lr=" in trials[0] and "loader.batch_size=" in trials[0]
        assert states == ["finished"] * 4 + ["pruned"] * 2
        await pilot.press("escape", "w")
        assert isinstance(app.screen, SweepScreen)
        pane = app.screen.query_one("#sweep-importances", Static)

        await wait_until(
            pilot, lambda: "asking Optuna" not in str(pane.render()), "Optuna's report"
        )
        # Optuna's importances, or its note that the trials cannot rank them; not an error.
        assert str(pane.render()).startswith(("importance of each setting", "importances: need"))
        head = str(app.screen.query_one("#sweep-head", Static).render())
        number = study_of(swept).best_trial.number
        assert "6 of 6 trials done" in head and f"best: #{number} " in head
        shown = str(app.screen.query_one("#sweep-trials", Static).render())
        assert shown.count("complete") == 4 and shown.count("pruned") == 2


def test_the_console_launches_a_sweep_row_as_sweep_which_continues_its_study(
    tmp_path: Path,
) -> None:
    from sousa_tui.state.launcher import Launcher

    launcher = Launcher(tmp_path / "experiments.toml", tmp_path, sweeps=frozenset({"search"}))
    argv = launcher.command("search", fresh=True)
    assert argv[argv.index("sousa_train.cli") + 1 :][:2] == ["sweep", "search"]
    assert "--fresh" not in argv
    assert launcher.command("smoke", fresh=True)[-1] == "--fresh"
