"""`sousa-train` commands for tests: in this process, or as the real process a user starts.

Starting a process costs seconds of imports (torch, Lightning), many times that on a loaded
2-core machine, so commands whose process boundary is not what a test checks (listing,
refusals, evaluation, prediction) run in this process through the same ``main`` the
``sousa-train`` script calls. Tests of signals, exit codes at the process level, pipes and
the terminal start the real process (``sousa_train_process``).
"""

from __future__ import annotations

import io
import logging
import os
import subprocess
import sys
from contextlib import redirect_stderr, redirect_stdout
from dataclasses import dataclass
from pathlib import Path

import pytest

from sousa_train.cli.main import main

CLI = [sys.executable, "-m", "sousa_train.cli"]


@dataclass
class Result:
    """What a command left: its exit code and what it printed, as ``subprocess.run`` has it."""

    returncode: int
    stdout: str
    stderr: str


def sousa_train(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Result:
    """``sousa-train ARGS`` run by ``main`` in this process, with the variables ``env`` and the
    folder ``cwd`` in force, stdout/stderr captured, and logging set up by the command (as
    ``logging.basicConfig`` does in a fresh process) reaching the captured stderr.

    Afterwards the environment (a run exports its directory for DDP ranks), the folder and
    the root logger are as they were. Only for code that reads its environment when called:
    huggingface_hub reads its variables at import, so commands that depend on them are run
    with ``sousa_train_process``.
    """
    out, err = io.StringIO(), io.StringIO()
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    environ = dict(os.environ)
    with pytest.MonkeyPatch.context() as mp:
        os.environ.update(env or {})
        if cwd is not None:
            mp.chdir(cwd)
        root.handlers = []  # pytest's own handlers would turn basicConfig into a no-op
        try:
            with redirect_stdout(out), redirect_stderr(err):
                try:
                    code = main(list(args))
                except SystemExit as exc:  # argparse errors and --help
                    code = exc.code if isinstance(exc.code, int) else int(exc.code is not None)
        finally:
            root.handlers, root.level = handlers, level
            os.environ.clear()
            os.environ.update(environ)
    return Result(code, out.getvalue(), err.getvalue())


def sousa_train_process(
    *args: str, env: dict[str, str] | None = None, cwd: Path | None = None, timeout: float = 900
) -> subprocess.CompletedProcess[str]:
    """``sousa-train ARGS`` as its own process, with exactly the environment ``env``."""
    return subprocess.run(
        [*CLI, *args], env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout
    )
