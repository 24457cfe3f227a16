"""Where training time goes: data loading, Lightning, the model itself.

    python bench/throughput.py [EXPERIMENT] [--batches N] [--flops] [key.sub=value ...]

Prints samples/s for
  (a) the data loader alone (warm waveform cache),
  (b) Lightning training steps on ready in-memory batches,
  (c) Lightning training with the real data loader,
  (d) a plain PyTorch loop on the same ready batches,
so Lightning's overhead is (d) vs (b) and data starvation is (b) vs (c); then the fraction
of the step rate the loader sustains, (a)/(b), and the peak memory of the runs. The model
is built as the experiment trains it (strategy applied) but with random weights: speed
does not depend on their values, and a GPU box without internet cannot download them.
With --flops it counts the FLOPs of one training step (torch.utils.flop_counter) and
estimates model FLOP utilisation: FLOPs per sample x rate (b) / the GPU's peak dense
bf16 FLOP/s. Not a test: run it by hand, or through bench/gpu_check.sh.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import resource
import time
from pathlib import Path

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader
from torch.utils.flop_counter import FlopCounterMode

from sousa_train.config.manifest import load_manifest
from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.sources import open_experiment_data
from sousa_train.finetune.strategies import apply_strategy
from sousa_train.models.registry import build_model
from sousa_train.rudiments import NUM_CLASSES
from sousa_train.training.module import RudimentClassifier
from sousa_train.training.run import resolve_accelerator, resolve_precision

# Peak dense (no sparsity) bf16 tensor-core FLOP/s from the vendors' data sheets, matched
# against torch.cuda.get_device_name() in this order (so "H100 PCIe" before "H100").
PEAK_BF16_FLOPS: tuple[tuple[str, float], ...] = (
    ("H200", 989e12),
    ("H100 PCIe", 756e12),
    ("H100", 989e12),
    ("GH200", 989e12),
    ("A100", 312e12),
    ("A10G", 70e12),
    ("A10", 125e12),
    ("L40S", 362e12),
    ("L4", 121e12),
    ("RTX 4090", 165e12),
    ("A6000", 155e12),
)


class _Ready(L.LightningDataModule):
    def __init__(self, batches: list[dict]) -> None:
        super().__init__()
        self.batches = batches

    def train_dataloader(self) -> DataLoader:
        return DataLoader(self.batches, batch_size=None, shuffle=False)


def _fit(module: RudimentClassifier, data: L.LightningDataModule, n: int, cfg, accel: str) -> float:
    trainer = L.Trainer(
        accelerator=accel,
        devices=1,
        precision=resolve_precision(cfg.train.precision, accel),
        max_epochs=1,
        limit_train_batches=n,
        limit_val_batches=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
    )
    start = time.perf_counter()
    trainer.fit(module, datamodule=data)
    if accel == "cuda":
        torch.cuda.synchronize()
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("experiment", nargs="?", default="demo-quick")
    parser.add_argument("overrides", nargs="*")
    parser.add_argument("--manifest", default="experiments.toml")
    parser.add_argument("--batches", type=int, default=30)
    parser.add_argument("--flops", action="store_true", help="count FLOPs, estimate MFU")
    args = parser.parse_args()
    for name in ("lightning", "lightning.pytorch", "lightning.fabric"):
        logging.getLogger(name).setLevel(logging.WARNING)
    cfg = load_manifest(Path(args.manifest)).get(args.experiment, args.overrides)
    accel = resolve_accelerator(cfg.train.accelerator, torch)
    device = torch.device("cuda" if accel == "cuda" else accel)
    dataset = open_experiment_data(cfg)
    n, bs = args.batches, cfg.loader.batch_size

    def model() -> RudimentClassifier:
        net = build_model(
            cfg.model,
            variant=cfg.variant or "",
            num_classes=NUM_CLASSES,
            sample_rate=cfg.sample_rate,
        )
        apply_strategy(net, cfg.strategy)
        return RudimentClassifier(net, cfg.optim, cfg.augment)

    data = ClipDataModule(dataset, cfg.loader, model().model.sample_rate)
    print(
        f"{cfg.name}: {cfg.model}/{cfg.variant} at {data.sample_rate} Hz, batch {bs}, "
        f"{cfg.loader.num_workers} workers, {accel}, {torch.get_num_threads()} threads"
    )

    loader = data.train_dataloader()
    for _ in loader:  # one pass fills the waveform cache
        pass
    start = time.perf_counter()
    ready = [b for b in itertools.islice(itertools.cycle(loader), n)]
    loader_s = time.perf_counter() - start
    loader_rate = n * bs / loader_s
    print(f"(a) data loader alone        {loader_rate:8.1f} samples/s")

    warm = max(2, n // 10)
    _fit(model(), _Ready(ready[:warm]), warm, cfg, accel)
    if accel == "cuda":
        torch.cuda.reset_peak_memory_stats()
    step_rate = n * bs / _fit(model(), _Ready(ready), n, cfg, accel)
    print(f"(b) Lightning, ready batches {step_rate:8.1f} samples/s")

    t = _fit(model(), data, n, cfg, accel)
    print(f"(c) Lightning + data loader  {n * bs / t:8.1f} samples/s")
    print(f"    the loader sustains {loader_rate / step_rate:.0%} of the step rate (a)/(b)")
    print(f"    peak memory: {_peak_memory(accel)}")
    if args.flops:
        _report_flops(model().to(device).train(), ready[0], device, step_rate / bs)

    module = model().to(device).train()
    opt = torch.optim.AdamW(module.parameters(), lr=cfg.optim.lr)
    on_device = [
        {k: v.to(device) if torch.is_tensor(v) else v for k, v in b.items()} for b in ready
    ]
    for batch in on_device[:warm]:
        F.cross_entropy(module.model(batch["wave"]), batch["label"]).backward()
    start = time.perf_counter()
    for batch in on_device:
        opt.zero_grad(set_to_none=True)
        logits = module.model.classify(module.spec_augment(module.model.features(batch["wave"])))
        F.cross_entropy(
            logits, batch["label"], label_smoothing=cfg.optim.label_smoothing
        ).backward()
        torch.nn.utils.clip_grad_norm_(module.parameters(), cfg.optim.grad_clip)
        opt.step()
    if accel == "cuda":
        torch.cuda.synchronize()
    t = time.perf_counter() - start
    print(f"(d) plain PyTorch loop       {n * bs / t:8.1f} samples/s")


def _peak_memory(accel: str) -> str:
    if accel == "cuda":
        return f"{torch.cuda.max_memory_allocated() / 2**30:.2f} GiB allocated on the GPU"
    # ru_maxrss is in KiB on Linux: the whole process, data cache included.
    return f"{resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB resident"


def _report_flops(
    module: RudimentClassifier, batch: dict, device: torch.device, steps_per_s: float
) -> None:
    """FLOPs of one forward and backward pass on ``batch``, and the utilisation they imply."""
    wave, label = batch["wave"].to(device), batch["label"].to(device)
    with FlopCounterMode(display=False) as counter:
        F.cross_entropy(module.model(wave), label).backward()
    step_flops = counter.get_total_flops()
    achieved = step_flops * steps_per_s
    print(
        f"    {step_flops / 1e9:.1f} GFLOP per step of {len(wave)} samples; at rate (b) "
        f"{achieved / 1e9:.1f} GFLOP/s"
    )
    if device.type != "cuda":
        print("    model FLOP utilisation: n/a (no peak figure for this device)")
        return
    name = torch.cuda.get_device_name(device)
    peak = next((flops for key, flops in PEAK_BF16_FLOPS if key in name), None)
    if peak is None:
        print(f"    model FLOP utilisation: n/a ({name!r} is not in PEAK_BF16_FLOPS)")
        return
    print(
        f"    model FLOP utilisation ~{achieved / peak:.1%} of {name}'s {peak / 1e12:.0f} TFLOP/s"
    )


if __name__ == "__main__":
    main()
