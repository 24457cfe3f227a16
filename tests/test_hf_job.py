"""`hf-job --dry-run` prints the job as submitted, and its command trains here for real.

Nothing reaches the Hub: the dry run submits nothing; submitting and listing go through
huggingface_hub's real client to a stand-in Jobs API on 127.0.0.1 (HF_ENDPOINT); and the
printed command runs on this machine with a file:// sync target and a stand-in `pip` (the
environment already holds the project's dependencies; installing into it would change it
for every other test).
"""

from __future__ import annotations

import json
import os
import shlex
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import ClassVar
from urllib.parse import parse_qs, urlparse

import pytest

from sousa_train.rundir.layout import read_json
from sousa_train.rundir.scan import find_runs
from tests.cli import sousa_train_process

REPO = Path(__file__).resolve().parents[1]
SECRET = "hf_not_a_real_token_but_it_must_stay_hidden"
# Records how it was called, installs nothing.
FAKE_PIP = """#!/bin/bash
echo "$@" >> "$PIP_CALLS"
"""


def hf_job(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return sousa_train_process("hf-job", *args, "--dry-run", env=env, cwd=REPO)


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
    assert script.index("install -y -qq --no-install-recommends libfluidsynth3") < script.index(
        "sousa-train run"
    )
    assert "train.max_epochs=1" in script and f"--sync-to file://{tmp_path}/mirror" in script


def test_dry_run_of_a_matrix_prints_one_job_per_experiment(env: dict[str, str]) -> None:
    done = hf_job("--matrix", "sizes", "--sync-to", "file:///tmp/x", "--repo", str(REPO), env=env)
    assert done.returncode == 0, done.stderr
    names = [field(block, "experiment") for block in done.stdout.strip().split("\n\n")]
    assert names == ["sizes-efficientat-demo-small", "sizes-efficientat-demo"]
    missing = hf_job("--matrix", "nope", "--sync-to", "file:///tmp/x", env=env)
    assert missing.returncode == 2 and "no matrix named 'nope'" in missing.stderr


def test_a_job_fetches_the_release_weights_its_experiment_starts_from(
    env: dict[str, str],
) -> None:
    """Release files are fetched before the run; hub ids and from-scratch runs need no step."""
    scripts = {}
    for name in ("efficientat-finetune", "ast-lora", "smoke"):
        done = hf_job(name, "--sync-to", "file:///tmp/x", "--repo", str(REPO), env=env)
        assert done.returncode == 0, done.stderr
        scripts[name] = shlex.split(field(done.stdout, "command"))[2]
    fetch, run = "sousa-train weights fetch efficientat/mn04", "sousa-train run"
    assert scripts["efficientat-finetune"].index(fetch) < scripts["efficientat-finetune"].index(run)
    assert "weights fetch" not in scripts["ast-lora"] + scripts["smoke"]


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


class JobsApi(BaseHTTPRequestHandler):
    """POST /api/jobs/NS stores a job spec and answers as the Hub does; GET lists them."""

    jobs: ClassVar[list[dict]] = []
    queries: ClassVar[list[dict]] = []

    def do_POST(self) -> None:
        spec = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        job = {
            **spec,
            "id": f"job{len(self.jobs)}",
            "createdAt": "2026-12-01T12:00:00.000Z",
            "owner": {"id": "u1", "name": "tester", "type": "user"},
            "status": {"stage": "RUNNING"},
        }
        self.jobs.append(job)
        self._reply(job)

    def do_GET(self) -> None:
        url = urlparse(self.path)
        if not url.path.startswith("/api/jobs/"):  # the client's other calls: not served
            self._reply({"error": "not found"}, 404)
            return
        self.queries.append(parse_qs(url.query))
        self._reply(self.jobs)

    def _reply(self, body: object, code: int = 200) -> None:
        data = json.dumps(body).encode()
        self.send_response(code)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def hub() -> Iterator[str]:
    JobsApi.jobs, JobsApi.queries = [], []
    server = ThreadingHTTPServer(("127.0.0.1", 0), JobsApi)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_a_matrix_is_submitted_as_one_job_each_and_listed_with_state(
    hub: str, tmp_path: Path
) -> None:
    # HF_HOME here: the client caches what it fetches, and must not cache our stand-in's.
    env = {**os.environ, "HF_TOKEN": SECRET, "HF_ENDPOINT": hub, "HF_HOME": str(tmp_path)}
    env.pop("HF_HUB_OFFLINE", None)
    common = ["--namespace", "tester"]
    target = ["--sync-to", "hf://datasets/tester/sousa-runs", "--repo", str(REPO)]
    # Real processes: huggingface_hub reads HF_ENDPOINT and HF_HOME at import.
    submit = sousa_train_process("hf-job", "--matrix", "sizes", *common, *target, env=env, cwd=REPO)
    assert submit.returncode == 0, submit.stderr
    assert SECRET not in submit.stdout + submit.stderr
    assert [line.split()[:2] for line in submit.stdout.splitlines()] == [
        ["sizes-efficientat-demo-small", "job0"],
        ["sizes-efficientat-demo", "job1"],
    ]
    for job in JobsApi.jobs:  # the token travels as a secret, the rest as the dry run says
        assert job["secrets"] == {"HF_TOKEN": SECRET}
        assert SECRET not in json.dumps({k: v for k, v in job.items() if k != "secrets"})
        assert job["flavor"] == "a10g-small" and job["dockerImage"].startswith("pytorch/")
        assert job["labels"]["sousaphone"] == "1" and job["command"][:2] == ["bash", "-c"]
    listed = sousa_train_process("hf-jobs", *common, env=env, cwd=REPO)
    assert listed.returncode == 0, listed.stderr
    rows = [line.split() for line in listed.stdout.splitlines()[1:]]
    assert [row[:4] for row in rows] == [
        ["sizes-efficientat-demo-small", "job0", "RUNNING", "a10g-small"],
        ["sizes-efficientat-demo", "job1", "RUNNING", "a10g-small"],
    ]
    assert JobsApi.queries[-1]["label"] == ["sousaphone=1"], "hf-jobs must list ours alone"
