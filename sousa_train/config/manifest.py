"""experiments.toml -> validated ExperimentConfig objects.

Every key is read or is an error; an error is one paragraph naming the file, the
key and the valid choices, so a typo never becomes a silently ignored setting.
Settings that belong to a model, a strategy, a data set or a machine are written once in
their own table and merged under each experiment that uses them (``Layers``).
"""

from __future__ import annotations

import copy
import itertools
import sys
import types
import typing
from dataclasses import dataclass, fields
from pathlib import Path
from typing import TYPE_CHECKING, Any

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
    MixSettings,
)
from sousa_train.finetune.strategies import STRATEGIES
from sousa_train.models.pretrained import RUN_PREFIX, default_pretrained, names_run
from sousa_train.models.registry import MODELS

if TYPE_CHECKING:
    from sousa_train.config.sweeps import SweepSpec

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

DEFAULT_MANIFEST = Path("experiments.toml")
GROUPS = {"models": "model", "strategies": "strategy", "platforms": "platform"}
TOP_KEYS = ("datasets", "defaults", "experiments", "matrix", "sweeps", *GROUPS)
MODEL_SCALARS = ("variant", "pretrained", "sample_rate", "n_mels")
EXPERIMENT_SCALARS = (*MODEL_SCALARS, "model", "strategy", "data", "description")
MIX_KEYS = ("data", "share")
DATASET_SOURCES = ("path", "demo", "hub")
MATRIX_AXES = ("model", "variant", "strategy", "data")
# Fractions that must stay below 1: an average that keeps all of its past never moves.
BELOW_ONE = ("train.ema_decay",)
CHOICES: dict[str, tuple[str, ...]] = {
    "train.precision": PRECISIONS,
    "train.accelerator": ACCELERATORS,
    "loader.cache": CACHES,
    "train.parallel_strategy": PARALLEL_STRATEGIES,
    "trackers.backends": TRACKERS,
}


class ManifestError(ValueError):
    """A problem in the manifest, phrased for the person who wrote it."""


@dataclass(frozen=True)
class Layers:
    """The settings tables merged under an experiment, lowest first: defaults < model <
    strategy < data set; the experiment, its platform and the command line go on top."""

    defaults: dict
    models: dict[str, dict]
    strategies: dict[str, dict]
    datasets: dict[str, dict]
    platforms: dict[str, dict]


class Manifest:
    """The parsed manifest: named data sets, platforms and fully resolved experiments."""

    def __init__(
        self,
        path: Path,
        datasets: dict[str, DatasetSpec],
        layers: Layers,
        raw: dict[str, dict],
        matrices: dict[str, list[str]],
    ) -> None:
        self.path = path
        self.datasets = datasets
        self.matrices = matrices
        self.platforms = tuple(layers.platforms)
        self._layers = layers
        self._raw = raw
        self.experiments: dict[str, ExperimentConfig] = {
            name: self._resolve(name, None, {}) for name in raw
        }
        self.sweeps: dict[str, SweepSpec] = {}

    @classmethod
    def empty(cls, path: Path) -> Manifest:
        """No experiments: what the console reads runs with when no manifest is at hand."""
        return cls(path, {}, Layers({}, {}, {}, {}, {}), {}, {})

    def names(self) -> list[str]:
        return list(self.experiments)

    def matrix(self, name: str) -> list[str]:
        """The experiments ``[matrix.NAME]`` expands to, in the manifest's order."""
        if name not in self.matrices:
            known = ", ".join(self.matrices) or "(none)"
            raise ManifestError(
                f"{self.path}: no matrix named {name!r}. Matrices in this manifest: {known}."
            )
        return self.matrices[name]

    def raw_experiment(self, name: str) -> dict:
        """The experiment's own table as written (a matrix's expanded), for ``sweep --best``."""
        return copy.deepcopy(self._raw[name])

    def sweep(self, name: str) -> SweepSpec:
        if name not in self.sweeps:
            known = ", ".join(self.sweeps) or "(none: add a [sweeps.NAME] table)"
            raise ManifestError(
                f"{self.path}: no sweep named {name!r}. Sweeps in this manifest: {known}."
            )
        return self.sweeps[name]

    def get(
        self,
        name: str,
        overrides: list[str] | None = None,
        platform: str | None = None,
        settings: dict[str, Any] | None = None,
    ) -> ExperimentConfig:
        """An experiment on ``platform`` with dotted-key ``settings`` (a sweep trial's sampled
        values) and, over them, `key.sub=value` overrides applied, re-validated."""
        if name not in self._raw:
            known = ", ".join(self.experiments) or "(none)"
            raise ManifestError(
                f"{self.path}: no experiment named {name!r}. Experiments in this manifest: {known}."
            )
        if platform is not None and platform not in self.platforms:
            known = ", ".join(self.platforms) or "(none: add a [platforms.NAME] table)"
            raise ManifestError(
                f"{self.path}: no platform named {platform!r} (--platform). Platforms in this "
                f"manifest: {known}."
            )
        if not overrides and platform is None and not settings:
            return self.experiments[name]
        cli: dict = {}
        for key, value in (settings or {}).items():
            _set_dotted(cli, key, value, self.path)
        for item in overrides or ():
            _apply_override(cli, item, self.path)
        return self._resolve(name, platform, cli)

    def _resolve(self, name: str, platform: str | None, cli: dict) -> ExperimentConfig:
        where = f"experiments.{name}"
        origin = f"{self.path} (command line override)" if cli else str(self.path)
        layers = self._layers
        chosen = _merge(_merge(layers.defaults, self._raw[name]), cli)
        _check_keys(origin, where, chosen, (*EXPERIMENT_SCALARS, "mix", *SECTIONS))
        for key in ("model", "strategy", "data"):
            if key not in chosen:
                raise ManifestError(
                    f"{origin}: {where} has no '{key}'; set it in the experiment or in [defaults]."
                )
        model = _choice(origin, f"{where}.model", chosen["model"], tuple(MODELS))
        strategy = _choice(origin, f"{where}.strategy", chosen["strategy"], tuple(STRATEGIES))
        data = _choice(origin, f"{where}.data", chosen["data"], tuple(self.datasets))
        table: dict = {}
        for layer in (
            layers.defaults,
            layers.models.get(model, {}),
            layers.strategies.get(strategy, {}),
            layers.datasets.get(data, {}),
            self._raw[name],
            layers.platforms.get(platform, {}),
            cli,
        ):
            table = _merge(table, layer)
        _check_model_scalars(origin, where, model, table)
        variant = table.get("variant") or MODELS[model].default_variant
        sections = _sections(origin, where, table)
        _check_slips(origin, where, model, sections["augment"].slip_ms)
        return ExperimentConfig(
            name=name,
            model=model,
            strategy=strategy,
            data=self.datasets[data],
            mix=self._mix(origin, where, data, table, sections),
            variant=variant,
            pretrained=self._pretrained(origin, where, model, variant, strategy, table),
            sample_rate=table.get("sample_rate"),
            n_mels=table.get("n_mels"),
            description=_typed(origin, f"{where}.description", table.get("description", ""), str),
            platform=platform,
            **sections,
        )

    def _mix(
        self, origin: str, where: str, data: str, table: dict, sections: dict[str, Any]
    ) -> MixSettings | None:
        """``mix = { data = NAME, share = S }``: the data set whose train clips fill about S
        of every training batch, checked against the settings that decide whether it can."""
        if "mix" not in table:
            return None
        at = f"{where}.mix"
        mix = _table(origin, at, table["mix"])
        _check_keys(origin, at, mix, MIX_KEYS)
        if "data" not in mix:
            raise ManifestError(
                f"{origin}: {at} has no 'data'; name the data set whose train clips join each "
                'training batch, e.g. mix = { data = "demo-large", share = 0.5 }.'
            )
        name = _choice(origin, f"{at}.data", mix["data"], tuple(self.datasets))
        if name == data:
            raise ManifestError(
                f"{origin}: {at}.data is {name!r}, the experiment's own data set, so there is "
                "nothing to mix; name another data set of [datasets], or remove 'mix'."
            )
        share = _typed(origin, f"{at}.share", mix.get("share", MixSettings.share), float)
        settings = MixSettings(self.datasets[name], share)
        if not 0 < settings.share < 1:
            raise ManifestError(
                f"{origin}: {at}.share is {settings.share!r}; it must be between 0 and 1 "
                "(exclusive): the part of each training batch drawn from mix.data."
            )
        batch = sections["loader"].batch_size
        extra = settings.clips_per_batch(batch)
        if not 0 < extra < batch:
            raise ManifestError(
                f"{origin}: {at}.share is {settings.share!r}, so a batch of loader.batch_size = "
                f"{batch} would hold {extra} clip(s) of {name!r} and {batch - extra} of "
                f"{data!r}; it needs at least one of each: raise loader.batch_size or bring "
                "the share nearer 0.5."
            )
        train = sections["train"]
        processes = train.devices * train.num_nodes
        if processes > 1:
            raise ManifestError(
                f"{origin}: {at}: mixed batches are drawn by one sampler in one process, so "
                f"they cannot be shared out over {processes} processes (train.devices = "
                f"{train.devices} x train.num_nodes = {train.num_nodes}); train on one device, "
                "or remove 'mix'."
            )
        return settings

    def _pretrained(
        self, origin: str, where: str, model: str, variant: str, strategy: str, table: dict
    ) -> str | None:
        """The weights the strategy starts from: the experiment's, else the variant's official
        ones; ``from_scratch`` ignores both, so a model's default never blocks it."""
        if not STRATEGIES[strategy].needs_pretrained:
            return None
        value = table.get("pretrained")
        if value is None:
            value = default_pretrained(model, variant)
            if value is None:
                raise _no_weights(origin, where, model, variant, strategy)
            return value
        if value.startswith(RUN_PREFIX):
            run = value.removeprefix(RUN_PREFIX)
            if run not in self._raw:
                raise ManifestError(
                    f"{origin}: {where}.pretrained is {value!r}, but this manifest has no "
                    f"experiment {run!r}; 'run:NAME' names an experiment whose latest finished "
                    f"run supplies the weights. Experiments: {', '.join(self._raw)}."
                )
            return value
        if names_run(value):
            return value
        if not value or not MODELS[model].has_pretrained:
            raise _no_weights(origin, where, model, variant, strategy)
        return value


def _no_weights(origin: str, where: str, model: str, variant: str, strategy: str) -> ManifestError:
    runs = '"run:NAME" (an experiment of this manifest) or a run directory'
    if not MODELS[model].has_pretrained:
        return ManifestError(
            f"{origin}: {where}: model {model!r} has no pretrained weights, so strategy "
            f"{strategy!r} can only start from one of our runs: set pretrained = {runs}, or use "
            "'from_scratch'."
        )
    official = [v for v in MODELS[model].variants if default_pretrained(model, v)]
    return ManifestError(
        f"{origin}: {where}: strategy {strategy!r} fine-tunes pretrained weights, but 'pretrained' "
        f"is not set and {model} variant {variant!r} has no official weights; set pretrained to "
        f"a checkpoint file, a hub id, {runs}, use a variant with official weights "
        f"({', '.join(official)}), or use 'from_scratch'."
    )


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
    datasets, data_layers = _parse_datasets(path, _table(path, "datasets", doc.get("datasets", {})))
    layers = Layers(
        defaults=_table(path, "defaults", doc.get("defaults", {})),
        models=_parse_group(path, "models", doc, tuple(MODELS), MODEL_SCALARS),
        strategies=_parse_group(path, "strategies", doc, tuple(STRATEGIES), ()),
        datasets=data_layers,
        platforms=_parse_group(path, "platforms", doc, None, ()),
    )
    experiments = _table(path, "experiments", doc.get("experiments", {}))
    raw: dict[str, dict] = {
        name: _table(path, f"experiments.{name}", table) for name, table in experiments.items()
    }
    matrices: dict[str, list[str]] = {}
    for mname, mtable in _table(path, "matrix", doc.get("matrix", {})).items():
        expanded = _expand_matrix(path, mname, _table(path, f"matrix.{mname}", mtable))
        matrices[mname] = [name for name, _ in expanded]
        for name, table in expanded:
            if name in raw:
                raise ManifestError(
                    f"{path}: matrix.{mname} expands to {name!r}, which is already an "
                    "experiment name; rename one of them."
                )
            raw[name] = table
    if not raw:
        raise ManifestError(f"{path}: defines no experiments; add an [experiments.NAME] table.")
    manifest = Manifest(path, datasets, layers, raw, matrices)
    # Here, not at the top: sweeps.py checks its tables with this module's helpers.
    from sousa_train.config.sweeps import parse_sweeps

    manifest.sweeps = parse_sweeps(manifest, doc.get("sweeps", {}))
    return manifest


def _parse_datasets(path: Path, table: dict) -> tuple[dict[str, DatasetSpec], dict[str, dict]]:
    """Each data set's spec, and the settings sections it carries for experiments using it."""
    specs: dict[str, DatasetSpec] = {}
    layers: dict[str, dict] = {}
    for name, spec in table.items():
        where = f"datasets.{name}"
        spec = _table(path, where, spec)
        _check_keys(path, where, spec, (*DATASET_SOURCES, "revision", *SECTIONS))
        if sum(key in spec for key in DATASET_SOURCES) != 1:
            raise ManifestError(
                f"{path}: {where} needs exactly one of 'path' (a SOUSA-format folder), 'hub' "
                "(a Hugging Face data set id, e.g. hub = \"zkeown/sousa\") or 'demo' (a table "
                "of demo-set parameters, e.g. demo = {clips_per_rudiment = 40})."
            )
        if "revision" in spec and "hub" not in spec:
            raise ManifestError(
                f"{path}: {where}.revision pins a Hub release, so it needs 'hub'; remove it or "
                "replace 'path'/'demo' with hub = \"OWNER/NAME\"."
            )
        if "path" in spec:
            raw_path = _typed(path, f"{where}.path", spec["path"], str)
            resolved = Path(raw_path).expanduser()
            if not resolved.is_absolute():
                resolved = (path.parent / resolved).resolve()
            specs[name] = DatasetSpec(name=name, path=str(resolved))
        elif "hub" in spec:
            specs[name] = DatasetSpec(
                name=name,
                hub=_typed(path, f"{where}.hub", spec["hub"], str),
                revision=_opt(path, f"{where}.revision", spec.get("revision"), str),
            )
        else:
            demo = _build(
                path, f"{where}.demo", DemoData, _table(path, f"{where}.demo", spec["demo"])
            )
            specs[name] = DatasetSpec(name=name, demo=demo)
        layers[name] = {key: value for key, value in spec.items() if key in SECTIONS}
        _sections(path, where, layers[name])
    return specs, layers


def _parse_group(
    path: Path, group: str, doc: dict, names: tuple[str, ...] | None, scalars: tuple[str, ...]
) -> dict[str, dict]:
    """``[models.NAME]``, ``[strategies.NAME]`` or ``[platforms.NAME]``: settings tables, checked
    here so a mistake names the table it is in rather than an experiment it reaches."""
    out: dict[str, dict] = {}
    for name, table in _table(path, group, doc.get(group, {})).items():
        where = f"{group}.{name}"
        if names is not None and name not in names:
            raise ManifestError(
                f"{path}: [{where}]: {name!r} is not a known {GROUPS[group]}, so its settings "
                f"would reach no experiment; valid choices: {', '.join(names)}."
            )
        table = _table(path, where, table)
        _check_keys(path, where, table, (*scalars, *SECTIONS))
        if group == "models":
            _check_model_scalars(path, where, name, table)
        _sections(path, where, table)
        out[name] = table
    return out


def _check_model_scalars(origin: Any, where: str, model: str, table: dict) -> None:
    if table.get("variant") is not None:
        _choice(origin, f"{where}.variant", table["variant"], MODELS[model].variants)
    if table.get("pretrained") is not None:
        _typed(origin, f"{where}.pretrained", table["pretrained"], str)
    for key in ("sample_rate", "n_mels"):
        _opt(origin, f"{where}.{key}", table.get(key), int)
    if table.get("n_mels") is not None and not MODELS[model].mel_bins_setting:
        raise ManifestError(
            f"{origin}: {where}.n_mels: model {model!r} has a fixed mel filterbank; remove it."
        )


def _check_slips(origin: Any, where: str, model: str, slip_ms: float) -> None:
    """``augment.slip_ms`` needs a frontend that finds strokes to move."""
    if slip_ms and not MODELS[model].slips_setting:
        able = ", ".join(name for name, e in MODELS.items() if e.slips_setting)
        raise ManifestError(
            f"{origin}: {where}.augment.slip_ms: model {model!r} sees a plain clock, with no "
            f"strokes to move; only {able} can. Remove augment.slip_ms or change the model."
        )


def _sections(origin: Any, where: str, table: dict) -> dict[str, Any]:
    return {
        key: _build(
            origin, f"{where}.{key}", cls, _table(origin, f"{where}.{key}", table.get(key, {}))
        )
        for key, cls in SECTIONS.items()
    }


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
        out.append(("-".join([mname, *parts]), {**copy.deepcopy(fixed), **chosen}))
    return out


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
        if number and short in BELOW_ONE and values[key] >= 1:
            raise ManifestError(
                f"{origin}: {where}.{key} is {value!r}; it must be below 1 (0 turns it off)."
            )
        hint = hints[key]  # a list of factors, such as speeds
        numbers = typing.get_origin(hint) is tuple and typing.get_args(hint)[0] is float
        if numbers and not (values[key] and all(v > 0 for v in values[key])):
            raise ManifestError(
                f"{origin}: {where}.{key} is {value!r}; it must list at least one number, "
                "each above 0."
            )
    return cls(**values)


def _coerce(origin: Any, key: str, value: Any, hint: Any) -> Any:
    args = typing.get_args(hint)
    if typing.get_origin(hint) in (typing.Union, types.UnionType) and type(None) in args:
        if value is None:
            return None
        (inner,) = [a for a in args if a is not type(None)]
        return _coerce(origin, key, value, inner)
    if typing.get_origin(hint) is tuple:
        item = args[0]
        if not isinstance(value, list):
            many = {str: "strings", float: "numbers", int: "integers"}.get(item, "values")
            raise ManifestError(f"{origin}: {key} must be a list of {many}, got {value!r}.")
        return tuple(_typed(origin, f"{key}[{i}]", v, item) for i, v in enumerate(value))
    return _typed(origin, key, value, hint)


def _typed(origin: Any, key: str, value: Any, kind: type) -> Any:
    if kind is float and isinstance(value, int) and not isinstance(value, bool):
        return float(value)
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise ManifestError(
            f"{origin}: {key} must be {_type_name(kind)}, got {type(value).__name__} {value!r}."
        )
    return value


def _opt(origin: Any, key: str, value: Any, kind: type) -> Any:
    return None if value is None else _typed(origin, key, value, kind)


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
    out = copy.deepcopy(base)
    for key, value in over.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = _merge(out[key], value)
        else:
            out[key] = copy.deepcopy(value)
    return out


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
    _set_dotted(table, key.strip(), value, path)


def _set_dotted(table: dict, key: str, value: Any, path: Path) -> None:
    parts = key.split(".")
    node = table
    for part in parts[:-1]:
        node = node.setdefault(part, {})
        if not isinstance(node, dict):
            raise ManifestError(f"{path}: setting {key!r}: {part!r} is not a table.")
    node[parts[-1]] = value
