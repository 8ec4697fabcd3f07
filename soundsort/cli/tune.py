"""``soundsort tune``: hyperparameter search (``tune`` is a plain function, registered at the bottom as
``app.command("tune")(tune)``, so a test can put it on an app of its own).

Errors a user can cause are :class:`~soundsort.errors.SoundsortError`\\ s: :func:`soundsort.cli.main` prints them
as one line. Trial lines go to stderr, the summary tables to stdout.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.table import Table

from soundsort.cli.common import errline
from soundsort.cli.root import app
from soundsort.errors import ConfigError


def tune(
    data: Annotated[list[Path], typer.Argument(help="Dataset folder(s): one sub-folder per label.")],
    space: Annotated[str, typer.Option("--space", "-s", help="Search space: a JSON file, or a shipped space "
                                       "(`soundsort list` names them all: genre-cnn, genre-embeddings, "
                                       "genre-finetune, music-classical, music-embeddings).")],
    trials: Annotated[int, typer.Option("--trials", "-n", help="Trials to run now (added to the study's earlier "
                                        "ones).")] = 20,
    timeout: Annotated[Optional[float], typer.Option(help="Start no new trial after this many seconds.")] = None,
    study_name: Annotated[Optional[str], typer.Option(help="Study name (default: the space's name). The same "
                                                      "name and storage continue the study.")] = None,
    storage: Annotated[Optional[str], typer.Option(help="Optuna storage: an SQLAlchemy URL or an SQLite file "
                                                   "(default RUNS/tune/STUDY.db).")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder to save the best model in "
                                                   "(default RUNS/tune/STUDY-model).")] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace a model already in --output.")] = False,
    runs: Annotated[Path, typer.Option(help="Where run folders (reports) and the default study storage "
                                       "go.")] = Path("runs"),
    seed: Annotated[int, typer.Option(help="Seed of the CV splits, the models and the sampler.")] = 0,
    task: Annotated[Optional[str], typer.Option(help="music or genre (default: the space's own task).")] = None,
    group_pattern: Annotated[Optional[str], typer.Option(help="Regex on file names giving the group, e.g. "
                                                         "'^(\\d+)-' (default: the space's).")] = None,
    groups_csv: Annotated[Optional[Path], typer.Option(help="CSV with columns path,group (e.g. artists; default: "
                                                       "the space's).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help="Parallel featurizing and model threads "
                                                "(0 = one per core; default: the config file's jobs, else 0).",
                                                show_default=False)] = None,
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache.")] = True,
    mlflow: Annotated[Optional[bool], typer.Option("--mlflow/--no-mlflow", help="Log the study's best run to MLflow "
                                                   "(default: when MLFLOW_TRACKING_URI is set).")] = None,
) -> None:
    """Search feature sets, models and their parameters on DATA (Optuna, grouped CV), then save the best as a model.

    Weak trials are pruned after their first folds (Hyperband). Running the same command again continues
    the study; Ctrl-C stops it and still trains the best trial so far.
    """
    from soundsort.tuning import load_space, run_study

    import os

    from soundsort.settings import current

    if trials < 0:
        raise ConfigError(f"--trials must be >= 0, got {trials}")
    jobs = current().jobs if jobs is None else jobs
    if jobs < 0:
        raise ConfigError(f"--jobs must be >= 0, got {jobs}")
    jobs = jobs or (os.cpu_count() or 1)
    spc = load_space(space)
    if task is not None or group_pattern is not None or groups_csv is not None:  # the space, as the options say
        from soundsort.tuning import parse_space

        doc = dict(spc.raw)
        doc.update({k: v for k, v in (("task", task), ("group_pattern", group_pattern),
                                      ("groups_csv", str(groups_csv) if groups_csv else None)) if v is not None})
        spc = parse_space(doc, name=spc.name, source=spc.source)
    out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)

    def progress(done: int, total: int, line: str) -> None:
        errline(f"[{done}/{total}] {line}" if total else f"[{done}] {line}")

    from soundsort.evaluation.tracking import log_run, tracking_wanted

    # the final training run is logged below, once its folder also holds tuning.json
    res = run_study(data, spc, study_name=study_name, storage=storage, n_trials=trials, timeout=timeout,
                    random_state=seed, jobs=jobs, cache=cache, runs_dir=runs, model_dir=output, overwrite=overwrite,
                    progress=progress, log=errline, train_options={"mlflow": False})
    if tracking_wanted(mlflow) and res.run_dir is not None:
        metrics = {f"best_{res.metric}": res.best_value, "trials_complete": res.n_complete,
                   "trials_pruned": res.n_pruned, "trials_failed": res.n_failed}
        if res.default_value is not None:
            metrics[f"default_{res.metric}"] = res.default_value
        log_run(res.run_dir, name=f"tune-{res.study_name}", runs_dir=runs, metrics=metrics,
                params={"study": res.study_name, "space": str(space), **res.best_config})

    best = next(t for t in res.trials if t.number == res.best_trial)
    table = Table(title=f"best trial {res.best_trial}: mean CV {res.metric} {res.best_value:.3f}")
    table.add_column("parameter")
    table.add_column("value")
    table.add_column("", style="dim")
    searched = {(sp.section, sp.param) for sp in map(spc.spec_by_name, best.params) if sp is not None}

    def mark(section: str, param: str) -> str:
        return "searched" if (section, param) in searched else ""

    table.add_row("features", str(best.config["features"]), mark("features", "features"))
    for k, v in best.config["feature_params"].items():
        table.add_row(f"  {k}", _show(v), mark("feature_params", k))
    table.add_row("model", str(best.config["model"]), mark("model", "model"))
    for k, v in best.config["model_params"].items():
        table.add_row(f"  {k}", _show(v), mark("model_params", k))
    out.print(table)

    top = Table(title=f"top {len(res.top)} of {res.n_complete} complete trials")
    for col, just in (("rank", "right"), ("trial", "right"), (res.metric, "right"), ("features", "left"),
                      ("model", "left"), ("parameters", "left"), ("seconds", "right")):
        top.add_column(col, justify=just)  # type: ignore[arg-type]
    for i, t in enumerate(res.top, start=1):
        top.add_row(str(i), str(t.number) + (" (default)" if t.role == "default" else ""), f"{t.value:.3f}",
                    str(t.config.get("features")), str(t.config.get("model")), t.short_params() or "–",
                    "" if t.seconds is None else f"{t.seconds:.1f}")
    out.print(top)
    out.print(f"trials: {res.n_trials} in the study ({res.n_complete} complete, {res.n_pruned} pruned, "
              f"{res.n_failed} failed); {res.n_new} in this run, {res.seconds:.0f}s"
              + (" (interrupted)" if res.interrupted else ""))
    if res.default_value is not None:
        gain = res.best_value - res.default_value
        out.print(f"default configuration (trial {res.default_trial}): {res.metric} {res.default_value:.3f}; "
                  f"best {res.best_value:.3f} ({gain:+.3f})")
    if res.final_cv is not None and abs(res.final_cv - res.best_value) > 1e-6:
        out.print(f"note: the final training run's CV {res.metric} is {res.final_cv:.3f}")
    reasons: dict[str, list[int]] = {}
    for t in res.trials:
        if t.state == "failed" and t.duplicate_of is None:
            reasons.setdefault(t.reason, []).append(t.number)
    for reason, numbers in list(reasons.items())[:5]:
        shown = ", ".join(map(str, numbers[:8])) + (", ..." if len(numbers) > 8 else "")
        errline(f"failed trial{'s' if len(numbers) > 1 else ''} {shown}: {reason}")
    if len(reasons) > 5:
        errline(f"... and {len(reasons) - 5} other reasons for failed trials (every trial is in the tuning summary)")
    out.print(f"report: {res.report}")
    out.print(f"tuning summary: {res.tuning_json}")
    if res.model_dir:
        out.print(f"model saved to {res.model_dir}")
    out.print(f"study: {res.study_name} in {res.storage} (run the same command again to continue it)")


def _show(v: object) -> str:
    import json

    if isinstance(v, float):
        return f"{v:.4g}"
    return v if isinstance(v, str) else json.dumps(v)


app.command("tune")(tune)

__all__ = ["tune"]
