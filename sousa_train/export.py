"""A run's best checkpoint as one ONNX file: waveform in, class scores out.

The frontend (STFT and mel filterbank) is part of the graph, so a deployment needs
nothing but onnxruntime and 16/32 kHz mono audio. torch's dynamo exporter is used because
the TorchScript exporter cannot export a complex STFT. Every export is checked against
PyTorch on the run's own test clips, so a file that disagrees is never silent.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sousa_train.evaluate import checkpoint_path, load_classifier, load_run_config
from sousa_train.rudiments import SLUGS
from sousa_train.rundir.layout import RunDir

log = logging.getLogger(__name__)

INPUT = "wave"
OUTPUT = "scores"


class ExportError(RuntimeError):
    pass


@dataclass(frozen=True)
class ExportReport:
    """What was written and how closely onnxruntime reproduces PyTorch on real clips."""

    path: Path
    max_abs_diff: float
    windows: int
    clips: int
    merged_layers: int
    dynamic_batch: bool


def merge_adapters(model: nn.Module) -> tuple[nn.Module, int]:
    """Fold LoRA (or any peft tuner) weights into their base layers with peft's own
    ``merge_and_unload``, wherever in the model the peft wrapper sits; also handles
    adapters injected in place (no wrapper). Returns the model and the merged layer count.
    """
    from peft.tuners.tuners_utils import BaseTunerLayer

    count = sum(isinstance(m, BaseTunerLayer) for m in model.modules())
    if hasattr(model, "merge_and_unload"):
        return model.merge_and_unload(), count
    for name, child in list(model.named_children()):
        if hasattr(child, "merge_and_unload"):
            setattr(model, name, child.merge_and_unload())
        elif isinstance(child, BaseTunerLayer):
            child.merge()
            setattr(model, name, child.get_base_layer())
        else:
            merge_adapters(child)
    return model, count


def export_onnx(
    run: RunDir, out: Path, *, merge: bool = False, checkpoint: str = "best"
) -> ExportReport:
    """Write ``out`` and compare it with PyTorch on every window of the test split."""
    cfg = load_run_config(run)
    ckpt = checkpoint_path(run, checkpoint)
    # The check compares against the model as trained (adapters unmerged), so a merge that
    # changed the outputs would show in the reported difference.
    reference = load_classifier(cfg, ckpt).eval()
    model = load_classifier(cfg, ckpt).eval()
    merged = 0
    if merge:
        model, merged = merge_adapters(model)
        if merged == 0:
            raise ExportError(
                f"{run.root}: --merge-adapters was given but the {cfg.strategy!r} model of this "
                "run has no adapter layers to merge; export without it."
            )
    clip_samples = round(cfg.loader.clip_seconds * model.sample_rate)
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    # The exporter warns about every torchvision op it cannot register; none are ours.
    logging.getLogger("torch.onnx").setLevel(logging.ERROR)
    program = _export(model, batch=2, clip_samples=clip_samples)
    batch = program.model.graph.inputs[0].shape[0]
    fixed = isinstance(batch, int)
    if fixed:
        # Some model code fixes the batch size while it is traced; one window per call is
        # then the form that serves every batch.
        log.warning("the model's batch size cannot stay dynamic; exporting with batch size 1")
        program = _export(model, batch=1, clip_samples=clip_samples)
    program.save(str(out))
    _describe(out, cfg.name, model.sample_rate, clip_samples)
    diff, windows, clips = _compare(run, reference, out, one_at_a_time=fixed)
    return ExportReport(out, diff, windows, clips, merged, dynamic_batch=not fixed)


def _export(model: nn.Module, *, batch: int, clip_samples: int) -> Any:
    with torch.no_grad():
        return torch.onnx.export(
            model,
            (torch.zeros(batch, clip_samples),),
            input_names=[INPUT],
            output_names=[OUTPUT],
            dynamic_shapes={INPUT: {0: torch.export.Dim("batch")}} if batch > 1 else None,
            dynamo=True,
            verbose=False,
        )


def _describe(path: Path, experiment: str, sample_rate: int, clip_samples: int) -> None:
    """Metadata a user of the file needs: the input rate and length, the class order."""
    import onnx

    proto = onnx.load(str(path))
    for key, value in {
        "experiment": experiment,
        "sample_rate": str(sample_rate),
        "clip_samples": str(clip_samples),
        "input": f"{INPUT}: float32 [batch, {clip_samples}] mono at {sample_rate} Hz",
        "output": f"{OUTPUT}: float32 [batch, {len(SLUGS)}] logits in PAS order",
        "classes": json.dumps(list(SLUGS)),
    }.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value
    onnx.save(proto, str(path))


@torch.inference_mode()
def _compare(
    run: RunDir, model: nn.Module, path: Path, *, one_at_a_time: bool
) -> tuple[float, int, int]:
    import onnxruntime as ort

    from sousa_train.data.datamodule import ClipDataModule
    from sousa_train.data.sources import open_experiment_data

    cfg = load_run_config(run)
    data = ClipDataModule(open_experiment_data(cfg), cfg.loader, model.sample_rate)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    worst, windows, clips = 0.0, 0, 0
    for batch in data.loader_for("test", train=False):
        wave = batch["wave"]
        if wave.shape[0] == 0:
            continue
        expected = model(wave).numpy()
        chunks = wave.split(1) if one_at_a_time else (wave,)
        got = np.concatenate([session.run([OUTPUT], {INPUT: c.numpy()})[0] for c in chunks])
        worst = max(worst, float(np.abs(got - expected).max()))
        windows += wave.shape[0]
        clips += batch["label"].numel()
    if windows == 0:
        raise ExportError(
            f"{run.root}: the test split has no readable clips to check the export against; "
            "check the run's data set with `sousa-train data check`."
        )
    return worst, windows, clips
