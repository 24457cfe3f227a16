"""``[sweeps.NAME]``: a hyperparameter search over one experiment, validated like every table.

A sweep names the experiment it starts from and a search space in the manifest's own dotted
keys (``optim.lr = { log_uniform = [1e-5, 1e-2] }``). Each range's ends (each choice) are
resolved as overrides of that experiment when the manifest loads, so a range a setting cannot
take stops here, naming the sweep's key, rather than in the fifth trial. Kept free of optuna:
the console and ``sousa-train list`` read it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from sousa_train.config import manifest as m
from sousa_train.scores import SUMMARY_KEYS

if TYPE_CHECKING:
    from sousa_train.config.manifest import Manifest

# The figures every validation epoch records, and which way is better.
METRICS: dict[str, bool] = {
    **{f"val/{key}": True for key in SUMMARY_KEYS},
    "val/loss": False,
}
SAMPLERS = ("tpe", "random")
PRUNERS = ("none", "median", "successive_halving", "threshold")
# How a range is sampled; the numeric ones take [low, high].
DISTRIBUTIONS = ("uniform", "log_uniform", "int", "log_int", "choice")
SWEEP_KEYS = (
    "experiment",
    "description",
    "trials",
    "metric",
    "sampler",
    "seed",
    "pruner",
    "warmup_epochs",
    "threshold",
    "space",
)


@dataclass(frozen=True)
class Dimension:
    """One searched setting: its dotted key, how it is sampled, and the range or choices."""

    key: str
    kind: str
    values: tuple[Any, ...]

    @property
    def log(self) -> bool:
        return self.kind.startswith("log_")


@dataclass(frozen=True)
class SweepSpec:
    """A validated ``[sweeps.NAME]`` table."""

    name: str
    experiment: str
    trials: int
    space: tuple[Dimension, ...]
    description: str = ""
    metric: str = "val/balanced_accuracy"
    sampler: str = "tpe"
    seed: int = 0
    pruner: str = "median"
    warmup_epochs: int = 1
    threshold: float | None = None

    @property
    def maximize(self) -> bool:
        return METRICS[self.metric]


def parse_sweeps(manifest: Manifest, table: dict) -> dict[str, SweepSpec]:
    """Every ``[sweeps.NAME]`` of the manifest, checked against the experiments it searches."""
    path = manifest.path
    sweeps: dict[str, SweepSpec] = {}
    for name, raw in m._table(path, "sweeps", table).items():
        where = f"sweeps.{name}"
        raw = m._table(path, where, raw)
        m._check_keys(path, where, raw, SWEEP_KEYS)
        for key in ("experiment", "space"):
            if key not in raw:
                raise m.ManifestError(f"{path}: {where} has no '{key}'; a sweep needs one.")
        experiment = m._choice(
            path, f"{where}.experiment", raw["experiment"], tuple(manifest.names())
        )
        pruner = m._choice(path, f"{where}.pruner", raw.get("pruner", "median"), PRUNERS)
        threshold = raw.get("threshold")
        if (pruner == "threshold") != (threshold is not None):
            raise m.ManifestError(
                f'{path}: {where}.threshold goes with pruner = "threshold" (a trial whose '
                "figure is on the wrong side of it after the warm-up is pruned), and only there."
            )
        spec = SweepSpec(
            name=name,
            experiment=experiment,
            trials=_positive(path, f"{where}.trials", raw.get("trials", 20)),
            space=_space(
                manifest, where, experiment, m._table(path, f"{where}.space", raw["space"])
            ),
            description=m._typed(path, f"{where}.description", raw.get("description", ""), str),
            metric=m._choice(
                path, f"{where}.metric", raw.get("metric", SweepSpec.metric), tuple(METRICS)
            ),
            sampler=m._choice(path, f"{where}.sampler", raw.get("sampler", "tpe"), SAMPLERS),
            seed=m._typed(path, f"{where}.seed", raw.get("seed", 0), int),
            pruner=pruner,
            warmup_epochs=m._typed(
                path, f"{where}.warmup_epochs", raw.get("warmup_epochs", 1), int
            ),
            threshold=None
            if threshold is None
            else m._typed(path, f"{where}.threshold", threshold, float),
        )
        if spec.warmup_epochs < 0:
            raise m.ManifestError(f"{path}: {where}.warmup_epochs must not be negative.")
        if name in manifest.names():
            raise m.ManifestError(
                f"{path}: sweep {name!r} has the name of an experiment; its trials' run "
                "directories would mix with that experiment's runs. Rename one of them."
            )
        sweeps[name] = spec
    return sweeps


def _positive(path: Any, key: str, value: Any) -> int:
    value = m._typed(path, key, value, int)
    if value < 1:
        raise m.ManifestError(f"{path}: {key} is {value}; it must be at least 1.")
    return value


def _space(manifest: Manifest, where: str, experiment: str, table: dict) -> tuple[Dimension, ...]:
    """The dimensions, from dotted keys (``optim.lr = {...}`` nests in TOML; ``"optim.lr"``
    quoted does not): each resolved at its ends against the experiment."""
    path = manifest.path
    dims = [_dimension(path, f"{where}.space.{key}", key, spec) for key, spec in _leaves(table)]
    if not dims:
        raise m.ManifestError(
            f"{path}: {where}.space is empty; give at least one setting to search."
        )
    for dim in dims:
        for value in dim.values:
            try:
                manifest.get(experiment, settings={dim.key: value})
            except m.ManifestError as exc:
                why = str(exc).split(": ", 1)[-1]  # drop the inner "file (override):" prefix
                raise m.ManifestError(
                    f"{path}: {where}.space.{dim.key}: {dim.kind} {list(dim.values)} gives "
                    f"experiment {experiment!r} a setting it cannot take ({value!r}): {why}"
                ) from None
    return tuple(dims)


def _leaves(table: dict, prefix: str = "") -> list[tuple[str, Any]]:
    out: list[tuple[str, Any]] = []
    for key, value in table.items():
        dotted = f"{prefix}{key}"
        nested = isinstance(value, dict) and not (set(value) & set(DISTRIBUTIONS))
        out += _leaves(value, dotted + ".") if nested and value else [(dotted, value)]
    return out


def _dimension(path: Any, where: str, key: str, spec: Any) -> Dimension:
    shapes = (
        "{ uniform = [a, b] }, { log_uniform = [a, b] }, { int = [a, b] }, "
        "{ log_int = [a, b] } or { choice = [...] }"
    )
    if not isinstance(spec, dict) or len(spec) != 1 or next(iter(spec)) not in DISTRIBUTIONS:
        raise m.ManifestError(f"{path}: {where} is {spec!r}; it must be one of {shapes}.")
    ((kind, values),) = spec.items()
    if not isinstance(values, list) or not values:
        raise m.ManifestError(f"{path}: {where}.{kind} must be a non-empty list, got {values!r}.")
    if kind == "choice":
        return Dimension(key, kind, tuple(values))
    number = int if kind in ("int", "log_int") else float
    bounds = tuple(m._typed(path, f"{where}.{kind}[{i}]", v, number) for i, v in enumerate(values))
    if len(bounds) != 2 or not bounds[0] < bounds[1]:
        raise m.ManifestError(
            f"{path}: {where}.{kind} is {values!r}; it must be [low, high] with low < high."
        )
    if kind.startswith("log_") and bounds[0] <= 0:
        raise m.ManifestError(f"{path}: {where}.{kind} is {values!r}; a log scale needs low > 0.")
    return Dimension(key, kind, bounds)
