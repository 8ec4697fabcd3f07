"""The search-space model: :class:`ParamSpec` (one searched or fixed parameter) and :class:`SearchSpace`.

A space decides a configuration ``{"features", "feature_params", "model", "model_params"}`` by walking its
entries in order (:meth:`SearchSpace.resolve`): from an Optuna trial (:meth:`SearchSpace.sample`), from a
fixed configuration such as the space's ``default`` (:meth:`SearchSpace.fixed_config`). Values are compared
by their canonical JSON (:func:`canon`). The file format is described in :mod:`soundsort.tuning`; parsing
and validation are in :mod:`soundsort.tuning.parse`.
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from soundsort.errors import ConfigError

#: "leave this parameter out" (a chooser's answer, and the marker of a parameter not set)
UNSET = object()
_SCALARS = (type(None), bool, int, float, str)


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    return value


def canon(value: Any) -> str:
    """Canonical JSON of a value (tuples as lists, sorted keys, 3.0 as 3): how values are compared."""
    return json.dumps(_norm(value), sort_keys=True, separators=(",", ":"), default=list)


def is_number(x: Any) -> bool:
    """A finite int or float (not a bool)."""
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def is_int(x: Any) -> bool:
    """An int (not a bool)."""
    return isinstance(x, int) and not isinstance(x, bool)


def fmt_value(v: Any) -> str:
    """A value as the summaries show it (floats to 4 significant digits, strings bare, the rest as JSON)."""
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str):
        return v
    return json.dumps(v)


@dataclass(frozen=True)
class ParamSpec:
    """One searched or fixed parameter of a space.

    ``section``: features / model / feature_params / model_params; ``key``: its key in the file;
    ``param``: the parameter it sets (``key`` unless ``"param"`` says otherwise); ``kind``: fixed,
    choice, int, uniform or loguniform; ``values``: the fixed value ``(v,)``, the choices, or
    ``(low, high)``; ``when``: ``((section, param, allowed canonical values), ...)``.
    """

    section: str
    key: str
    param: str
    kind: str
    values: tuple[Any, ...]
    step: float | int | None = None
    log: bool = False
    when: tuple[tuple[str, str, frozenset[str]], ...] = ()

    @property
    def name(self) -> str:
        """The Optuna parameter name: ``features``, ``model``, ``feature_params.KEY``, ``model_params.KEY``."""
        return self.section if self.section in ("features", "model") else f"{self.section}.{self.key}"

    @property
    def searched(self) -> bool:
        return self.kind != "fixed"

    @property
    def _encoded(self) -> bool:
        """Choices Optuna cannot hold (lists, objects) travel as their JSON text."""
        return self.kind == "choice" and not all(isinstance(v, _SCALARS) for v in self.values)

    def encode(self, value: Any) -> Any:
        return canon(value) if self._encoded else value

    def decode(self, value: Any) -> Any:
        return json.loads(value) if self._encoded else value

    def possible(self) -> set[str] | None:
        """Canonical values this entry can take, or None for a numeric range."""
        if self.kind in ("fixed", "choice"):
            return {canon(v) for v in self.values}
        return None

    def contains(self, value: Any) -> bool:
        """Whether Optuna could suggest ``value`` for this entry."""
        if self.kind == "fixed":
            return False
        if self.kind == "choice":
            return canon(value) in self.possible()  # type: ignore[operator]
        low, high = self.values
        if self.kind == "int":
            if not is_int(value) or not low <= value <= high:
                return False
            return self.log or (value - low) % (self.step or 1) == 0
        if not is_number(value) or not low <= value <= high:
            return False
        if self.step:
            k = (value - low) / self.step
            return abs(k - round(k)) < 1e-9
        return True

    def suggest(self, trial: Any) -> Any:
        """Sample this entry in an Optuna trial (decoded)."""
        if self.kind == "fixed":
            return self.values[0]
        if self.kind == "choice":
            return self.decode(trial.suggest_categorical(self.name, [self.encode(v) for v in self.values]))
        low, high = self.values
        if self.kind == "int":
            return int(trial.suggest_int(self.name, low, high, step=self.step or 1, log=self.log))
        if self.kind == "uniform":
            return float(trial.suggest_float(self.name, low, high, step=self.step))
        return float(trial.suggest_float(self.name, low, high, log=True))

    def describe(self) -> str:
        """A short human description (``int 64..128 step 32``, ``choice mel | stft``)."""
        if self.kind == "fixed":
            text = fmt_value(self.values[0])
        elif self.kind == "choice":
            text = "choice " + " | ".join(fmt_value(v) for v in self.values)
        else:
            text = f"{self.kind} {fmt_value(self.values[0])}..{fmt_value(self.values[1])}"
            if self.step:
                text += f" step {fmt_value(self.step)}"
            if self.log:
                text += " log"
        if self.when:
            conds = ", ".join(f"{s if s in ('features', 'model') else s + '.' + p} in "
                              f"{' | '.join(fmt_value(json.loads(x)) for x in sorted(v))}" for s, p, v in self.when)
            text += f" (when {conds})"
        return text


Config = dict[str, Any]
Chooser = Callable[[ParamSpec], Any]


@dataclass
class SearchSpace:
    """A validated search space (see :mod:`soundsort.tuning`); build with :func:`~soundsort.tuning.parse.load_space`
    / :func:`~soundsort.tuning.parse.parse_space`."""

    name: str
    source: str
    task: str
    specs: list[ParamSpec]
    folds: int = 5
    repeats: int = 1
    metric: str = "f1"
    group_pattern: str | None = None
    groups_csv: str | None = None
    default: Config | None = None
    pruner: dict[str, int] | None = field(default_factory=dict)  # None: no pruning
    train: dict[str, Any] = field(default_factory=dict)
    description: str = ""
    raw: dict[str, Any] = field(default_factory=dict, repr=False)

    @property
    def searched(self) -> list[ParamSpec]:
        """The entries Optuna samples (fixed values left out)."""
        return [s for s in self.specs if s.searched]

    def spec_by_name(self, name: str) -> ParamSpec | None:
        """The entry of an Optuna parameter name (``model_params.C_svm``), or None."""
        return next((s for s in self.specs if s.name == name), None)

    def fingerprint(self) -> str:
        """Canonical JSON of everything that changes trial scores (the description does not)."""
        return canon({k: v for k, v in self.raw.items() if k not in ("description", "train")})

    def resolve(self, choose: Chooser) -> Config:
        """Walk the entries in order, asking ``choose`` for each active one (``UNSET``: leave it out)."""
        cfg: Config = {"features": None, "feature_params": {}, "model": None, "model_params": {}}
        set_by: dict[tuple[str, str], str] = {}
        for spec in self.specs:
            if not all(_holds(cfg, sec, par, allowed) for sec, par, allowed in spec.when):
                continue
            value = choose(spec)
            if value is UNSET:
                continue
            if spec.section in ("features", "model"):
                cfg[spec.section] = value
                continue
            other = set_by.get((spec.section, spec.param))
            if other is not None:
                raise ConfigError(f"{spec.section}.{other} and {spec.section}.{spec.key} both set {spec.param!r} "
                                  "in this trial: make their 'when' conditions exclusive")
            set_by[(spec.section, spec.param)] = spec.key
            cfg[spec.section][spec.param] = value
        return cfg

    def sample(self, trial: Any) -> Config:
        """The configuration of an Optuna trial (conditional entries sampled only when they apply)."""
        return self.resolve(lambda spec: spec.suggest(trial))

    def fixed_config(self, config: Mapping[str, Any], trial: Any | None = None) -> Config:
        """A given configuration (e.g. ``default``) completed with the space's fixed values.

        Parameters it names are used verbatim; with ``trial``, those an entry of the space could have
        suggested are also recorded in the trial (so the sampler learns from it).
        """
        def choose(spec: ParamSpec) -> Any:
            if spec.section in ("features", "model"):
                value = config.get(spec.section, UNSET)
                if value is UNSET:
                    return spec.values[0] if spec.kind == "fixed" else UNSET
            else:
                value = config.get(spec.section, {}).get(spec.param, UNSET)
                if value is UNSET:
                    return spec.values[0] if spec.kind == "fixed" else UNSET
            if trial is not None and spec.contains(value):
                return spec.suggest(trial)  # the trial was enqueued with this value: recorded, not sampled
            return value

        cfg = self.resolve(choose)
        for section in ("feature_params", "model_params"):
            for k, v in (config.get(section) or {}).items():
                cfg[section].setdefault(k, v)
        return cfg

    def fixed_params(self, config: Mapping[str, Any]) -> dict[str, Any]:
        """The Optuna parameters to enqueue for a fixed configuration (those the space can represent)."""
        found: dict[str, Any] = {}

        def record(spec: ParamSpec) -> Any:
            value = (config.get(spec.section, UNSET) if spec.section in ("features", "model")
                     else config.get(spec.section, {}).get(spec.param, UNSET))
            if value is UNSET:
                return spec.values[0] if spec.kind == "fixed" else UNSET
            if spec.contains(value):
                found[spec.name] = spec.encode(value)
            return value

        self.resolve(record)
        return found

    def decode_params(self, params: Mapping[str, Any]) -> dict[str, Any]:
        """Optuna's stored parameters of a trial → their values (lists and objects decoded)."""
        out = {}
        for name, value in params.items():
            spec = self.spec_by_name(name)
            out[name] = spec.decode(value) if spec is not None else value
        return out


def _holds(cfg: Config, section: str, param: str, allowed: frozenset[str]) -> bool:
    value = cfg[section] if section in ("features", "model") else cfg[section].get(param, UNSET)
    return value is not UNSET and canon(value) in allowed

