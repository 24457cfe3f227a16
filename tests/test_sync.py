"""Runs mirrored live to a file:// target and pulled back: real runs, real subprocesses.

One finished smoke run (shared by the module) checks the mirror is complete and opens in
the console; a long run is stopped with SIGTERM while the console follows it, another during
its final evaluation. (A run killed with SIGKILL mid-run, and what its mirror then reads as,
is in test_train.py, where that run is resumed.)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sousa_train.rundir.layout import RunDir, write_json_atomic
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status
from sousa_train.rundir.sync import HEARTBEAT, pull
from sousa_train.rundir.tail import iter_events
from tests.cli import sousa_train
from tests.conftest import mirrored_metric
from tests.waiting import wait_for, wait_until

REPO = Path(__file__).resolve().parents[1]


def files_of(root: Path) -> set[str]:
    return {p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file()}


def start_long_run(tmp: Path, target: Path, env: dict[str, str]) -> subprocess.Popen[str]:
    """A smoke run long enough to be stopped mid-way, mirrored to ``file://target``."""
    return subprocess.Popen(
        [
            *(sys.executable, "-m", "sousa_train.cli", "run", "smoke", "train.max_epochs=200"),
            *("--manifest", str(REPO / "experiments.toml"), "--runs-dir", str(tmp / "runs")),
            *("--sync-to", f"file://{target}"),
        ],
        env=env,
        cwd=tmp,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        text=True,
    )


@pytest.fixture(scope="module")
def env(tmp_path_factory: pytest.TempPathFactory) -> dict[str, str]:
    cache = tmp_path_factory.mktemp("cache")
    return {**os.environ, "SOUSA_CACHE_DIR": str(cache), "PYTHONUNBUFFERED": "1"}


@pytest.fixture(scope="module")
def synced(tmp_path_factory: pytest.TempPathFactory, env: dict[str, str]) -> tuple[RunDir, Path]:
    """A finished smoke run and the file:// folder it was mirrored to."""
    tmp = tmp_path_factory.mktemp("synced")
    target = tmp / "mirror"
    done = sousa_train(
        "run", "smoke", "train.max_epochs=1", "--manifest", str(REPO / "experiments.toml"),
        "--runs-dir", str(tmp / "runs"), "--sync-to", f"file://{target}",
        env=env, cwd=tmp,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    (run,) = find_runs(tmp / "runs", "smoke")
    return run, target


def test_a_synced_run_pulls_into_an_empty_folder_with_every_file(
    synced: tuple[RunDir, Path], tmp_path: Path, env: dict[str, str]
) -> None:
    run, target = synced
    home = tmp_path / "home"
    done = sousa_train("pull", f"file://{target}", str(home), env=env, cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert f"smoke/{run.run_id}" in done.stdout
    pulled = home / "smoke" / run.run_id
    local = files_of(run.root)
    assert local <= files_of(pulled), f"missing after pull: {local - files_of(pulled)}"
    assert {"checkpoints/best.ckpt", "checkpoints/last.ckpt", "train.log", "config.json"} <= local
    assert any(rel.startswith("eval/test/") for rel in local)
    for rel in local:  # the final round sent every file as it ended up
        assert (pulled / rel).read_bytes() == (run.root / rel).read_bytes(), rel
    assert not [p for p in pulled.rglob("*.tmp")]
    assert read_status(RunDir(pulled)).state == "finished"
    again = sousa_train("pull", f"file://{target}", str(home), env=env, cwd=tmp_path)
    assert again.returncode == 0 and again.stdout.startswith("0 changed file(s)"), again.stdout


async def test_a_pulled_run_opens_in_the_evaluation_browser(
    synced: tuple[RunDir, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from sousa_tui.app import SousaApp, _manifest, _opened_run
    from sousa_tui.evaluation import EvalScreen

    run, target = synced
    pull(f"file://{target}", tmp_path / "home")
    monkeypatch.chdir(tmp_path)  # no experiments.toml: a machine that only pulls
    opened = _opened_run(str(tmp_path / "home" / "smoke" / run.run_id))
    app = SousaApp(_manifest(None, opened), opened.parent.parent, open_run=opened)
    async with app.run_test(size=(140, 50)) as pilot:
        screen = app.screen
        assert isinstance(screen, EvalScreen)
        await wait_until(pilot, lambda: screen.data is not None, "the pulled run's evaluation")
        assert screen.run.root == opened


async def test_follow_shows_a_run_that_is_going_and_its_stop(
    tmp_path: Path, env: dict[str, str]
) -> None:
    from sousa_train.config.manifest import load_manifest
    from sousa_tui.app import SousaApp
    from sousa_tui.state.follow import Follower

    target = tmp_path / "mirror"
    proc = start_long_run(tmp_path, target, env)
    try:
        wait_for(lambda: mirrored_metric(target), "the first mirrored metric", 300)
        home = tmp_path / "followed"
        follower = Follower(f"file://{target}", home, every=0.5)
        app = SousaApp(load_manifest(REPO / "experiments.toml"), home, follower=follower)
        async with app.run_test(size=(150, 45)) as pilot:

            async def shows(state: str, timeout: float) -> None:
                await wait_until(
                    pilot, lambda: app.session.state("smoke") == state, f"state {state}", timeout
                )

            await shows("running", 60)
            assert "following file://" in app.sub_title
            proc.send_signal(signal.SIGTERM)  # the final round sends the stopped state
            assert proc.wait(timeout=300) == 128 + signal.SIGTERM
            await shows("stopped", 60)
        (followed,) = find_runs(home, "smoke")
        assert followed.last_ckpt.is_file(), "the stop's checkpoint was not mirrored"
    finally:
        proc.kill()
        proc.wait()


def test_a_mirror_from_another_machine_is_judged_by_its_heartbeat(tmp_path: Path) -> None:
    run = RunDir(tmp_path / "smoke" / "r1")
    run.root.mkdir(parents=True)
    # pid 1 is alive here, so a pid check would call the run alive whatever its heartbeat.
    write_json_atomic(run.status, {"state": "running", "pid": 1})
    beat = {"host": f"not-{socket.gethostname()}", "pid": 1, "every": 5.0, "final": False}
    (run.root / HEARTBEAT).write_text(json.dumps({**beat, "synced": time.time()}))
    assert read_status(run).state == "running"
    (run.root / HEARTBEAT).write_text(json.dumps({**beat, "synced": time.time() - 600}))
    assert read_status(run).state == "failed"


def test_a_failed_upload_is_logged_once_and_retried_next_round(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from sousa_train.rundir.sync import RunSyncer

    run = RunDir(tmp_path / "runs" / "smoke" / "r1")
    run.checkpoints.mkdir(parents=True)
    run.events.write_text('{"kind": "start"}\n')
    (run.checkpoints / "best.ckpt").write_bytes(b"weights")
    target = tmp_path / "mirror"
    blocker = target / "smoke" / "r1" / "checkpoints"
    blocker.parent.mkdir(parents=True)
    blocker.write_text("a file where the checkpoints folder must go")
    syncer = RunSyncer(run, f"file://{target}", every=3600)
    with caplog.at_level("INFO", logger="sousa_train.rundir.sync"):
        assert syncer.sync_once() == 1  # events go up at once; the checkpoint has not settled
        assert syncer.sync_once() == 0  # settled now, but its folder cannot be made
        assert syncer.sync_once() == 0
        warnings = [
            r for r in caplog.records if "could not upload checkpoints/best.ckpt" in r.message
        ]
        assert len(warnings) == 1, "a failure that persists is logged once, not every round"
        blocker.unlink()
        assert syncer.sync_once() == 1
    assert (target / "smoke" / "r1" / "checkpoints" / "best.ckpt").read_bytes() == b"weights"
    assert any("after earlier failures" in r.message for r in caplog.records)


def test_follow_refuses_a_url_with_nothing_there(tmp_path: Path) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "sousa_tui.app", "--follow", f"file://{tmp_path}/nope"],
        capture_output=True,
        text=True,
        cwd=tmp_path,  # no experiments.toml: following needs none
        timeout=120,
    )
    assert done.returncode == 2 and not done.stdout
    assert done.stderr.startswith("sousa-tui: ") and f"{tmp_path}/nope" in done.stderr
    assert "nothing is there" in done.stderr


def test_a_sigterm_during_the_final_evaluation_is_recorded_and_mirrored(
    tmp_path: Path, env: dict[str, str]
) -> None:
    """Outside fit a SIGTERM still ends the run through our handler: the error is recorded
    and the final state reaches the mirror. Many small windows make the evaluation long."""
    target = tmp_path / "mirror"
    proc = subprocess.Popen(
        [
            *(sys.executable, "-m", "sousa_train.cli", "run", "smoke", "train.max_epochs=1"),
            "loader.eval_hop_seconds=0.05",
            *("--manifest", str(REPO / "experiments.toml"), "--runs-dir", str(tmp_path / "runs")),
            *("--sync-to", f"file://{target}"),
        ],
        env=env,
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        log = tmp_path / "runs" / "smoke"
        wait_for(
            lambda: any("clips evaluated" in p.read_text() for p in log.glob("*/train.log")),
            "the final evaluation to start",
            600,
        )
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=300) == 1
    finally:
        proc.kill()
        proc.wait()
    home = tmp_path / "home"
    pull(f"file://{target}", home)
    (run,) = find_runs(home, "smoke")
    status = read_status(run)
    assert status.state == "failed" and "SIGTERM outside training" in (status.error or "")
    assert [e["reason"] for e in iter_events(run.events) if e["kind"] == "end"] == ["error"]
