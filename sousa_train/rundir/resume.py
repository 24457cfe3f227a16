"""Which checkpoint an unfinished run continues from."""

from __future__ import annotations

import re
from pathlib import Path

from sousa_train.rundir.layout import RunDir

# Lightning's SLURM pre-emption checkpoints, saved in the run directory on the requeue signal.
HPC_CHECKPOINT = re.compile(r"hpc_ckpt_(\d+)\.ckpt")


def resume_checkpoint(run: RunDir) -> Path | None:
    """The newest of last.ckpt and Lightning's SLURM pre-emption checkpoints, if any."""
    found = [p for p in run.root.glob("hpc_ckpt_*.ckpt") if HPC_CHECKPOINT.fullmatch(p.name)]
    if run.last_ckpt.is_file():
        found.append(run.last_ckpt)
    return max(found, key=lambda p: p.stat().st_mtime_ns, default=None)
