"""experiments.toml -> validated ExperimentConfig objects.

Every key is read or is an error; an error is one paragraph naming the file, the
key and the valid choices, so a typo never becomes a silently ignored setting.
"""

from __future__ import annotations

import itertools
import sys
import types
import typing
from dataclasses import fields
from pathlib import Path
from typing import Any

from sousa_train.config.settings import (
    ACCELERATORS,
    CACHES,
    PARALLEL_STRATEGIES,
    PRECISIONS,
    SECTIONS,
    TRACKERS,
    DatasetSpec,
    DemoData,
    ExperimentConfig,
)
from sousa_train.finetune.strategies import STRATEGIES
from sousa_train.models.pretrained import names_run
from sousa_train.models.registry import MODELS

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_MANIFEST = Path("experiments.toml")
TOP_KEYS = ("datasets", "defaults", "experiments", "matrix")
EXPERIMENT_SCALARS = (
    "model",
    "variant",
    "pretrained",
    "sample_rate",
    "n_mels",
    "strategy",
    "data",
    "description",
)
MATRIX_AXES = ("model", "variant", "strategy", "data")
CHOICES: dict[str, tuple[str, ...]] = {
    "train.precision": PRECISIONS,
    "train.accelerator": ACCELERATORS,
    "loader.cache": CACHES,
    "train.parallel_strategy": PARALLEL_STRATEGIES,
    "trackers.backends": TRACKERS,
}


class ManifestError(ValueError):
    """A problem in the manifest, phrased for the person who wrote it."""


class Manifest:
    """The parsed manifest: named data sets and fully resolved experiments."""

    def __init__(self, path: Path, datasets: dict[str, DatasetSpec], raw: dict[str, dict]) -> None:
        self.path = path
        self.datasets = datasets
        self._raw = raw
        self.experiments: dict[str, ExperimentConfig] = {
            name: _resolve(path, name, table, datasets) for name, table in raw.items()
        }

    def names(self) -> list[str]:
        return list(self.experiments)

    def get(self, name: str, overrides: list[str] | None = None) -> ExperimentConfig:
        """An experiment, with `key.sub=value` overrides applied and re-validated."""
        if name not in self._raw:
            known = ", ".join(self.experiments) or "(none)"
            raise ManifestError(
                f"{self.path}: no experiment named {name!r}. Experiments in this manifest: {known}."
            )
        if not overrides:
            return self.experiments[name]
        table = _deep_copy(self._raw[name])
        for item in overrides:
            _apply_override(table, item, self.path)
        return _resolve(self.path, name, table, self.datasets, source="command line override")


def load_manifest(path: Path) -> Manifest:
    path = Path(path)
    if not path.is_file():
        raise ManifestError(
            f"{path}: manifest not found. Pass --manifest PATH, or run from the folder that "
            "holds experiments.toml."
        )
    try:
        doc = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as exc:
        raise ManifestError(f"{path}: not valid TOML ({exc}). Fix the syntax and retry.") from exc
    except UnicodeDecodeError as exc:
        raise ManifestError(f"{path}: not a UTF-8 text file ({exc}).") from exc

    _check_keys(path, "", doc, TOP_KEYS)
    datasets = _parse_datasets(path, _table(path, "datasets", doc.get("datasets", {})))
    defaults = _table(path, "defaults", doc.get("defaults", {}))
    experiments = _table(path, "experiments", doc.get("experiments", {}))
    raw: dict[str, dict] = {}
    for name, table in experiments.items():
        raw[name] = _merge(defaults, _table(path, f"experiments.{name}", table))
    for mname, mtable in _table(path, "matrix", doc.get("matrix", {})).items():
        for name, table in _expand_matrix(path, mname, _table(path, f"matrix.{mname}", mtable)):
            if name in raw:
                raise ManifestError(
                    f"{path}: matrix.{mname} expands to {name!r}, which is already an "
                    "experiment name; rename one of them."
                )
            raw[name] = _merge(defaults, table)
    if not raw:
        raise ManifestError(f"{path}: defines no experiments; add an [experiments.NAME] table.")
    return Manifest(path, datasets, raw)


def _parse_datasets(path: Path, table: dict) -> dict[str, DatasetSpec]:
    out: dict[str, DatasetSpec] = {}
    for name, spec in table.items():
        where = f"datasets.{name}"
        spec = _table(path, where, spec)
        _check_keys(path, where, spec, ("path", "demo"))
        if ("path" in spec) == ("demo" in spec):
            raise ManifestError(
                f"{path}: {where} needs exactly one of 'path' (a SOUSA-format folder) or "
                "'demo' (a table of demo-set parameters, e.g. demo = {clips_per_rudiment = 40})."
            )
        if "path" in spec:
            raw_path = _typed(path, f"{where}.path", spec["path"], str)
            resolved = Path(raw_path).expanduser()
            if not resolved.is_absolute():
                resolved = (path.parent / resolved).resolve()
            out[name] = DatasetSpec(name=name, path=str(resolved))
        else:
            demo = _build(
                path, f"{where}.demo", DemoData, _table(path, f"{where}.demo", spec["demo"])
            )
            out[name] = DatasetSpec(name=name, demo=demo)
    return out


def _expand_matrix(path: Path, mname: str, table: dict) -> list[tuple[str, dict]]:
    axes = {k: v for k, v in table.items() if k in MATRIX_AXES and isinstance(v, list)}
    for key, values in axes.items():
        if not values:
            raise ManifestError(
                f"{path}: matrix.{mname}.{key} is an empty list; give at least one value."
            )
    fixed = {k: v for k, v in table.items() if k not in axes}
    out = []
    for combo in itertools.product(*axes.values()):
        chosen = dict(zip(axes, combo, strict=True))
        parts = [str(chosen[k]) for k in MATRIX_AXES if k in chosen]
        out.append(("-".join([mname, *parts]), {**_deep_copy(fixed), **chosen}))
    return out


def _resolve(
    path: Path,
    name: str,
    table: dict,
    datasets: dict[str, DatasetSpec],
    source: str | None = None,
) -> ExperimentConfig:
    where = f"experiments.{name}"
    origin = f"{path} ({source})" if source else str(path)
    _check_keys(origin, where, table, (*EXPERIMENT_SCALARS, *SECTIONS))
    for key in ("model", "strategy", "data"):
        if key not in table:
            raise ManifestError(
                f"{origin}: {where} has no '{key}'; set it in the experiment or in [defaults]."
            )
    model = _choice(origin, f"{where}.model", table["model"], tuple(MODELS))
    strategy = _choice(origin, f"{where}.strategy", table["strategy"], tuple(STRATEGIES))
    data = _choice(origin, f"{where}.data", table["data"], tuple(datasets))
    variant = table.get("variant")
    if variant is not None:
        variant = _choice(origin, f"{where}.variant", variant, MODELS[model].variants)
    pretrained = table.get("pretrained")
    if pretrained is not None:
        pretrained = _typed(origin, f"{where}.pretrained", pretrained, str)
    needs = STRATEGIES[strategy].needs_pretrained
    if needs and not MODELS[model].has_pretrained and not names_run(pretrained):
        raise ManifestError(
            f"{origin}: {where}: model {model!r} has no pretrained weights, so strategy "
            f"{strategy!r} cannot apply; use 'from_scratch'."
        )
    if table.get("n_mels") is not None and not MODELS[model].mel_bins_setting:
        raise ManifestError(
            f"{origin}: {where}.n_mels: model {model!r} has a fixed mel filterbank; remove it."
        )
    if needs and not pretrained:
        raise ManifestError(
            f"{origin}: {where}: strategy {strategy!r} fine-tunes pretrained weights but "
            "'pretrained' is not set; give a checkpoint file or hub id, or use 'from_scratch'."
        )
    if not needs and pretrained:
        raise ManifestError(
            f"{origin}: {where}: strategy {strategy!r} starts from random weights, so "
            f"'pretrained' ({pretrained!r}) would be ignored; remove it or use 'full_finetune'."
        )
    sections = {
        key: _build(
            origin, f"{where}.{key}", cls, _table(origin, f"{where}.{key}", table.get(key, {}))
        )
        for key, cls in SECTIONS.items()
    }
    return ExperimentConfig(
        name=name,
        model=model,
        strategy=strategy,
        data=datasets[data],
        variant=variant or MODELS[model].default_variant,
        pretrained=pretrained,
        sample_rate=_opt_int(origin, f"{where}.sample_rate", table.get("sample_rate")),
        n_mels=_opt_int(origin, f"{where}.n_mels", table.get("n_mels")),
        description=_typed(origin, f"{where}.description", table.get("description", ""), str),
        **sections,
    )


def _build(origin: Any, where: str, cls: type, table: dict) -> Any:
    hints = typing.get_type_hints(cls)
    names = [f.name for f in fields(cls)]
    _check_keys(origin, where, table, tuple(names))
    values = {}
    for key, value in table.items():
        values[key] = _coerce(origin, f"{where}.{key}", value, hints[key])
        short = f"{where.rsplit('.', 1)[-1]}.{key}"
        if short in CHOICES:
            items = values[key] if isinstance(values[key], tuple) else (values[key],)
            for item in items:
                _choice(origin, f"{where}.{key}", str(item), CHOICES[short])
        number = isinstance(values[key], (int, float)) and not isinstance(values[key], bool)
        if number and values[key] < 0:
            raise ManifestError(f"{origin}: {where}.{key} is {value!r}; it must not be negative.")
    return cls(**values)


def _coerce(origin: Any, key: str, value: Any, hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(origin, key, value, inner)
    if typing.get_origin(hint) is tuple:
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise ManifestError(f"{origin}: {key} must be a list of strings, got {value!r}.")
        return tuple(value)
    return _typed(origin, key, value, hint)


def _typed(origin: Any, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ManifestError(
            f"{origin}: {key} must be {_type_name(kind)}, got {type(value).__name__} {value!r}."
        )
    return value


def _opt_int(origin: Any, key: str, value: Any) -> int | None:
    return None if value is None else _typed(origin, key, value, int)


def _choice(origin: Any, key: str, value: Any, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ManifestError(
            f"{origin}: {key} is {value!r}, which is not a valid choice; "
            f"valid choices: {', '.join(choices)}."
        )
    return value


def _check_keys(origin: Any, where: str, table: dict, allowed: tuple[str, ...]) -> None:
    for key in table:
        if key not in allowed:
            at = f"{where}.{key}" if where else key
            raise ManifestError(
                f"{origin}: unknown key '{at}'. Valid keys here: {', '.join(allowed)}."
            )


def _table(origin: Any, where: str, value: Any) -> dict:
    if not isinstance(value, dict):
        raise ManifestError(
            f"{origin}: {where} must be a table, got {type(value).__name__} {value!r}."
        )
    return value


def _type_name(kind: type) -> str:
    return {int: "an integer", float: "a number", str: "a string", bool: "true or false"}.get(
        kind, kind.__name__
    )


def _merge(base: dict, over: dict) -> dict:
    out = _deep_copy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = _deep_copy(value)
    return out


def _deep_copy(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _deep_copy(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_deep_copy(v) for v in value]
    return value


def _apply_override(table: dict, item: str, path: Path) -> None:
    """Apply one `key.sub=value`; the value is read as TOML, else as a plain string."""
    key, sep, text = item.partition("=")
    if not sep or not key.strip():
        raise ManifestError(
            f"{path}: command-line override {item!r} is not of the form key.sub=value "
            "(for example train.max_epochs=5)."
        )
    try:
        value = tomllib.loads(f"v = {text}")["v"]
    except tomllib.TOMLDecodeError:
        value = text
    parts = key.strip().split(".")
    node = table
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ManifestError(f"{path}: override {item!r}: {part!r} is not a table.")
    node[parts[-1]] = value
