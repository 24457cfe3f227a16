#!/usr/bin/env bash
# The GPU check: throughput of AST, HTS-AT, BEATs and EfficientAT (base variants, precision
# auto, the manifest's batch sizes), model FLOP utilisation for AST, and a 2-process DDP
# smoke run when two GPUs are visible. Under 10 minutes on one modern GPU.
#
#   bash bench/gpu_check.sh          # on the GPU machine; fails if no CUDA GPU is usable
#   bash bench/gpu_check.sh --cpu    # the CPU-capable parts, tiny variants, a few minutes
#
# Works without internet: bench/throughput.py trains randomly initialised models (speed
# does not depend on the weights), and the demo data set renders locally on first use
# (into $SOUSA_CACHE_DIR, else ~/.cache/sousaphone).
# Any failing step stops the script with a non-zero exit status.
set -euo pipefail

MODE=gpu
case "${1:-}" in
  "") ;;
  --cpu) MODE=cpu ;;
  *) echo "gpu_check.sh: unknown argument '$1'; usage: bash bench/gpu_check.sh [--cpu]" >&2; exit 2 ;;
esac

cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python}"
export HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

# The experiments whose models train here; bench/throughput.py applies each one's strategy.
EXPERIMENTS=(ast-lora htsat-ia3 beats-adalora efficientat-finetune)
if [[ $MODE == gpu ]]; then
  GPUS="$("$PYTHON" -c 'import torch; print(torch.cuda.device_count() if torch.cuda.is_available() else 0)')"
  if [[ $GPUS -lt 1 ]]; then
    echo "gpu_check.sh: torch sees no CUDA GPU; check nvidia-smi and the torch build, or pass --cpu" >&2
    exit 1
  fi
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv,noheader
  BATCHES=30
  OVERRIDES=(train.accelerator=cuda train.precision=auto)
  ACCELERATOR=cuda
else
  GPUS=0
  BATCHES=3
  OVERRIDES=(train.accelerator=cpu variant=tiny data=demo-tiny loader.batch_size=8 loader.num_workers=0)
  ACCELERATOR=cpu
fi
"$PYTHON" -c 'import torch, lightning; print(f"torch {torch.__version__}, lightning {lightning.__version__}")'

for experiment in "${EXPERIMENTS[@]}"; do
  echo
  flops=()
  [[ $experiment == ast-* ]] && flops=(--flops)
  "$PYTHON" bench/throughput.py "$experiment" "${OVERRIDES[@]}" --batches "$BATCHES" "${flops[@]}"
done

# DDP: two GPUs when there are, two gloo processes on the CPU with --cpu.
if [[ $MODE == cpu || $GPUS -ge 2 ]]; then
  echo
  echo "2-process DDP smoke run ($ACCELERATOR)"
  "$PYTHON" -m sousa_train.cli run smoke --runs-dir "$WORK/runs" --fresh --devices 2 \
    --strategy ddp --accelerator "$ACCELERATOR" train.max_epochs=1 >"$WORK/ddp.log" 2>&1 \
    || { tail -n 40 "$WORK/ddp.log" >&2; echo "gpu_check.sh: the DDP smoke run failed" >&2; exit 1; }
  "$PYTHON" - "$WORK/runs" <<'PY'
import sys
from pathlib import Path

from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import effective_state

(run,) = find_runs(Path(sys.argv[1]), "smoke")
state = effective_state(run)
print(f"DDP smoke run: {state} ({run.root.name})")
sys.exit(0 if state == "finished" else 1)
PY
else
  echo
  echo "one GPU visible: no DDP smoke run"
fi
echo
echo "gpu_check.sh: all checks passed ($MODE)"
