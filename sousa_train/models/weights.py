"""Strict loading of official checkpoint files whose class count may differ from ours.

Every key of the network must be in the file with its shape and the file may hold no other
key, except the output layer: it is taken from the file when its class count equals ours and
otherwise stays freshly initialised. A file that is not this network fails loudly instead of
half-loading.
"""

from __future__ import annotations

from collections.abc import Mapping

from torch import Tensor, nn


class CheckpointMismatchError(ValueError):
    """A checkpoint file whose keys or shapes are not this network's."""


def require_sample_rate(
    name: str, pretrained: str, sample_rate: int, expected: int, features: str
) -> None:
    """Pretrained weights only mean something on the input they were trained on."""
    if sample_rate != expected:
        raise ValueError(
            f"pretrained {name} weights ({pretrained}) expect {expected} Hz {features} input, "
            f"but sample_rate is {sample_rate}; set sample_rate = {expected}."
        )


def _sample(keys: list[str], limit: int = 5) -> str:
    shown = ", ".join(keys[:limit])
    return shown + (f", ... ({len(keys)} in all)" if len(keys) > limit else "")


def load_strict(
    network: nn.Module, state: Mapping[str, Tensor], head_keys: set[str], where: str
) -> bool:
    """Load ``state`` into ``network``; return whether the file's output layer was kept.

    ``head_keys`` are the output layer's keys, the only ones allowed to be absent or shaped
    for another class count. ``where`` begins the error ("<file> does not match <what>").
    """
    own = network.state_dict()
    missing = sorted(set(own) - set(state) - head_keys)
    unexpected = sorted(set(state) - set(own))
    wrong_shape = sorted(
        f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}"
        for k in set(own) & set(state) - head_keys
        if state[k].shape != own[k].shape
    )
    problems = [
        f"{label}: {_sample(keys)}"
        for label, keys in (
            ("missing keys", missing),
            ("unexpected keys", unexpected),
            ("shape mismatches (file != model)", wrong_shape),
        )
        if keys
    ]
    if problems:
        raise CheckpointMismatchError(f"{where}: " + "; ".join(problems))
    keep_head = all(k in state and state[k].shape == own[k].shape for k in head_keys)
    merged = dict(state)
    if not keep_head:
        merged.update({k: own[k] for k in head_keys})
    network.load_state_dict(merged, strict=True)
    return keep_head
