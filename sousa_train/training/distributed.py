"""Which process owns the run directory when a run spans several processes.

Every rank of a DDP run executes ``sousa-train run``, but only global rank 0 may pick
(or resume) the run directory and write to it. The other ranks must agree on the same
directory and resume checkpoint before Lightning starts, because all ranks load the
checkpoint. Three launchers are covered:

- Lightning's own launcher (``--devices 2`` on one machine): rank 0 decides, then its
  child processes inherit the decision through the environment.
- ``torchrun`` and SLURM (``srun``): every rank starts on its own, so the process group is
  opened early (Lightning reuses it) and rank 0 broadcasts its decision.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sousa_train.rundir.layout import RunDir
from sousa_train.rundir.writer import RunLog

log = logging.getLogger(__name__)

RUN_DIR_ENV = "SOUSA_RUN_DIR"
RESUME_ENV = "SOUSA_RESUME_FROM"


@dataclass(frozen=True)
class RunPlacement:
    """The run directory all ranks share, the checkpoint they resume from, and whether this
    process is global rank 0 (the only writer)."""

    run: RunDir
    resume_from: Path | None
    is_zero: bool


class SilentRunLog(RunLog):
    """What ranks other than 0 write to the run directory: nothing."""

    def __init__(self, run_dir: RunDir) -> None:
        self.dir = run_dir

    def event(self, kind: str, **fields: Any) -> None:
        pass

    def status(self, state: str, **fields: Any) -> None:
        pass

    def close(self) -> None:
        pass


def external_environment() -> Any | None:
    """The cluster environment of a launcher that starts every rank itself, if any.

    torchrun and SLURM (with more than one task) start all ranks at once; Lightning's own
    launcher starts ranks > 0 later, from rank 0, so it is not external.
    """
    from lightning.fabric.plugins.environments import SLURMEnvironment, TorchElasticEnvironment

    if TorchElasticEnvironment.detect():
        env = TorchElasticEnvironment()
    elif SLURMEnvironment.detect():
        env = SLURMEnvironment()
    else:
        return None
    return env if env.world_size() > 1 else None


def place_run(decide: Callable[[], tuple[RunDir, Path | None]], accelerator: str) -> RunPlacement:
    """Run ``decide`` on global rank 0 only and give every rank its answer.

    ``decide`` may raise (a busy run, changed settings); the other ranks then raise the
    same message instead of waiting forever for a directory that will not come.
    """
    inherited = os.environ.get(RUN_DIR_ENV)
    if inherited and os.environ.get("LOCAL_RANK", "0") != "0":
        resume = os.environ.get(RESUME_ENV)
        return RunPlacement(RunDir(Path(inherited)), Path(resume) if resume else None, False)
    env = external_environment()
    if env is None:
        if os.environ.get("NODE_RANK", "0") != "0":
            raise RuntimeError(
                "NODE_RANK is set but no torchrun or SLURM launcher was found; start "
                "multi-node runs with torchrun or srun (see docs/cloud.md)."
            )
        run, resume_from = decide()
        # Lightning's launcher starts ranks > 0 from this process: they inherit these.
        os.environ[RUN_DIR_ENV] = str(run.root)
        os.environ[RESUME_ENV] = str(resume_from or "")
        return RunPlacement(run, resume_from, True)
    return _broadcast_placement(env, decide, accelerator)


def _broadcast_placement(
    env: Any, decide: Callable[[], tuple[RunDir, Path | None]], accelerator: str
) -> RunPlacement:
    import torch
    import torch.distributed as dist

    rank, world = env.global_rank(), env.world_size()
    if not dist.is_initialized():
        os.environ["MASTER_ADDR"] = env.main_address
        os.environ["MASTER_PORT"] = str(env.main_port)
        backend = "gloo"
        if accelerator == "cuda":
            torch.cuda.set_device(env.local_rank())
            backend = "cpu:gloo,cuda:nccl"  # objects travel over gloo, gradients over NCCL
        dist.init_process_group(backend, rank=rank, world_size=world)
    answer: list[Any] = [None]
    if rank == 0:
        try:
            run, resume_from = decide()
            answer = [(str(run.root), str(resume_from) if resume_from else None, None)]
        except Exception as exc:
            answer = [(None, None, exc)]
    dist.broadcast_object_list(answer, src=0, device=torch.device("cpu"))
    root, resume, error = answer[0]
    if error is not None:
        raise error
    log.debug("rank %d of %d uses %s", rank, world, root)
    return RunPlacement(RunDir(Path(root)), Path(resume) if resume else None, rank == 0)
