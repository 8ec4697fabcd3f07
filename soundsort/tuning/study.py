"""The Optuna runner: :func:`run_study` scores every trial by grouped CV
(:func:`soundsort.evaluation.crossval.cross_validate`, reporting the running mean after each fold so
Hyperband can prune), keeps the study in its storage, and trains the best trial as a normal model.

optuna is imported lazily: importing this module works without it.
"""

from __future__ import annotations

import dataclasses
import math
import re
import time
import warnings
from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import ConfigError, DatasetError, ModelError, SoundsortError
from soundsort.tuning.parse import DECIDED, load_space
from soundsort.tuning.results import StudyResult, summarize_trial, write_summary
from soundsort.tuning.space import Config, SearchSpace, canon, is_int


def _optuna() -> Any:
    try:
        import optuna
    except ImportError:
        raise ConfigError("hyperparameter search needs optuna, which is not installed: "
                          "pip install 'soundsort[tune]' (or pip install optuna)") from None
    return optuna


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
        grouped_kfold(classes, self.index.groups(), self.space.folds, random_state=0)

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
    random_state: int = 0,
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
    started with another space, data or ``random_state`` is refused; one recorded as ``seed`` by an earlier
    version reads the same). ``random_state`` seeds the CV splits (those of ``soundsort train`` with the
    same value), the models and the sampler. ``progress(done, total, line)`` is called after each trial,
    ``log(line)`` for indexing and featurizing. Ctrl-C stops the search and still trains the best trial so
    far. The best configuration is trained by :func:`soundsort.workflows.train` into
    ``model_dir`` (default ``RUNS/tune/STUDY-model``, replaced on each run; an explicit folder holding a
    model needs ``overwrite``), and ``tuning.json`` goes into that run's folder.
    """
    optuna = _optuna()
    from soundsort.evaluation.crossval import cross_validate
    from soundsort.features.registry import get_featurizer
    from soundsort.models.registry import make_model
    from soundsort.workflows import TrainConfig, train

    if not isinstance(space, SearchSpace):
        space = load_space(space)
    if n_trials is not None and (not is_int(n_trials) or n_trials < 0):
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
    open_opts = {f.name for f in dataclasses.fields(TrainConfig)} - set(DECIDED)
    bad = sorted(set(train_opts) - open_opts)
    if bad:
        raise ConfigError(f"unknown training option {bad[0]!r} (allowed: {', '.join(sorted(open_opts))})")

    t_start = time.perf_counter()
    tables = _Tables(roots, space, jobs=jobs, cache=cache, log=log, max_bytes=max_table_bytes)
    n_steps = space.folds * space.repeats
    key = space.metric
    data_id = [str(Path(r).resolve()) for r in roots]
    identity = {"space": space.fingerprint(), "data": data_id, "random_state": random_state, "task": space.task}

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
            if "random_state" not in recorded and "seed" in recorded:  # a study begun before the rename
                recorded = {**recorded, "random_state": recorded["seed"]}
            for what, label in (("space", "search space"), ("data", "data"), ("task", "task"),
                                ("random_state", "random_state")):
                if recorded.get(what) != identity[what]:
                    shown = "" if what == "space" else f" ({recorded.get(what)})"
                    raise ConfigError(f"study {study_name!r} in {_public_url(url)} was started with another "
                                      f"{label}{shown}; use the same one to continue it, or another --study-name")
        n_before = len(study.trials)
        study.sampler = optuna.samplers.TPESampler(seed=random_state + n_before)
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
            want = canon(cfg)
            for t in trial.study.get_trials(deepcopy=False):
                if t.number == trial.number or t.user_attrs.get("config") is None:
                    continue
                ok = t.state.name == "COMPLETE" or (t.state.name == "FAIL" and t.user_attrs.get("fail_reason"))
                if ok and canon(t.user_attrs["config"]) == want:
                    return t
            return None

        def _score(trial: Any, cfg: Config) -> float:
            featurizer = get_featurizer(cfg["features"], **cfg["feature_params"])
            try:
                estimator = make_model(cfg["model"], random_state=random_state, n_jobs=jobs, **cfg["model_params"])
            except TypeError as exc:  # a factory given a parameter it does not take
                raise ConfigError(f"model {cfg['model']!r}: {exc}") from None
            prep = tables.get(featurizer)
            scores: list[float] = []

            def on_fold(step: int, m: dict[str, Any]) -> None:
                if key not in m or not math.isfinite(float(m[key])):
                    raise ConfigError(f"metric {key!r} is undefined on fold {step}")
                scores.append(float(m[key]))
                running = float(np.mean(scores))
                trial.report(running, step)
                trial.set_user_attr("fold_scores", scores)
                if step < n_steps and trial.should_prune():
                    raise optuna.TrialPruned(f"pruned after fold {step}: mean {key} {running:.3f}")

            cross_validate(estimator, prep.table.values, prep.table.file_index, prep.y_file, prep.groups,
                           prep.labels, n_splits=space.folds, n_repeats=space.repeats, random_state=random_state,
                           positive=prep.positive, on_fold=on_fold)
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
                      random_state=random_state, group_pattern=space.group_pattern, groups_csv=space.groups_csv,
                      jobs=jobs, cache=cache, **train_opts)
    notes = (f"Chosen by `soundsort tune` (study {study_name!r}, search space {space.name}): trial {best.number} of "
             f"{len(summaries)} ({len(complete)} complete, {n_pruned} pruned, {n_failed} failed), mean CV {key} "
             f"{best.value:.3f}" + (f"; the default configuration scored {default.value:.3f}"
                                    if default is not None and default.value is not None else "") + ".")
    log(f"training the best trial ({best.number}, {key} {best.value:.3f}) into {model_dir}")
    res = train(roots, cfg, model_dir=model_dir, runs_dir=runs_dir, overwrite=overwrite, log=log, notes=notes)
    final_cv = (res.cv or {}).get(key, {})
    final_value = float(final_cv["mean"]) if isinstance(final_cv, dict) and "mean" in final_cv else None

    result = StudyResult(
        study_name=study_name, storage=_public_url(url), metric=key, best_trial=best.number,
        best_value=float(best.value),  # type: ignore[arg-type]
        best_params=best.params, best_config=best.config, n_complete=len(complete), n_pruned=n_pruned,
        n_failed=n_failed, n_trials=len(summaries), n_new=done, trials=summaries, top=top[:5],
        default_trial=default.number if default else None, default_value=default.value if default else None,
        final_cv=final_value, model_dir=Path(res.model_dir) if res.model_dir else None,
        run_dir=Path(res.run_dir), report=Path(res.report) if res.report else None,
        train_result=res, interrupted=interrupted, seconds=round(time.perf_counter() - t_start, 1))
    result.tuning_json = write_summary(result, space, data_id, random_state)
    return result
