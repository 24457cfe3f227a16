"""Where training time goes: data loading, Lightning, the model itself.

    python bench/throughput.py [EXPERIMENT] [--batches N] [key.sub=value ...]

Prints samples/s for
  (a) the data loader alone (warm waveform cache),
  (b) Lightning training steps on ready in-memory batches,
  (c) Lightning training with the real data loader,
  (d) a plain PyTorch loop on the same ready batches,
so Lightning's overhead is (d) vs (b) and data starvation is (b) vs (c).
Not a test: run it by hand or on the GPU machine.
"""

from __future__ import annotations

import argparse
import itertools
import logging
import time
from pathlib import Path

import lightning as L
import torch
from torch.nn import functional as F
from torch.utils.data import DataLoader

from sousa_train.config.manifest import load_manifest
from sousa_train.data.datamodule import ClipDataModule
from sousa_train.data.sources import open_experiment_data
from sousa_train.models.registry import build_model
from sousa_train.rudiments import NUM_CLASSES
from sousa_train.training.module import RudimentClassifier
from sousa_train.training.run import resolve_accelerator, resolve_precision


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
    print(f"(a) data loader alone        {n * bs / loader_s:8.1f} samples/s")

    warm = max(2, n // 10)
    _fit(model(), _Ready(ready[:warm]), warm, cfg, accel)
    t = _fit(model(), _Ready(ready), n, cfg, accel)
    print(f"(b) Lightning, ready batches {n * bs / t:8.1f} samples/s")

    t = _fit(model(), data, n, cfg, accel)
    print(f"(c) Lightning + data loader  {n * bs / t:8.1f} samples/s")

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


if __name__ == "__main__":
    main()
