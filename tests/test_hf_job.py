"""`hf-job --dry-run` prints the job as submitted, and its command trains here for real.

Nothing reaches the Hub: the dry run submits nothing, and the printed command runs on this
machine with a file:// sync target and a stand-in `pip` (the environment already holds
the project's dependencies; installing into it would change it for every other test).
"""

from __future__ import annotations

import os
import shlex
import subprocess
import sys
from pathlib import Path

import pytest

from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs

REPO = Path(__file__).resolve().parents[1]
SECRET = "hf_not_a_real_token_but_it_must_stay_hidden"
# Records how it was called, installs nothing.
FAKE_PIP = """#!/bin/bash
echo "$@" >> "$PIP_CALLS"
"""


def hf_job(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sousa_train.cli", "hf-job", *args, "--dry-run"],
        capture_output=True,
        text=True,
        cwd=REPO,
        env=env,
        timeout=120,
    )


def head() -> str:
    done = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True)
    return done.stdout.strip()


def field(text: str, name: str) -> str:
    (line,) = [ln for ln in text.splitlines() if ln.startswith(f"{name}:")]
    return line.split(":", 1)[1].strip()


@pytest.fixture
def env() -> dict[str, str]:
    return {**os.environ, "HF_TOKEN": SECRET, "HF_HUB_OFFLINE": "1"}


def test_dry_run_prints_image_flavor_timeout_secret_names_and_the_command(
    env: dict[str, str], tmp_path: Path
) -> None:
    done = hf_job(
        "smoke", "train.max_epochs=1", "--flavor", "l4x1", "--timeout", "30m",
        "--sync-to", f"file://{tmp_path}/mirror", "--repo", str(REPO), env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert SECRET not in done.stdout + done.stderr
    assert field(done.stdout, "image").startswith("pytorch/pytorch:")
    assert (field(done.stdout, "flavor"), field(done.stdout, "timeout")) == ("l4x1", "30m")
    assert field(done.stdout, "secrets").split()[0] == "HF_TOKEN"
    assert "commit=" + head()[:12] in field(done.stdout, "labels")
    command = shlex.split(field(done.stdout, "command"))
    assert command[:2] == ["bash", "-c"]
    script = command[2]
    assert f"git checkout --quiet {head()}" in script and "pip install --quiet ." in script
    assert "train.max_epochs=1" in script and f"--sync-to file://{tmp_path}/mirror" in script


def test_dry_run_of_a_matrix_prints_one_job_per_experiment(env: dict[str, str]) -> None:
    done = hf_job("--matrix", "sizes", "--sync-to", "file:///tmp/x", "--repo", str(REPO), env=env)
    assert done.returncode == 0, done.stderr
    names = [field(block, "experiment") for block in done.stdout.strip().split("\n\n")]
    assert names == ["sizes-efficientat-demo-small", "sizes-efficientat-demo"]
    missing = hf_job("--matrix", "nope", "--sync-to", "file:///tmp/x", env=env)
    assert missing.returncode == 2 and "no matrix named 'nope'" in missing.stderr


def test_the_printed_command_trains_the_smoke_experiment_here(
    env: dict[str, str], tmp_path: Path
) -> None:
    mirror = tmp_path / "mirror"
    done = hf_job(
        "smoke", "train.max_epochs=1", "--sync-to", f"file://{mirror}", "--repo", str(REPO),
        env=env,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    command = shlex.split(field(done.stdout, "command"))
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "pip").write_text(FAKE_PIP)
    (bin_dir / "pip").chmod(0o755)
    job_dir = tmp_path / "job"
    job_dir.mkdir()
    job_env = {
        **env,
        "PATH": f"{bin_dir}:{Path(sys.executable).parent}:{os.environ['PATH']}",
        "PIP_CALLS": str(tmp_path / "pip-calls"),
        # What `pip install .` would make importable: the cloned project itself.
        "PYTHONPATH": str(job_dir / "sousaphone"),
        "SOUSA_CACHE_DIR": str(tmp_path / "cache"),
    }
    ran = subprocess.run(
        command, cwd=job_dir, env=job_env, capture_output=True, text=True, timeout=600
    )
    assert ran.returncode == 0, ran.stdout[-2000:] + ran.stderr[-3000:]
    assert (tmp_path / "pip-calls").read_text().split() == ["install", "--quiet", "."]
    (run,) = find_runs(job_dir / "sousaphone" / "runs", "smoke")
    assert read_json(run.config)["git_commit"] == head()
    (mirrored,) = find_runs(mirror, "smoke")
    assert read_json(mirrored.status)["state"] == "finished"
    for path in [*run.root.rglob("*"), *mirrored.root.rglob("*")]:
        if path.is_file():
            assert SECRET.encode() not in path.read_bytes(), f"the token is in {path}"
