"""Where an experiment's initial weights come from, and transfer from our own runs.

``pretrained`` is an official file name (looked up in the weights folder), a path, a hub id,
or one of our runs: ``run:NAME`` (the experiment NAME's latest finished run under the runs
folder) or a run directory. A run's best checkpoint holds the whole classifier, so it
initialises the same model (same variant, sample rate and mel bins) for any strategy, for
every model including those without published weights. A source run that trained adapters
is merged first, so the new run starts from the weights its source predicted with.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

from sousa_train.config.settings import ExperimentConfig, experiment_from_dict
from sousa_train.models.download import recorded, resolve_file
from sousa_train.models.pretrained import RUN_PREFIX, names_run
from sousa_train.rundir.layout import RunDir, read_json
from sousa_train.rundir.scan import find_runs
from sousa_train.rundir.status import read_status

if TYPE_CHECKING:
    from torch import Tensor

    from sousa_train.models.base import AudioClassifier


class TransferError(ValueError):
    """A ``pretrained`` run that does not exist, has not finished, or is another model."""


def source_run(pretrained: str, runs_dir: Path) -> RunDir:
    """The run ``pretrained`` names, with its best checkpoint."""
    if pretrained.startswith(RUN_PREFIX):
        name = pretrained.removeprefix(RUN_PREFIX)
        runs = find_runs(runs_dir, name)
        finished = [r for r in runs if read_status(r).state == "finished"]
        if not finished:
            raise TransferError(
                f"pretrained = {pretrained!r}: experiment {name!r} has no finished run under "
                f"{Path(runs_dir).absolute()} ({len(runs)} run(s), none finished). Train it "
                f"first (`sousa-train run {name}` with the same --runs-dir), or set "
                "`pretrained` to a run directory."
            )
        run = finished[-1]
    else:
        run = RunDir(Path(pretrained))
    if not run.best_ckpt.is_file():
        raise TransferError(
            f"pretrained = {pretrained!r}: {run.best_ckpt} does not exist, so {run.root} has "
            "no weights to start from; name a run that finished at least one validation."
        )
    return run


def resolve_pretrained(cfg: ExperimentConfig, runs_dir: Path) -> tuple[str | None, dict | None]:
    """What the model is built from (a file, hub id or folder, or a run's best checkpoint)
    and its provenance for the run's config.json (None for random initialisation)."""
    if not cfg.pretrained:
        return None, None
    if names_run(cfg.pretrained):
        run = source_run(cfg.pretrained, runs_dir)
        return str(run.best_ckpt), {
            "pretrained": cfg.pretrained,
            "run_dir": str(run.root),
            "run_id": run.run_id,
            "experiment": run.root.parent.name,
            "checkpoint": str(run.best_ckpt),
        }
    value = resolve_file(cfg.pretrained)
    path = Path(value)
    if path.is_file():
        entry = recorded(path)
        return value, {
            "pretrained": cfg.pretrained,
            "file": str(path.absolute()),
            "sha256": entry["sha256"] if entry else None,
        }
    where = "folder" if path.is_dir() else "hub_id"
    return value, {"pretrained": cfg.pretrained, where: value}


def initial_model(cfg: ExperimentConfig, runs_dir: Path) -> tuple[AudioClassifier, dict | None]:
    """The experiment's model with its initial weights, and where they came from."""
    from sousa_train.models.registry import experiment_model

    value, provenance = resolve_pretrained(cfg, runs_dir)
    if provenance is None or "run_dir" not in provenance:
        return experiment_model(cfg, pretrained=value), provenance
    model = experiment_model(cfg, pretrained=None)
    load_run_weights(model, cfg, RunDir(Path(provenance["run_dir"])))
    return model, provenance


def _settings(cfg: ExperimentConfig, sample_rate: Any) -> str:
    return (
        f"{cfg.model}/{cfg.variant}, {sample_rate} Hz, n_mels {cfg.n_mels or 'default'}, "
        f"strategy {cfg.strategy}"
    )


def run_weights(run: RunDir) -> tuple[dict[str, Tensor], ExperimentConfig, Any]:
    """The run's best classifier state (adapters merged), its settings and its sample rate."""
    import torch

    config = read_json(run.config)
    if not isinstance(config, dict) or "experiment" not in config:
        raise TransferError(
            f"{run.config}: missing or unreadable, so the settings of the run to transfer "
            "from are unknown; name a run directory that `sousa-train run` completed."
        )
    source = experiment_from_dict(config["experiment"])
    checkpoint = torch.load(run.best_ckpt, map_location="cpu", weights_only=True)
    state = {
        k.removeprefix("model."): v
        for k, v in checkpoint["state_dict"].items()
        if k.startswith("model.")
    }
    from sousa_train.finetune.strategies import STRATEGIES, apply_strategy

    if STRATEGIES[source.strategy].adapter:
        from sousa_train.models.registry import experiment_model

        merged = experiment_model(source, pretrained=None)
        apply_strategy(merged, source.strategy)
        merged.load_state_dict(state)
        merged.network = merged.network.merge_and_unload()
        state = merged.state_dict()
    return state, source, config.get("sample_rate")


def load_run_weights(model: AudioClassifier, cfg: ExperimentConfig, run: RunDir) -> None:
    """Load ``run``'s best checkpoint into ``model`` strictly: every key, every shape."""
    from sousa_train.models.weights import CheckpointMismatchError, load_strict

    state, source, source_rate = run_weights(run)
    where = (
        f"{run.best_ckpt} (run {run.run_id} of experiment {source.name}: "
        f"{_settings(source, source_rate)}) does not fit experiment {cfg.name} "
        f"({_settings(cfg, model.sample_rate)})"
    )
    try:
        load_strict(model, state, set(), where)
    except CheckpointMismatchError as exc:
        raise CheckpointMismatchError(
            f"{exc}. A run initialises only the same model: set model, variant, sample_rate "
            f"and n_mels as experiment {source.name} did, or name a run of this model."
        ) from exc
