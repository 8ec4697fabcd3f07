"""Hyperparameter search: an Optuna study over feature sets, their parameters, models and theirs.

A *search space* is a JSON file (shipped ones live in ``soundsort/assets/tune/``; see
:func:`shipped_spaces`)::

    {
      "description": "free text",
      "task": "genre",                                  # required: "music" (binary) or "genre" (any name)
      "folds": 5, "repeats": 1,                         # grouped, stratified CV of every trial
      "metric": "f1_macro",                             # default: f1 (of music) for music, f1_macro otherwise
      "group_pattern": "^(\\d+)-",                      # as `soundsort train --group-pattern`
      "features": {"choice": ["mel", "stft", "multi_stft"]},
      "feature_params": {
        "n_mels": {"int": [64, 128], "step": 32, "when": {"features": "mel"}},
        "n_fft": {"choice": [1024, 2048], "when": {"features": ["mel", "stft"]}},
        "hop_length": {"choice": [256, 512]},
        "n_ffts": {"choice": [[256, 512, 1024], [512, 1024, 2048]], "when": {"features": "multi_stft"}}
      },
      "model": "cnn",
      "model_params": {
        "lr": {"loguniform": [1e-4, 1e-2]},
        "dropout": {"uniform": [0.1, 0.6]},
        "max_epochs": 40
      },
      "default": {"features": "mel", "model": "cnn", "model_params": {"lr": 0.001}},
      "pruner": {"min_resource": 1, "reduction_factor": 3},
      "train": {"learning_curve": false}
    }

Every parameter (``features``, ``model`` and each entry of ``feature_params`` / ``model_params``) is one of

* a fixed value: any JSON value that is not an object (``40``, ``"mean"``, ``[256, 128]``), or
  ``{"value": ANY}`` (needed for an object value, or to give a fixed value a ``when``);
* ``{"choice": [v1, v2, ...]}``: one of the values (numbers, strings, booleans, null, lists, objects);
* ``{"int": [low, high]}``, optional ``"step"`` (``high - low`` a multiple of it) or ``"log": true``;
* ``{"uniform": [low, high]}``, optional ``"step"``;
* ``{"loguniform": [low, high]}`` with ``0 < low < high``.

``"when": {REF: VALUE or [VALUES...]}`` makes a parameter conditional: it is sampled (and passed on) only
when every REF currently holds VALUE (or one of VALUES; to compare with a list value write ``[[...]]``).
REF is ``features``, ``model``, ``feature_params.NAME``, ``model_params.NAME``, or a bare ``NAME`` of the
same section; it must be decided earlier (``features`` and ``model`` first, then ``feature_params`` and
``model_params`` in file order); a parameter that was not set never matches. ``"param": NAME`` lets
several entries (different keys, exclusive ``when``\\ s) set the same parameter with different ranges,
e.g. ``C`` of logreg and of svm. Without a ``when``, a parameter is passed whatever the feature set or
model; a combination a feature set or model refuses makes that trial *failed* (with its reason), and the
study goes on.

Every entry is passed under its own name to :func:`~soundsort.features.registry.get_featurizer` or
:func:`~soundsort.models.classical.make_model`: a new feature set or model (e.g. ``cnn``) is searched as
soon as it is registered, with the parameter names its factory takes.

``default`` is the baseline configuration (``features``, ``model`` — required when the space searches
them — and any ``feature_params`` / ``model_params``; unnamed parameters keep the feature set's and model's
own defaults, the space's fixed values apply): it is evaluated verbatim as trial 0 of a new study, and the
summary compares it with the best trial. ``pruner``: the Hyperband pruner's ``min_resource`` (default 1)
and ``reduction_factor`` (default 3; 2 with 3 folds or fewer), the resource being CV folds done, or
``false`` for none; a trial is never pruned after its last fold. ``train``: extra
:class:`~soundsort.workflows.TrainConfig` options for the final training of the best trial
(``learning_curve``, ``calibration``, ...).

:func:`run_study` runs the study: every trial is scored by grouped CV at the file level (the same splits
as ``soundsort train`` with the same seed); the running mean is reported after each fold so Hyperband can
prune weak trials early. Storage defaults to ``RUNS/tune/STUDY.db`` (SQLite), so running again continues
the study (``n_trials`` more trials; TPE learns from the earlier ones). A configuration already scored
in the study is not fitted again. Feature tables are built once per distinct feature configuration (and
come from the on-disk feature cache after that). The best trial is then trained with
:func:`soundsort.workflows.train` exactly as ``soundsort train`` would, and ``tuning.json`` (study summary,
every trial) is written into its run folder.

optuna is imported lazily: importing this module works without it.
"""

from __future__ import annotations

import dataclasses
import json
import math
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import ConfigError, DatasetError, ModelError, SoundsortError

SPACES_DIR = Path(__file__).resolve().parent / "assets" / "tune"

#: keys a space file may have
TOP_KEYS = ("description", "task", "folds", "repeats", "metric", "group_pattern", "groups_csv", "features",
            "feature_params", "model", "model_params", "default", "pruner", "train")
DIST_KEYS = ("choice", "int", "uniform", "loguniform", "value")
_EXTRA_KEYS = {"choice": (), "int": ("step", "log"), "uniform": ("step",), "loguniform": (), "value": ()}
SECTIONS = ("features", "model", "feature_params", "model_params")
#: metrics a study can maximize (``pr_auc``, ``precision``, ``recall``, ``f1`` only for the binary music task)
BINARY_METRICS = ("f1", "precision", "recall", "pr_auc", "accuracy", "f1_macro")
MULTI_METRICS = ("f1_macro", "accuracy", "precision_macro", "recall_macro")
#: TrainConfig fields the search decides (so a space's ``train`` section cannot set them)
_DECIDED = ("task", "features", "feature_params", "model", "model_params", "folds", "repeats", "seed",
            "group_pattern", "groups_csv", "jobs", "cache", "members")

_UNSET = object()
_SCALARS = (type(None), bool, int, float, str)


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("hyperparameter search needs optuna, which is not installed: "
                          "pip install 'soundsort[tune]' (or pip install optuna)") from None
    return optuna


def _norm(value: Any) -> Any:
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, (list, tuple)):
        return [_norm(v) for v in value]
    if isinstance(value, dict):
        return {str(k): _norm(v) for k, v in value.items()}
    return value


def _canon(value: Any) -> str:
    """Canonical JSON of a value (tuples as lists, sorted keys, 3.0 as 3): how values are compared."""
    return json.dumps(_norm(value), sort_keys=True, separators=(",", ":"), default=list)


def _is_number(x: Any) -> bool:
    return isinstance(x, (int, float)) and not isinstance(x, bool) and math.isfinite(x)


def _is_int(x: Any) -> bool:
    return isinstance(x, int) and not isinstance(x, bool)


def _fmt_value(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.4g}"
    if isinstance(v, str):
        return v
    return json.dumps(v)


# ------------------------------------------------------------------------------------------ the space


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
        return _canon(value) if self._encoded else value

    def decode(self, value: Any) -> Any:
        return json.loads(value) if self._encoded else value

    def possible(self) -> set[str] | None:
        """Canonical values this entry can take, or None for a numeric range."""
        if self.kind in ("fixed", "choice"):
            return {_canon(v) for v in self.values}
        return None

    def contains(self, value: Any) -> bool:
        """Whether Optuna could suggest ``value`` for this entry."""
        if self.kind == "fixed":
            return False
        if self.kind == "choice":
            return _canon(value) in self.possible()  # type: ignore[operator]
        low, high = self.values
        if self.kind == "int":
            if not _is_int(value) or not low <= value <= high:
                return False
            return self.log or (value - low) % (self.step or 1) == 0
        if not _is_number(value) or not low <= value <= high:
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
            text = _fmt_value(self.values[0])
        elif self.kind == "choice":
            text = "choice " + " | ".join(_fmt_value(v) for v in self.values)
        else:
            text = f"{self.kind} {_fmt_value(self.values[0])}..{_fmt_value(self.values[1])}"
            if self.step:
                text += f" step {_fmt_value(self.step)}"
            if self.log:
                text += " log"
        if self.when:
            conds = ", ".join(f"{s if s in ('features', 'model') else s + '.' + p} in "
                              f"{' | '.join(_fmt_value(json.loads(x)) for x in sorted(v))}" for s, p, v in self.when)
            text += f" (when {conds})"
        return text


Config = dict[str, Any]
Chooser = Callable[[ParamSpec], Any]


@dataclass
class SearchSpace:
    """A validated search space (see the module docstring); build with :func:`load_space` / :func:`parse_space`."""

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
        return [s for s in self.specs if s.searched]

    def spec_by_name(self, name: str) -> ParamSpec | None:
        return next((s for s in self.specs if s.name == name), None)

    def fingerprint(self) -> str:
        """Canonical JSON of everything that changes trial scores (the description does not)."""
        return _canon({k: v for k, v in self.raw.items() if k not in ("description", "train")})

    def resolve(self, choose: Chooser) -> Config:
        """Walk the entries in order, asking ``choose`` for each active one (``_UNSET``: leave it out)."""
        cfg: Config = {"features": None, "feature_params": {}, "model": None, "model_params": {}}
        set_by: dict[tuple[str, str], str] = {}
        for spec in self.specs:
            if not all(_holds(cfg, sec, par, allowed) for sec, par, allowed in spec.when):
                continue
            value = choose(spec)
            if value is _UNSET:
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
                value = config.get(spec.section, _UNSET)
                if value is _UNSET:
                    return spec.values[0] if spec.kind == "fixed" else _UNSET
            else:
                value = config.get(spec.section, {}).get(spec.param, _UNSET)
                if value is _UNSET:
                    return spec.values[0] if spec.kind == "fixed" else _UNSET
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
            value = (config.get(spec.section, _UNSET) if spec.section in ("features", "model")
                     else config.get(spec.section, {}).get(spec.param, _UNSET))
            if value is _UNSET:
                return spec.values[0] if spec.kind == "fixed" else _UNSET
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
    value = cfg[section] if section in ("features", "model") else cfg[section].get(param, _UNSET)
    return value is not _UNSET and _canon(value) in allowed


# ------------------------------------------------------------------------------------------- parsing


def shipped_spaces() -> list[str]:
    """Names of the search spaces shipped in ``soundsort/assets/tune``."""
    return sorted(p.stem for p in SPACES_DIR.glob("*.json"))


def space_path(spec: str | Path) -> Path:
    """A space file: ``spec`` itself when it is a file, else the shipped space of that name."""
    p = Path(spec)
    if p.is_file():
        return p
    name = p.name[:-5] if p.name.endswith(".json") else p.name
    shipped = SPACES_DIR / f"{name}.json"
    if str(spec) == p.name and shipped.is_file():
        return shipped
    raise ConfigError(f"search space {str(spec)!r} is neither a file nor a shipped space "
                      f"(shipped: {', '.join(shipped_spaces()) or 'none'})")


def load_space(spec: str | Path, *, check_names: bool = True) -> SearchSpace:
    """Read and validate a space file (a path, or the name of a shipped space)."""
    path = space_path(spec)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"cannot read the search space ({exc.strerror})", path) from None

    def no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for k, v in pairs:
            if k in out:
                raise ConfigError(f"duplicate key {k!r}", path)
            out[k] = v
        return out

    try:
        doc = json.loads(text, object_pairs_hook=no_duplicates)
    except json.JSONDecodeError as exc:
        raise ConfigError(f"not valid JSON (line {exc.lineno}, column {exc.colno}: {exc.msg})", path) from None
    return parse_space(doc, name=path.stem, source=str(path), check_names=check_names)


def parse_space(doc: Any, *, name: str = "space", source: str = "space", check_names: bool = True) -> SearchSpace:
    """Validate a space document; errors are one :class:`ConfigError` line naming the key.

    ``check_names``: also require every feature set and model named to be registered.
    """
    def fail(key: str, reason: str) -> None:
        raise ConfigError(f"{key}: {reason}" if key else reason, source)

    if not isinstance(doc, dict):
        fail("", "a search space is a JSON object")
    unknown = [k for k in doc if k not in TOP_KEYS]
    if unknown:
        fail(unknown[0], f"unknown key (allowed: {', '.join(TOP_KEYS)})")
    for required in ("task", "features", "model"):
        if required not in doc:
            fail(required, "missing (required)")
    task = doc["task"]
    if not isinstance(task, str) or not task.strip():
        fail("task", "must be a task name such as 'music' or 'genre'")
    from soundsort.dataset.tasks import TASKS, get_task

    if task.strip().lower() not in TASKS:
        from soundsort.suggest import did_you_mean

        fail("task", f"unknown task {task!r}{did_you_mean(task, TASKS)}; known: {', '.join(TASKS)}")
    binary = get_task(task).binary
    folds = doc.get("folds", 5)
    if not _is_int(folds) or folds < 2:
        fail("folds", f"must be an integer >= 2, got {folds!r}")
    repeats = doc.get("repeats", 1)
    if not _is_int(repeats) or repeats < 1:
        fail("repeats", f"must be an integer >= 1, got {repeats!r}")
    allowed_metrics = BINARY_METRICS if binary else MULTI_METRICS
    metric = doc.get("metric", "f1" if binary else "f1_macro")
    if metric not in allowed_metrics:
        fail("metric", f"{metric!r} is not one of {', '.join(allowed_metrics)} (task {task!r})")
    group_pattern = doc.get("group_pattern")
    if group_pattern is not None:
        if not isinstance(group_pattern, str):
            fail("group_pattern", "must be a regular expression (a string)")
        try:
            re.compile(group_pattern)
        except re.error as exc:
            fail("group_pattern", f"not a valid regular expression ({exc})")
    groups_csv = doc.get("groups_csv")
    if groups_csv is not None and not isinstance(groups_csv, str):
        fail("groups_csv", "must be a file path (a string)")
    description = doc.get("description", "")
    if not isinstance(description, str):
        fail("description", "must be a string")

    specs: list[ParamSpec] = []
    for section in ("features", "model"):
        spec = _parse_spec(section, section, section, doc[section], fail)
        if spec.when:
            fail(section, "'when' is only for feature_params and model_params entries")
        for v in spec.values if spec.kind in ("fixed", "choice") else ():
            if not isinstance(v, str) or not v:
                fail(section, f"must name {'feature sets' if section == 'features' else 'models'} (strings), "
                              f"got {v!r}")
        if spec.kind not in ("fixed", "choice"):
            fail(section, "must be a name or {\"choice\": [names...]}")
        if check_names:
            for v in spec.values:
                _check_name(section, v, fail)
        specs.append(spec)
    for section in ("feature_params", "model_params"):
        entries = doc.get(section, {})
        if not isinstance(entries, dict):
            fail(section, "must be an object of parameter: value or distribution")
        for key, raw in entries.items():
            if not isinstance(key, str) or not key:
                fail(section, "parameter names must be non-empty strings")
            specs.append(_parse_spec(section, key, f"{section}.{key}", raw, fail))
    specs = _check_when(specs, fail)

    default = doc.get("default")
    if default is not None:
        default = _check_default(default, specs, check_names, fail)

    pruner: dict[str, int] | None = {}
    if "pruner" in doc:
        p = doc["pruner"]
        if p is False or p is None:
            pruner = None
        elif isinstance(p, dict):
            bad = [k for k in p if k not in ("min_resource", "reduction_factor")]
            if bad:
                fail(f"pruner.{bad[0]}", "unknown key (allowed: min_resource, reduction_factor)")
            if "min_resource" in p and (not _is_int(p["min_resource"]) or p["min_resource"] < 1):
                fail("pruner.min_resource", "must be an integer >= 1")
            if "reduction_factor" in p and (not _is_int(p["reduction_factor"]) or p["reduction_factor"] < 2):
                fail("pruner.reduction_factor", "must be an integer >= 2")
            pruner = dict(p)
        else:
            fail("pruner", "must be false or {\"min_resource\": N, \"reduction_factor\": N}")

    train_opts = doc.get("train", {})
    if not isinstance(train_opts, dict):
        fail("train", "must be an object of `soundsort train` options")
    from soundsort.workflows import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)} - set(_DECIDED)
    for k in train_opts:
        if k not in known:
            fail(f"train.{k}", f"not a training option the search leaves open (allowed: {', '.join(sorted(known))})")

    return SearchSpace(name=name, source=source, task=task.strip().lower(), specs=specs, folds=folds,
                       repeats=repeats, metric=metric, group_pattern=group_pattern, groups_csv=groups_csv,
                       default=default, pruner=pruner, train=dict(train_opts), description=description,
                       raw=json.loads(json.dumps(doc)))


def _parse_spec(section: str, key: str, where: str, raw: Any, fail: Callable[[str, str], None]) -> ParamSpec:
    if not isinstance(raw, dict):
        return ParamSpec(section, key, key, "fixed", (raw,))
    kinds = [k for k in DIST_KEYS if k in raw]
    if len(kinds) != 1:
        fail(where, f"an object needs exactly one of {', '.join(DIST_KEYS)} "
                    "(write {\"value\": {...}} for a fixed object)" if not kinds
             else f"has both {kinds[0]!r} and {kinds[1]!r}")
    kind = kinds[0]
    allowed = {kind, "when", "param", *_EXTRA_KEYS[kind]}
    extra = [k for k in raw if k not in allowed]
    if extra:
        fail(f"{where}.{extra[0]}", f"unknown key for a {kind!r} parameter (allowed: {', '.join(sorted(allowed))})")
    param = raw.get("param", key)
    if not isinstance(param, str) or not param:
        fail(f"{where}.param", "must be a parameter name (a non-empty string)")
    when = raw.get("when")
    when_raw: tuple = ()
    if when is not None:
        if not isinstance(when, dict) or not when:
            fail(f"{where}.when", "must be an object {REF: value or [values...]}")
        when_raw = tuple(when.items())
    body = raw[kind]
    step, log = raw.get("step"), raw.get("log", False)
    if kind == "value":
        return ParamSpec(section, key, param, "fixed", (body,), when=when_raw)  # type: ignore[arg-type]
    if kind == "choice":
        if not isinstance(body, list) or not body:
            fail(f"{where}.choice", "must be a non-empty list of values")
        canon = [_canon(v) for v in body]
        if len(set(canon)) != len(canon):
            fail(f"{where}.choice", "has the same value twice")
        return ParamSpec(section, key, param, "choice", tuple(body), when=when_raw)  # type: ignore[arg-type]
    if not isinstance(body, list) or len(body) != 2 or not all(_is_number(v) for v in body):
        fail(f"{where}.{kind}", "must be [low, high] (two numbers)")
    low, high = body
    if kind == "int":
        if not all(_is_int(v) for v in body):
            fail(f"{where}.int", f"bounds must be integers, got {body}")
        if low > high:
            fail(f"{where}.int", f"low {low} is above high {high}")
        if not isinstance(log, bool):
            fail(f"{where}.log", "must be true or false")
        if step is not None:
            if not _is_int(step) or step < 1:
                fail(f"{where}.step", f"must be a positive integer, got {step!r}")
            if log and step != 1:
                fail(f"{where}.step", "cannot be combined with log")
            if (high - low) % step:
                fail(f"{where}.step", f"high - low ({high - low}) is not a multiple of step {step}")
        if log and low < 1:
            fail(f"{where}.int", "log needs low >= 1")
        return ParamSpec(section, key, param, "int", (int(low), int(high)), step=step, log=log,
                         when=when_raw)  # type: ignore[arg-type]
    if not low < high:
        fail(f"{where}.{kind}", f"needs low < high, got [{low}, {high}]")
    if kind == "loguniform" and low <= 0:
        fail(f"{where}.loguniform", f"needs 0 < low, got {low}")
    if step is not None:
        if not _is_number(step) or step <= 0:
            fail(f"{where}.step", f"must be a positive number, got {step!r}")
        k = (high - low) / step
        if abs(k - round(k)) > 1e-9:
            fail(f"{where}.step", f"high - low ({high - low:g}) is not a multiple of step {step:g}")
    return ParamSpec(section, key, param, kind, (float(low), float(high)), step=step,
                     when=when_raw)  # type: ignore[arg-type]


def _check_when(specs: list[ParamSpec], fail: Callable[[str, str], None]) -> list[ParamSpec]:
    """Resolve each ``when`` reference to (section, param, allowed canonical values) and check it."""
    out: list[ParamSpec] = []
    for i, spec in enumerate(specs):
        where = spec.name
        conds = []
        for ref, allowed in spec.when:  # type: ignore[misc]
            if not isinstance(ref, str) or not ref:
                fail(f"{where}.when", "references must be strings")
            if ref in ("features", "model"):
                sec, par = ref, ref
            elif "." in ref and ref.split(".", 1)[0] in ("feature_params", "model_params"):
                sec, par = ref.split(".", 1)
            else:
                sec, par = spec.section, ref
            earlier = [s for s in out if s.section == sec and s.param == par]
            if not earlier:
                later = [s for s in specs[i:] if s.section == sec and s.param == par]
                fail(f"{where}.when.{ref}", "refers to a parameter decided later (order: features, model, "
                     "feature_params, model_params, each in file order)" if later
                     else "refers to no parameter of this space")
            values = allowed if isinstance(allowed, list) else [allowed]
            if not values:
                fail(f"{where}.when.{ref}", "needs a value or a non-empty list of values")
            canon = frozenset(_canon(v) for v in values)
            possible: set[str] | None = set()
            for s in earlier:
                p = s.possible()
                possible = None if p is None or possible is None else possible | p
            if possible is not None:
                never = [v for v, c in zip(values, (_canon(v) for v in values)) if c not in possible]
                if never:
                    what = sec if sec in ("features", "model") else f"{sec}.{par}"
                    fail(f"{where}.when.{ref}", f"{never[0]!r} is never a value of {what}")
            conds.append((sec, par, canon))
        out.append(dataclasses.replace(spec, when=tuple(conds)))
    by_param: dict[tuple[str, str], list[ParamSpec]] = {}
    for s in out:
        by_param.setdefault((s.section, s.param), []).append(s)
    for (sec, par), group in by_param.items():
        if sec in ("features", "model"):
            continue
        loose = [s for s in group if not s.when]
        if len(group) > 1 and loose:
            other = next(s for s in group if s is not loose[0])
            fail(f"{sec}.{loose[0].key}", f"sets {par!r} like {sec}.{other.key}: give each a 'when' so only one "
                                          "applies")
    return out


def _check_name(section: str, name: str, fail: Callable[[str, str], None]) -> None:
    if section == "features":
        from soundsort.features.registry import featurizer_names

        known = featurizer_names()
        parts = name.split("+") if name not in known else [name]
        missing = [p for p in parts if p not in known]
        if missing:
            fail("features", f"unknown feature set {missing[0]!r} (known: {', '.join(known)})")
    else:
        import soundsort.models  # noqa: F401  (registers every built-in model)
        from soundsort.models.classical import model_names

        if name not in model_names():
            fail("model", f"unknown model {name!r} (known: {', '.join(model_names())})")


def _check_default(default: Any, specs: list[ParamSpec], check_names: bool,
                   fail: Callable[[str, str], None]) -> Config:
    if not isinstance(default, dict):
        fail("default", "must be an object with features, model, feature_params, model_params")
    bad = [k for k in default if k not in SECTIONS]
    if bad:
        fail(f"default.{bad[0]}", f"unknown key (allowed: {', '.join(SECTIONS)})")
    for section in ("features", "model"):
        spec = next(s for s in specs if s.section == section)
        if section not in default:
            if spec.searched:
                fail(f"default.{section}", "missing (the space searches it, so the default must name one)")
            continue
        if not isinstance(default[section], str) or not default[section]:
            fail(f"default.{section}", "must be a name")
        if check_names:
            _check_name(section, default[section], lambda k, r: fail(f"default.{k}", r))
    for section in ("feature_params", "model_params"):
        if not isinstance(default.get(section, {}), dict):
            fail(f"default.{section}", "must be an object of parameter: value")
    return json.loads(json.dumps(default))


# ---------------------------------------------------------------------------------------------- study


@dataclass
class TrialSummary:
    """One trial, as the summary shows it."""

    number: int
    state: str  # complete, pruned, failed, running, waiting
    value: float | None  # the mean CV score (complete trials)
    last_value: float | None  # the last running mean reported (pruned trials: where they stopped)
    folds_done: int
    config: Config
    params: dict[str, Any]  # the searched values (Optuna names)
    seconds: float | None
    reason: str = ""  # failed: why; pruned: where
    role: str = ""  # "default" for the baseline trial
    duplicate_of: int | None = None
    searched: dict[str, Any] = field(default_factory=dict)  # searched parameter name → value (no features/model)

    def short_params(self) -> str:
        """``n_mels=96 lr=0.0012`` of the searched parameters (features and model left out)."""
        return " ".join(f"{k}={_fmt_value(v)}" for k, v in self.searched.items())


@dataclass
class StudyResult:
    """What :func:`run_study` did and found."""

    study_name: str
    storage: str
    metric: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_config: Config
    n_complete: int
    n_pruned: int
    n_failed: int
    n_trials: int  # every trial of the study, this run's and earlier ones
    n_new: int  # trials run by this call
    trials: list[TrialSummary]
    top: list[TrialSummary]
    default_trial: int | None = None
    default_value: float | None = None
    final_cv: float | None = None  # the best configuration's mean CV score in the final training run
    model_dir: Path | None = None
    run_dir: Path | None = None
    report: Path | None = None
    tuning_json: Path | None = None
    train_result: dict[str, Any] = field(default_factory=dict, repr=False)
    interrupted: bool = False
    seconds: float = 0.0


def default_storage(runs_dir: str | Path, study_name: str) -> str:
    """``sqlite:///RUNS/tune/STUDY.db`` (absolute path; the folder is created)."""
    folder = Path(runs_dir).resolve() / "tune"
    folder.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{folder / (_safe(study_name) + '.db')}"


def _safe(name: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-.") or "study"


def _storage_url(storage: str | Path | None, runs_dir: str | Path, study_name: str) -> str:
    if storage is None:
        return default_storage(runs_dir, study_name)
    text = str(storage)
    if "://" in text:
        return text
    path = Path(text).expanduser().resolve()
    path.parent.mkdir(parents=True, exist_ok=True)
    return f"sqlite:///{path}"


def _public_url(url: str) -> str:
    """The storage URL without a password."""
    return re.sub(r"://([^:/@]+):[^@/]*@", r"://\1:***@", url)


class _Tables:
    """The dataset index (built once) and feature tables per distinct featurizer (kept while they fit)."""

    def __init__(self, roots: Sequence[str | Path], space: SearchSpace, *, jobs: int, cache: bool,
                 log: Callable[[str], None], max_bytes: int) -> None:
        from soundsort.workflows import index_dataset

        self.roots, self.space, self.jobs, self.cache, self.log = list(roots), space, jobs, cache, log
        self.max_bytes = max_bytes
        t0 = time.perf_counter()
        self.index = index_dataset(self.roots, group_pattern=space.group_pattern, groups_csv=space.groups_csv,
                                   jobs=jobs)
        if not self.index.items:
            raise DatasetError("no usable audio files", ", ".join(map(str, self.roots)))
        log(f"indexed {len(self.index.items)} files ({len(self.index.skipped)} skipped) in "
            f"{time.perf_counter() - t0:.1f}s")
        self._check_splits()
        self._tables: OrderedDict[str, Any] = OrderedDict()
        self.built = 0

    def _check_splits(self) -> None:
        """Dataset problems that would fail every trial (too few classes or groups) are raised once, here."""
        from soundsort.dataset.splits import grouped_kfold
        from soundsort.dataset.tasks import get_task

        task = get_task(self.space.task)
        classes = [task.class_of(it.label) for it in self.index.items]
        if len(set(classes)) < 2:
            raise DatasetError(f"task {task.name!r} needs at least 2 classes, found {sorted(set(classes))}"
                               + (" (the music task needs a 'music' folder and another one)" if task.binary else ""),
                               ", ".join(map(str, self.roots)))
        grouped_kfold(classes, self.index.groups(), self.space.folds, seed=0)

    def get(self, featurizer: Any) -> Any:
        from soundsort.cache import canonical_json
        from soundsort.workflows import prepare

        key = canonical_json(featurizer.params())
        if key in self._tables:
            self._tables.move_to_end(key)
            return self._tables[key]
        t0 = time.perf_counter()
        prep = prepare(self.roots, self.space.task, featurizer, jobs=self.jobs, cache=self.cache, index=self.index)
        self.built += 1
        n_ok = len(np.unique(prep.table.file_index))
        if n_ok == 0:
            reasons = sorted({r for _, r in prep.table.failed})
            raise DatasetError(f"no file could be featurized with {featurizer.name}"
                               + (f" ({reasons[0]})" if reasons else ""))
        shape = "×".join(str(d) for d in prep.table.values.shape[1:])
        self.log(f"features {featurizer.name}: {n_ok} files, {len(prep.table.values)} segments × {shape} "
                 f"in {time.perf_counter() - t0:.1f}s")
        self._tables[key] = prep
        while len(self._tables) > 1 and sum(p.table.values.nbytes for p in self._tables.values()) > self.max_bytes:
            self._tables.popitem(last=False)
        return prep


def _trial_seconds(t: Any) -> float | None:
    if t.datetime_start is None:
        return None
    end = t.datetime_complete
    if end is None:
        return None
    return round((end - t.datetime_start).total_seconds(), 2)


def summarize_trial(space: SearchSpace, t: Any) -> TrialSummary:
    """A :class:`TrialSummary` of an Optuna ``FrozenTrial`` of a study over ``space``."""
    state = t.state.name.lower()
    state = {"fail": "failed"}.get(state, state)
    steps = sorted(t.intermediate_values)
    last = float(t.intermediate_values[steps[-1]]) if steps else None
    reason = str(t.user_attrs.get("fail_reason", "")) if state == "failed" else ""
    if state == "failed" and not reason:
        reason = "interrupted" if t.user_attrs.get("interrupted") else "lost: its process stopped (no reason recorded)"
    if state == "pruned" and steps:
        reason = f"pruned after fold {steps[-1]} (running mean {last:.3f})"
    cfg = t.user_attrs.get("config") or {}
    params = space.decode_params(t.params)
    searched = {}
    for name, value in params.items():
        spec = space.spec_by_name(name)
        if spec is not None and spec.section not in ("features", "model"):
            searched[spec.param] = value
    return TrialSummary(number=t.number, state=state, value=None if t.value is None else float(t.value),
                        last_value=last, folds_done=len(steps), config=cfg, params=params,
                        seconds=_trial_seconds(t), reason=reason, role=str(t.user_attrs.get("role", "")),
                        duplicate_of=t.user_attrs.get("duplicate_of"), searched=searched)


def _one_line(exc: BaseException) -> str:
    text = str(exc) if isinstance(exc, SoundsortError) else f"{type(exc).__name__}: {exc}"
    return " ".join(text.split())[:500]


def _pruner(optuna: Any, space: SearchSpace, n_steps: int) -> Any:
    """Hyperband over CV folds: resource = folds done (1..n_steps)."""
    if space.pruner is None:
        return optuna.pruners.NopPruner()
    rf = space.pruner.get("reduction_factor", 2 if n_steps <= 3 else 3)
    min_resource = space.pruner.get("min_resource", 1)
    if min_resource >= n_steps:
        return optuna.pruners.NopPruner()
    return optuna.pruners.HyperbandPruner(min_resource=min_resource, max_resource=n_steps, reduction_factor=rf)


def run_study(
    roots: Sequence[str | Path],
    space: SearchSpace | str | Path,
    *,
    study_name: str | None = None,
    storage: str | Path | None = None,
    n_trials: int | None = 20,
    timeout: float | None = None,
    seed: int = 0,
    jobs: int = 1,
    cache: bool = True,
    runs_dir: str | Path = "runs",
    model_dir: str | Path | None = None,
    overwrite: bool = False,
    train_options: Mapping[str, Any] | None = None,
    progress: Callable[[int, int, str], None] | None = None,
    log: Callable[[str], None] = lambda s: None,
    max_table_bytes: int = 2 << 30,
) -> StudyResult:
    """Search ``space`` on the labelled data under ``roots``; save the best trial as a normal model.

    ``n_trials`` trials are *added* to the study (``None``: until ``timeout`` seconds). The study lives in
    ``storage`` (an SQLAlchemy URL or an SQLite file; default ``RUNS/tune/STUDY.db``) under
    ``study_name`` (default: the space's name): calling again with the same name continues it (a study
    started with another space, data or seed is refused). ``progress(done, total, line)`` is called after
    each trial, ``log(line)`` for indexing and featurizing. Ctrl-C stops the search and still trains the
    best trial so far. The best configuration is trained by :func:`soundsort.workflows.train` into
    ``model_dir`` (default ``RUNS/tune/STUDY-model``, replaced on each run; an explicit folder holding a
    model needs ``overwrite``), and ``tuning.json`` goes into that run's folder.
    """
    optuna = _optuna()
    import soundsort.models  # noqa: F401  (registers every built-in model)
    from soundsort.dataset.splits import repeated_grouped_kfold
    from soundsort.evaluation.crossval import fit_on_files, predict_files
    from soundsort.evaluation.metrics import classification_metrics
    from soundsort.features.registry import get_featurizer
    from soundsort.models.classical import make_model
    from soundsort.workflows import TrainConfig, train

    if not isinstance(space, SearchSpace):
        space = load_space(space)
    if n_trials is not None and (not _is_int(n_trials) or n_trials < 0):
        raise ConfigError(f"the number of trials must be an integer >= 0, got {n_trials!r}")
    if n_trials is None and timeout is None:
        raise ConfigError("give a number of trials or a timeout")
    if timeout is not None and not timeout > 0:
        raise ConfigError(f"timeout must be positive seconds, got {timeout!r}")
    if not roots:
        raise ConfigError("give at least one dataset folder")
    study_name = study_name or space.name
    url = _storage_url(storage, runs_dir, study_name)
    if model_dir is None:
        model_dir, overwrite = Path(runs_dir) / "tune" / f"{_safe(study_name)}-model", True
    model_dir = Path(model_dir)
    if (model_dir / "model.json").exists() and not overwrite:
        raise ModelError("a model already exists here (use --overwrite to replace it)", model_dir)
    train_opts = {**space.train, **dict(train_options or {})}
    open_opts = {f.name for f in dataclasses.fields(TrainConfig)} - set(_DECIDED)
    bad = sorted(set(train_opts) - open_opts)
    if bad:
        raise ConfigError(f"unknown training option {bad[0]!r} (allowed: {', '.join(sorted(open_opts))})")

    t_start = time.perf_counter()
    tables = _Tables(roots, space, jobs=jobs, cache=cache, log=log, max_bytes=max_table_bytes)
    n_steps = space.folds * space.repeats
    key = space.metric
    data_id = [str(Path(r).resolve()) for r in roots]
    identity = {"space": space.fingerprint(), "data": data_id, "seed": seed, "task": space.task}

    old_verbosity = optuna.logging.get_verbosity()
    optuna.logging.set_verbosity(optuna.logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            engine = {"connect_args": {"timeout": 60}} if url.startswith("sqlite") else {}
            try:
                store = optuna.storages.RDBStorage(url, engine_kwargs=engine, heartbeat_interval=60,
                                                   grace_period=180)
            except Exception as exc:  # a bad URL, a driver missing, a database that cannot be opened
                raise ConfigError(f"cannot open the study storage {_public_url(url)} ({_one_line(exc)})") from None
            study = optuna.create_study(study_name=study_name, storage=store, direction="maximize",
                                        pruner=_pruner(optuna, space, n_steps), load_if_exists=True)
        if study.direction != optuna.study.StudyDirection.MAXIMIZE:
            raise ConfigError(f"study {study_name!r} in {_public_url(url)} does not maximize; use another study name")
        recorded = study.user_attrs.get("soundsort")
        if recorded is None:
            if study.trials:
                raise ConfigError(f"study {study_name!r} in {_public_url(url)} was not made by soundsort tune; "
                                  "use another study name")
            study.set_user_attr("soundsort", identity)
            study.set_user_attr("space_source", space.source)
        else:
            for what, label in (("space", "search space"), ("data", "data"), ("task", "task"), ("seed", "seed")):
                if recorded.get(what) != identity[what]:
                    shown = "" if what == "space" else f" ({recorded.get(what)})"
                    raise ConfigError(f"study {study_name!r} in {_public_url(url)} was started with another "
                                      f"{label}{shown}; use the same one to continue it, or another --study-name")
        n_before = len(study.trials)
        study.sampler = optuna.samplers.TPESampler(seed=seed + n_before)
        if space.default is not None and n_before == 0:
            study.enqueue_trial(space.fixed_params(space.default), user_attrs={"role": "default"})

        def objective(trial: Any) -> float:
            try:
                if trial.user_attrs.get("role") == "default" and space.default is not None:
                    cfg = space.fixed_config(space.default, trial)
                else:
                    cfg = space.sample(trial)
                trial.set_user_attr("config", cfg)
                dup = _duplicate(trial, cfg)
                if dup is not None:
                    trial.set_user_attr("duplicate_of", dup.number)
                    if dup.state.name == "FAIL":
                        raise ConfigError(str(dup.user_attrs.get("fail_reason")))
                    for step, v in sorted(dup.intermediate_values.items()):
                        trial.report(v, step)
                    trial.set_user_attr("fold_scores", dup.user_attrs.get("fold_scores", []))
                    return float(dup.value)
                return _score(trial, cfg)
            except optuna.TrialPruned:
                raise
            except KeyboardInterrupt:
                trial.set_user_attr("interrupted", True)  # not a reason to skip this configuration later
                raise
            except Exception as exc:
                trial.set_user_attr("fail_reason", _one_line(exc))
                raise

        def _duplicate(trial: Any, cfg: Config) -> Any:
            want = _canon(cfg)
            for t in trial.study.get_trials(deepcopy=False):
                if t.number == trial.number or t.user_attrs.get("config") is None:
                    continue
                ok = t.state.name == "COMPLETE" or (t.state.name == "FAIL" and t.user_attrs.get("fail_reason"))
                if ok and _canon(t.user_attrs["config"]) == want:
                    return t
            return None

        def _score(trial: Any, cfg: Config) -> float:
            featurizer = get_featurizer(cfg["features"], **cfg["feature_params"])
            try:
                estimator = make_model(cfg["model"], seed=seed, n_jobs=jobs, **cfg["model_params"])
            except TypeError as exc:  # a factory given a parameter it does not take
                raise ConfigError(f"model {cfg['model']!r}: {exc}") from None
            prep = tables.get(featurizer)
            X, fi, y, groups = prep.table.values, prep.table.file_index, prep.y_file, prep.groups
            files = np.unique(fi)
            splits = list(repeated_grouped_kfold(y[files], groups[files], space.folds, space.repeats, seed))
            scores: list[float] = []
            for step, (_, _, tr, te) in enumerate(splits, start=1):
                model = fit_on_files(estimator, X, fi, y, files[tr], groups)
                proba = predict_files(model, X, fi, files[te], len(prep.labels), len(y))
                m = classification_metrics(y[files[te]], proba[files[te]], prep.labels, positive=prep.positive)
                if key not in m or not math.isfinite(float(m[key])):
                    raise ConfigError(f"metric {key!r} is undefined on fold {step}")
                scores.append(float(m[key]))
                running = float(np.mean(scores))
                trial.report(running, step)
                trial.set_user_attr("fold_scores", scores)
                if step < len(splits) and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {step}: mean {key} {running:.3f}")
            return float(np.mean(scores))

        done = 0

        def callback(study: Any, frozen: Any) -> None:
            nonlocal done
            done += 1
            if progress is not None:
                s = summarize_trial(space, frozen)
                what = f"{s.config.get('features')} / {s.config.get('model')}"
                extra = s.short_params()
                if s.state == "complete":
                    line = f"trial {s.number}: {key} {s.value:.3f}"
                elif s.state == "pruned":
                    line = f"trial {s.number}: {s.reason}"
                else:
                    line = f"trial {s.number}: failed: {s.reason}"
                line += f" — {what}" + (f" {extra}" if extra else "") + (" (default)" if s.role == "default" else "")
                if s.duplicate_of is not None:
                    line += f" (same as trial {s.duplicate_of})"
                progress(done, n_trials or 0, line)

        interrupted = False
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
                study.optimize(objective, n_trials=n_trials, timeout=timeout, catch=(Exception,),
                               callbacks=[callback])
        except KeyboardInterrupt:
            interrupted = True
            log("interrupted: training the best trial so far (Ctrl-C again to stop)")
        all_trials = study.get_trials(deepcopy=False)
    finally:
        optuna.logging.set_verbosity(old_verbosity)

    summaries = [summarize_trial(space, t) for t in all_trials]
    complete = [s for s in summaries if s.state == "complete"]
    n_pruned = sum(s.state == "pruned" for s in summaries)
    n_failed = sum(s.state == "failed" for s in summaries)
    if not complete:
        reasons = [s.reason for s in summaries if s.state == "failed"]
        common = max(set(reasons), key=reasons.count) if reasons else "none ran"
        raise ConfigError(f"no trial of study {study_name!r} completed ({n_pruned} pruned, {n_failed} failed; "
                          f"e.g. {common})")
    top = sorted(complete, key=lambda s: (-s.value, s.number))  # type: ignore[operator]
    best = top[0]
    default = next((s for s in summaries if s.role == "default"), None)
    cfg = TrainConfig(task=space.task, features=best.config["features"],
                      feature_params=dict(best.config["feature_params"]), model=best.config["model"],
                      model_params=dict(best.config["model_params"]), folds=space.folds, repeats=space.repeats,
                      seed=seed, group_pattern=space.group_pattern, groups_csv=space.groups_csv, jobs=jobs,
                      cache=cache, **train_opts)
    notes = (f"Chosen by `soundsort tune` (study {study_name!r}, search space {space.name}): trial {best.number} of "
             f"{len(summaries)} ({len(complete)} complete, {n_pruned} pruned, {n_failed} failed), mean CV {key} "
             f"{best.value:.3f}" + (f"; the default configuration scored {default.value:.3f}"
                                    if default is not None and default.value is not None else "") + ".")
    log(f"training the best trial ({best.number}, {key} {best.value:.3f}) into {model_dir}")
    res = train(roots, cfg, model_dir=model_dir, runs_dir=runs_dir, overwrite=overwrite, log=log, notes=notes)
    final_cv = (res.get("cv") or {}).get(key, {})
    final_value = float(final_cv["mean"]) if isinstance(final_cv, dict) and "mean" in final_cv else None

    result = StudyResult(
        study_name=study_name, storage=_public_url(url), metric=key, best_trial=best.number,
        best_value=float(best.value),  # type: ignore[arg-type]
        best_params=best.params, best_config=best.config, n_complete=len(complete), n_pruned=n_pruned,
        n_failed=n_failed, n_trials=len(summaries), n_new=done, trials=summaries, top=top[:5],
        default_trial=default.number if default else None, default_value=default.value if default else None,
        final_cv=final_value, model_dir=Path(res["model_dir"]) if res.get("model_dir") else None,
        run_dir=Path(res["run_dir"]), report=Path(res["report"]) if res.get("report") else None,
        train_result=res, interrupted=interrupted, seconds=round(time.perf_counter() - t_start, 1))
    result.tuning_json = _write_summary(result, space, data_id, seed)
    return result


def _trial_doc(s: TrialSummary) -> dict[str, Any]:
    return {"number": s.number, "state": s.state, "value": s.value, "last_value": s.last_value,
            "folds_done": s.folds_done, "seconds": s.seconds, "role": s.role or None, "reason": s.reason or None,
            "duplicate_of": s.duplicate_of, "params": s.params, "config": s.config}


def _write_summary(r: StudyResult, space: SearchSpace, data: list[str], seed: int) -> Path:
    """``tuning.json`` in the run folder, and a section appended to its report."""
    from soundsort.atomic import atomic_open, write_json

    assert r.run_dir is not None
    doc = {
        "study_name": r.study_name, "storage": r.storage, "space_name": space.name, "space_source": space.source,
        "space": space.raw, "data": data, "seed": seed, "metric": r.metric, "direction": "maximize",
        "best": {"trial": r.best_trial, "value": r.best_value, "params": r.best_params, "config": r.best_config},
        "final_cv": r.final_cv,
        "default": None if r.default_trial is None else {
            "trial": r.default_trial, "value": r.default_value,
            "improvement": None if r.default_value is None else r.best_value - r.default_value},
        "counts": {"total": r.n_trials, "complete": r.n_complete, "pruned": r.n_pruned, "failed": r.n_failed,
                   "this_run": r.n_new},
        "interrupted": r.interrupted, "seconds": r.seconds,
        "model_dir": str(r.model_dir) if r.model_dir else None,
        "top": [s.number for s in r.top],
        "trials": [_trial_doc(s) for s in r.trials],
    }
    path = r.run_dir / "tuning.json"
    write_json(path, doc)
    if r.report is not None and r.report.is_file():
        lines = ["", "## Hyperparameter search", "",
                 f"Study **{r.study_name}** ({r.storage}), search space `{space.name}`, maximizing mean CV "
                 f"{r.metric}: {r.n_trials} trials ({r.n_complete} complete, {r.n_pruned} pruned, "
                 f"{r.n_failed} failed; {r.n_new} in this run). This model is trial {r.best_trial}: "
                 f"{r.metric} {r.best_value:.3f}"
                 + (f"; the default configuration (trial {r.default_trial}) scored {r.default_value:.3f}"
                    if r.default_value is not None else "") + ". Every trial is in `tuning.json`.", "",
                 f"| rank | trial | {r.metric} | features | model | parameters |", "|---|---|---|---|---|---|"]
        for i, s in enumerate(r.top, start=1):
            lines.append(f"| {i} | {s.number} | {s.value:.3f} | {s.config.get('features')} | "
                         f"{s.config.get('model')} | {s.short_params() or '–'} |")
        lines.append("")
        text = r.report.read_text(encoding="utf-8")
        with atomic_open(r.report, "w", encoding="utf-8") as fh:
            fh.write(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    return path


__all__ = [
    "ParamSpec", "SearchSpace", "StudyResult", "TrialSummary", "default_storage", "load_space", "parse_space",
    "run_study", "shipped_spaces", "space_path", "summarize_trial",
]
