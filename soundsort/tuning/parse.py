"""Reading search spaces: shipped space names and files, JSON parsing, and validation to a :class:`SearchSpace`.

Every error is one :class:`~soundsort.errors.ConfigError` line naming the file and the key (the format is
described in :mod:`soundsort.tuning`).
"""

from __future__ import annotations

import dataclasses
import functools
import json
import re
from collections.abc import Callable
from pathlib import Path
from typing import Any

from soundsort.errors import ConfigError
from soundsort.registry import Registry
from soundsort.tuning.space import Config, ParamSpec, SearchSpace, canon, is_int, is_number

SPACES_DIR = Path(__file__).resolve().parents[1] / "assets" / "tune"

#: keys a space file may have
TOP_KEYS = ("description", "task", "folds", "repeats", "metric", "group_pattern", "groups_csv", "features",
            "feature_params", "model", "model_params", "default", "pruner", "train")
DIST_KEYS = ("choice", "int", "uniform", "loguniform", "value")
_EXTRA_KEYS = {"choice": (), "int": ("step", "log"), "uniform": ("step",), "loguniform": (), "value": ()}
SECTIONS = ("features", "model", "feature_params", "model_params")
#: metrics a study can maximize (``pr_auc``, ``precision``, ``recall``, ``f1`` only for the binary music task)
BINARY_METRICS = ("f1", "precision", "recall", "pr_auc", "accuracy", "f1_macro")
MULTI_METRICS = ("f1_macro", "accuracy", "precision_macro", "recall_macro")
#: TrainConfig fields the search decides (so a space's ``train`` section cannot set them; ``seed`` is the
#: name ``random_state`` had before)
DECIDED = ("task", "features", "feature_params", "model", "model_params", "folds", "repeats", "random_state",
           "seed", "group_pattern", "groups_csv", "jobs", "cache", "members")


def _register_shipped() -> None:
    """Register every space file in ``SPACES_DIR`` under its name, described by its own ``description``'s
    first part (up to the first ``": "``)."""
    for path in sorted(SPACES_DIR.glob("*.json")):
        try:
            doc = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            doc = {}
        text = doc.get("description", "") if isinstance(doc, dict) else ""
        SPACES.register(path.stem, functools.partial(load_space, path), str(text).split(": ", 1)[0])


#: The shipped search spaces: name → ``factory() -> SearchSpace`` (the file, read and validated).
SPACES: Registry[Callable[[], SearchSpace]] = Registry("tune space", loader=_register_shipped)


def shipped_spaces() -> list[str]:
    """Names of the search spaces shipped in ``soundsort/assets/tune``."""
    return SPACES.names()


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
    from soundsort.dataset.tasks import TASKS, get_task, task_names

    if task.strip().lower() not in TASKS:
        from soundsort.suggest import did_you_mean

        known = task_names()
        fail("task", f"unknown task {task!r}{did_you_mean(task, known)}; known: {', '.join(known)}")
    binary = get_task(task).binary
    folds = doc.get("folds", 5)
    if not is_int(folds) or folds < 2:
        fail("folds", f"must be an integer >= 2, got {folds!r}")
    repeats = doc.get("repeats", 1)
    if not is_int(repeats) or repeats < 1:
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
            if "min_resource" in p and (not is_int(p["min_resource"]) or p["min_resource"] < 1):
                fail("pruner.min_resource", "must be an integer >= 1")
            if "reduction_factor" in p and (not is_int(p["reduction_factor"]) or p["reduction_factor"] < 2):
                fail("pruner.reduction_factor", "must be an integer >= 2")
            pruner = dict(p)
        else:
            fail("pruner", "must be false or {\"min_resource\": N, \"reduction_factor\": N}")

    train_opts = doc.get("train", {})
    if not isinstance(train_opts, dict):
        fail("train", "must be an object of `soundsort train` options")
    from soundsort.workflows import TrainConfig

    known = {f.name for f in dataclasses.fields(TrainConfig)} - set(DECIDED)
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
        canons = [canon(v) for v in body]
        if len(set(canons)) != len(canons):
            fail(f"{where}.choice", "has the same value twice")
        return ParamSpec(section, key, param, "choice", tuple(body), when=when_raw)  # type: ignore[arg-type]
    if not isinstance(body, list) or len(body) != 2 or not all(is_number(v) for v in body):
        fail(f"{where}.{kind}", "must be [low, high] (two numbers)")
    low, high = body
    if kind == "int":
        if not all(is_int(v) for v in body):
            fail(f"{where}.int", f"bounds must be integers, got {body}")
        if low > high:
            fail(f"{where}.int", f"low {low} is above high {high}")
        if not isinstance(log, bool):
            fail(f"{where}.log", "must be true or false")
        if step is not None:
            if not is_int(step) or step < 1:
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
        if not is_number(step) or step <= 0:
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
            allowed_canon = frozenset(canon(v) for v in values)
            possible: set[str] | None = set()
            for s in earlier:
                p = s.possible()
                possible = None if p is None or possible is None else possible | p
            if possible is not None:
                never = [v for v, c in zip(values, (canon(v) for v in values)) if c not in possible]
                if never:
                    what = sec if sec in ("features", "model") else f"{sec}.{par}"
                    fail(f"{where}.when.{ref}", f"{never[0]!r} is never a value of {what}")
            conds.append((sec, par, allowed_canon))
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
        from soundsort.models.registry import MODELS  # the registry loads its built-ins on first look-up

        if name not in MODELS:
            fail("model", f"unknown model {name!r} (known: {', '.join(MODELS.names())})")


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

