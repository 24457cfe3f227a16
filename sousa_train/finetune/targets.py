"""Which layers an adapter wraps, found by their role in the module tree, not by their names.

Names differ between our own networks and each transformers release; roles do not:

- attention projections: three or more sibling ``Linear`` layers of one square shape (query,
  key, value and, where it sits beside them, the output projection);
- feed-forward layers: a ``Linear`` expanding (or contracting) the width followed by one
  mapping it back (a transformer MLP, a squeeze-excitation MLP), and the pointwise ``1x1``
  convolutions that mix channels in a convolutional network.

The head is never a target: it trains in full under every strategy.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise

from torch import nn


@dataclass(frozen=True)
class Targets:
    attention: tuple[str, ...]
    feed_forward: tuple[str, ...]

    @property
    def all(self) -> tuple[str, ...]:
        return self.attention + self.feed_forward


def _attention_projections(network: nn.Module) -> list[str]:
    found = []
    for parent_name, parent in network.named_modules():
        groups: dict[tuple[int, int], list[str]] = {}
        for name, child in parent.named_children():
            if isinstance(child, nn.Linear) and child.in_features == child.out_features:
                groups.setdefault((child.in_features, child.out_features), []).append(name)
        for names in groups.values():
            if len(names) >= 3:
                found += [f"{parent_name}.{n}" if parent_name else n for n in names]
    return found


def _feed_forward(network: nn.Module, skip: set[str]) -> list[str]:
    linears = [
        (name, m)
        for name, m in network.named_modules()
        if isinstance(m, nn.Linear) and name not in skip
    ]
    found: list[str] = []
    for (first, a), (second, b) in pairwise(linears):
        if a.in_features == b.out_features != a.out_features == b.in_features:
            found += [n for n in (first, second) if n not in found]
    pointwise = [
        name
        for name, m in network.named_modules()
        if isinstance(m, nn.Conv2d) and m.kernel_size == (1, 1) and m.groups == 1
    ]
    return found + pointwise


def find_targets(network: nn.Module, head_name: str) -> Targets:
    """The adapter targets of ``network``; empty when it has no layer of either role."""

    def outside_head(name: str) -> bool:
        return name != head_name and not name.startswith(head_name + ".")

    attention = [n for n in _attention_projections(network) if outside_head(n)]
    feed_forward = [n for n in _feed_forward(network, set(attention)) if outside_head(n)]
    return Targets(tuple(attention), tuple(feed_forward))
