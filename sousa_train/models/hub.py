"""Loading transformers checkpoints by hub id or local folder, with errors a user can act on."""

from __future__ import annotations

from typing import Any, TypeVar

from transformers import PretrainedConfig, PreTrainedModel

from sousa_train.models.weights import CheckpointMismatchError

M = TypeVar("M", bound=PreTrainedModel)


def _plain(value: Any) -> Any:
    """JSON-loaded configs hold lists where defaults hold tuples; compare them as equal."""
    return tuple(value) if isinstance(value, list) else value


def load_hub_model(
    cls: type[M],
    source: str,
    expected: PretrainedConfig,
    architecture: tuple[str, ...],
    name: str,
    example_id: str,
    optional: tuple[str, ...] = (),
) -> M:
    """``cls.from_pretrained(source)``, checked to be the variant described by ``expected``.

    The check matters because evaluation rebuilds the network from the variant alone and
    loads the run's own checkpoint into it: a different architecture must fail here, at the
    start of training, not after it. transformers only logs weights it could not find and
    initialises them randomly; here any missing key not under an ``optional`` prefix is an
    error, so a checkpoint of another layout never trains as if it were pretrained.
    """
    try:
        model, info = cls.from_pretrained(source, output_loading_info=True)
    except (OSError, ValueError) as exc:
        raise FileNotFoundError(
            f"{name} weights could not be loaded from {source!r} ({exc}). `pretrained` is a "
            f"Hugging Face hub id such as {example_id!r}, which needs network access or its "
            "files in the local Hugging Face cache, or a local folder with config.json and the "
            f"weights: fetch one with `hf download {example_id} --local-dir DIR` and set "
            "`pretrained` to DIR."
        ) from exc
    wrong = [
        f"{field}={getattr(model.config, field)!r} (variant has {getattr(expected, field)!r})"
        for field in architecture
        if _plain(getattr(model.config, field)) != _plain(getattr(expected, field))
    ]
    if wrong:
        raise CheckpointMismatchError(
            f"{source}: this {name} checkpoint is not the configured variant: "
            f"{', '.join(wrong)}. Pick the variant matching the checkpoint."
        )
    missing = sorted(k for k in info["missing_keys"] if not k.startswith(optional))
    if missing:
        raise CheckpointMismatchError(
            f"{source}: {len(missing)} weights of {name} are not in this checkpoint (e.g. "
            f"{', '.join(missing[:3])}); it is not a {cls.__name__} checkpoint. Use one like "
            f"{example_id!r}."
        )
    return model
