"""The ``soundsort`` command line (typer + rich).

Errors a user can cause print one line (``soundsort: <file>: <reason>``) on stderr and exit non-zero;
never a traceback. Progress bars go to stderr so stdout stays clean for JSON / CSV.

Exit status: 0 everything done; 1 done, but some inputs failed (a bad file, tags not written); 2 a usage
error (an unknown option or value, options that do not go together: nothing was run); 3 nothing could be done
(no input found, a model or dataset that cannot be used, an output that would be overwritten); 130
interrupted (Ctrl-C); 141 stdout was closed (``| head``): the command ends quietly.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import sys
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from soundsort.errors import SoundsortError, display_path, os_reason

#: exit statuses (see the module's notes and the README)
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_NOTHING_DONE, EXIT_INTERRUPTED, EXIT_CLOSED_STDOUT = 0, 1, 2, 3, 130, 141

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Music vs non-music detection and genre classification for audio files and collections.",
                  epilog="Exit status: 0 done, 1 some inputs failed, 2 usage error, 3 nothing could be done. "
                         "Defaults from ~/.config/soundsort/config.toml and SOUNDSORT_* variables "
                         "(`soundsort config`).")
err = Console(stderr=True, highlight=False)
# a pipe or a file gets wide tables (no terminal width to fit); a terminal gets its own width
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


#: -q (-1), default (0), -v (1): set by the app's callback (``soundsort -q CMD`` or ``soundsort CMD -q``)
_VERBOSITY = 0
_INTERRUPT_SAID = False  # a command already said how far it got when Ctrl-C came


def _errline(msg: str) -> None:
    """One unwrapped line on stderr (greppable: one line per bad file)."""
    sys.stderr.write(" ".join(str(msg).split()) + "\n")
    sys.stderr.flush()


def _info(msg: str) -> None:
    """A line on stderr that ``-q`` silences (notes, stages, what was written); errors use :func:`_errline`."""
    if _VERBOSITY >= 0:
        _errline(msg)


def _usage(msg: str) -> None:
    """A usage error: one line, exit 2, nothing was run."""
    _fail(msg, EXIT_USAGE)


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("soundsort")
        except PackageNotFoundError:
            v = "unknown"
        sys.stdout.write(f"soundsort {v}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr: no progress, notes or "
                                        "summaries of what was written (also after the command: `soundsort "
                                        "classify -q ...`).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More on stderr: what the decoder reported about "
                                          "files it still decoded (also after the command).")] = False,
) -> None:
    """Music vs non-music detection and genre classification for audio files and collections."""
    global _VERBOSITY
    if quiet and verbose:
        _usage("-q / --quiet and -v / --verbose do not go together")
    _VERBOSITY = -1 if quiet else 1 if verbose else 0


_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """``soundsort CMD ... -q`` means ``soundsort -q CMD ...``: the global flags move to the front (those
    after ``--`` stay where they are)."""
    front, rest = [], []
    end = argv.index("--") if "--" in argv else len(argv)
    for i, arg in enumerate(argv):
        if i < end and arg in _GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
    return front + rest


def _examples(*lines: str) -> str:
    """A command's ``--help`` epilog: examples, one per line."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def _outline(msg: str) -> None:
    """One unwrapped line on stdout, flushed at once (a log a person or a script can follow)."""
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def _clean_leftovers(path: Path) -> None:
    """Remove the temporary files a killed run left beside ``path`` (see :mod:`soundsort.atomic`), saying so."""
    from soundsort.atomic import remove_stale_temporaries

    removed = remove_stale_temporaries(path)
    if removed:
        _errline(f"soundsort: {display_path(path)}: removed {len(removed)} temporary file"
                 f"{'s' if len(removed) > 1 else ''} left by an interrupted run "
                 f"({', '.join(display_path(p.name) for p in removed)})")


def _check_format(fmt: str, choices: tuple[str, ...]) -> str:
    """``fmt`` when it is one of ``choices``, else a usage error naming the close one."""
    if fmt not in choices:
        from soundsort.suggest import unknown

        _usage(unknown("format", fmt, choices))
    return fmt


def _fail(msg: str, code: int = EXIT_NOTHING_DONE) -> None:
    """One line on stderr and exit: by default 3, nothing could be done (:func:`_usage` for usage errors)."""
    _errline(f"soundsort: {msg}")
    raise typer.Exit(code)


@contextmanager
def _progress(description: str, enabled: bool = True) -> Iterator:
    """A rich progress bar on stderr (a terminal, or ``SOUNDSORT_PROGRESS=1``; never with ``-q``, or with
    ``SOUNDSORT_PROGRESS=0``), naming the file being worked on; yields ``update(done, total, path)``."""
    wanted = os.environ.get("SOUNDSORT_PROGRESS")
    if not enabled or _VERBOSITY < 0 or wanted == "0" or not err.is_terminal and wanted != "1":
        yield lambda done, total, path=None: None
        return
    cols = [TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(),
            TextColumn("eta"), TimeRemainingColumn(), TextColumn("{task.fields[current]}", style="dim")]
    with Progress(*cols, console=err, transient=True) as prog:
        task = prog.add_task(description, total=None, current="")

        def update(done: int, total: int, path=None) -> None:
            name = "" if path is None else display_path(Path(str(path)).name)
            prog.update(task, completed=done, total=total, current=name[:40])

        yield update


def _parse_params(items: list[str] | None) -> dict:
    """``key=value`` pairs; values parsed as JSON when they can be (numbers, true/false, null)."""
    params = {}
    for item in items or []:
        if "=" not in item:
            _usage(f"parameter {item!r} is not key=value")
        k, v = item.split("=", 1)
        try:
            params[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            params[k.strip()] = v
    return params


# ---------------------------------------------------------------------------------------------- index

_JOBS_HELP = ("Parallel jobs (0 = one per core; default: jobs in the config file or $SOUNDSORT_JOBS, else 0).")
_DATA_HELP = ("Dataset folder(s): one sub-folder per label; or LABEL=FOLDER, every audio file under FOLDER "
              "has label LABEL (e.g. music=instruments/). Each folder is one data source.")
_SOURCES_HELP = ("CSV with columns path,source naming each file's data source (paths relative to the dataset "
                 "root they are under, or absolute); default: the root's folder name.")

@app.command(epilog=_examples('soundsort index DATA/ -o index.json', "soundsort index ESC10/ --group-pattern '^(\\d+)-'", 'soundsort index fma_small/ --labels-csv tracks.csv --header-rows 3 --path-column track_id --label-column track.genre_top'))
def index(
    data: Annotated[list[Path], typer.Argument(help=_DATA_HELP)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Index file to write.")] = None,
    group_pattern: Annotated[Optional[str], typer.Option(help="Regex on file names giving the group, e.g. '^(\\d+)-'.")] = None,
    groups_csv: Annotated[Optional[Path], typer.Option(help="CSV with columns path,group (e.g. artists).")] = None,
    sources_csv: Annotated[Optional[Path], typer.Option(help=_SOURCES_HELP)] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index file.")] = False,
    labels_csv: Annotated[Optional[Path], typer.Option(help=_LABELS_CSV_HELP)] = None,
    path_column: Annotated[str, typer.Option(help="--labels-csv: the column with each file's path (or file id).")] = "path",
    label_column: Annotated[str, typer.Option(help="--labels-csv: the column with the label (e.g. track.genre_top).")] = "label",
    group_column: Annotated[Optional[str], typer.Option(help="--labels-csv: a column of groups kept on one side of every split (e.g. artist.name).")] = None,
    header_rows: Annotated[int, typer.Option(help="--labels-csv: header rows (FMA's tracks.csv: 3; columns are then named top.sub).")] = 1,
    missing_files: Annotated[str, typer.Option(help="--labels-csv: a row whose file is not there is an 'error', or 'skip'ped.")] = "error",
) -> None:
    """Find labelled audio under DATA, validate every file, and write a dataset index (JSON)."""
    from soundsort.workflows import index_dataset

    table = _labels_table(labels_csv, path_column, label_column, group_column, header_rows, missing_files)
    with _progress("checking files") as update:
        idx = index_dataset(data, group_pattern=group_pattern, groups_csv=groups_csv, sources_csv=sources_csv,
                            jobs=_threads(jobs), progress=update, labels_table=table)
    for note in idx.notes:
        _errline(note)
    target = output or Path("soundsort-index.json")
    if target.exists() and not overwrite:
        _fail(f"{display_path(target)}: already exists (use --overwrite to replace it, or --output)")
    _clean_leftovers(target)
    idx.save(target)
    table = Table(title=f"{len(idx.items)} files, {len(idx.label_map)} labels")
    table.add_column("label")
    table.add_column("id", justify="right")
    table.add_column("files", justify="right")
    table.add_column("minutes", justify="right")
    for label, i in idx.label_map.items():
        items = [it for it in idx.items if it.label == label]
        table.add_row(label, str(i), str(len(items)), f"{sum(it.duration for it in items) / 60:.1f}")
    out.print(table)
    out.print("sources: " + ", ".join(f"{name} ({n} files)" for name, n in idx.summary()["sources"].items()))
    for s in idx.skipped:
        _errline(f"skipped {display_path(s.path)}: {s.reason}")
    out.print(f"index written to {target}" + (f" ({len(idx.skipped)} files skipped)" if idx.skipped else ""))


_LABELS_CSV_HELP = ("Labels from a table instead of folders (FMA's tracks.csv): a CSV with a path column (relative "
                    "to DATA, or a file id) and a label column; DATA is then one folder.")


def _labels_table(labels_csv: Path | None, path_column: str, label_column: str, group_column: str | None,
                  header_rows: int, missing_files: str):
    """The :class:`~soundsort.dataset.table.LabelsTable` the ``--labels-csv`` options describe (None without it)."""
    from soundsort.dataset.table import LabelsTable

    given = (path_column != "path" or label_column != "label" or group_column is not None or header_rows != 1
             or missing_files != "error")
    if labels_csv is None:
        if given:
            _usage("--path-column / --label-column / --group-column / --header-rows / --missing-files need --labels-csv")
        return None
    return LabelsTable(str(labels_csv), path_column, label_column, group_column, header_rows, missing_files)


# ---------------------------------------------------------------------------------------------- train

@app.command(epilog=_examples('soundsort train DATA/ --task music --features yamnet --model logreg -o models/music', 'soundsort train GENRES/ --task genre --features musicnn-msd --model svm --repeats 3', 'soundsort train GENRES/ --task genre --model ensemble-mean --member musicnn-msd:logreg --member yamnet:mlp', 'soundsort train --preset default-music'))
def train(
    data: Annotated[Optional[list[Path]], typer.Argument(help=_DATA_HELP)] = None,
    preset: Annotated[Optional[str], typer.Option(help="A bundled model's recipe: default-music or default-genre "
                                                   "(data defaults to ../shared/data, output to the package's assets).")] = None,
    task: Annotated[str, typer.Option(help="'music' (binary: folder 'music' vs every other folder) or 'genre' "
                                           "(one class per folder, whatever the folders are).")] = "music",
    features: Annotated[str, typer.Option(help="Feature set (see `soundsort list`).")] = "handcrafted",
    model: Annotated[str, typer.Option(help="Model (see `soundsort list`), or ensemble-mean|ensemble-vote|ensemble-max.")] = "logreg",
    member: Annotated[Optional[list[str]], typer.Option("--member", help="Ensemble member FEATURES:MODEL (repeatable).")] = None,
    param: Annotated[Optional[list[str]], typer.Option("--param", help="Model parameter key=value (repeatable).")] = None,
    feature_param: Annotated[Optional[list[str]], typer.Option("--feature-param", help="Feature parameter key=value.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder to save the model in "
                                                   "(default: RUN_FOLDER/model, printed at the end).")] = None,
    runs: Annotated[Path, typer.Option(help="Where run folders (reports) go.")] = Path("runs"),
    folds: Annotated[int, typer.Option(help="Cross-validation folds (grouped, stratified).")] = 5,
    repeats: Annotated[int, typer.Option(help="Repeat CV with new shuffles (mean ± std over all).")] = 1,
    seed: int = 0,
    group_pattern: Annotated[Optional[str], typer.Option(help="Regex on file names giving the group.")] = None,
    groups_csv: Annotated[Optional[Path], typer.Option(help="CSV with columns path,group.")] = None,
    cv: Annotated[str, typer.Option(help="grouped (k-fold), or leave-source-out: also test on each data source "
                                         "in turn, trained on the others.")] = "grouped",
    sources_csv: Annotated[Optional[Path], typer.Option(help=_SOURCES_HELP)] = None,
    learning_curve: Annotated[bool, typer.Option(help="Compute a learning curve.")] = True,
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache.")] = True,
    overwrite: Annotated[bool, typer.Option(help="Replace a model already in --output.")] = False,
    calibration: Annotated[Optional[str], typer.Option(help="Calibrate probabilities: sigmoid (Platt) or isotonic.")] = None,
    optimize: Annotated[Optional[str], typer.Option(help="Binary task: pick the threshold maximizing f1, precision (F0.5) or recall (F2).")] = None,
    min_precision: Annotated[Optional[float], typer.Option(help="Binary task: the threshold with the best recall at this precision.")] = None,
    embedding_map: Annotated[bool, typer.Option(help="Draw a t-SNE map of the files' features.")] = True,
    profile: Annotated[bool, typer.Option(help="Measure the saved model's inference time and peak memory.")] = True,
    mlflow: Annotated[Optional[bool], typer.Option("--mlflow/--no-mlflow", help="Log to MLflow (default: when MLFLOW_TRACKING_URI is set).")] = None,
    augment: Annotated[int, typer.Option(help="Train also on N degraded copies of every file (1-2 s crops, telephone band, gain with clipping, noise from --augment-noise at 0-10 dB SNR); 0 = off.")] = 0,
    augment_noise: Annotated[Optional[list[Path]], typer.Option("--augment-noise", help="Folder (or file) of noise recordings to mix into the copies (repeatable); may be part of DATA: CV then never trains on a test file's audio.")] = None,
    augment_param: Annotated[Optional[list[str]], typer.Option("--augment-param", help="Augmentation setting key=value, e.g. p_crop=0 or 'snr_db=[5,20]' (see soundsort.audio.augment.AugmentConfig).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
    labels_csv: Annotated[Optional[Path], typer.Option(help=_LABELS_CSV_HELP)] = None,
    path_column: Annotated[str, typer.Option(help="--labels-csv: the column with each file's path (or file id).")] = "path",
    label_column: Annotated[str, typer.Option(help="--labels-csv: the column with the label (e.g. track.genre_top).")] = "label",
    group_column: Annotated[Optional[str], typer.Option(help="--labels-csv: a column of groups kept on one side of every split (e.g. artist.name).")] = None,
    header_rows: Annotated[int, typer.Option(help="--labels-csv: header rows (FMA's tracks.csv: 3; columns are then named top.sub).")] = 1,
    missing_files: Annotated[str, typer.Option(help="--labels-csv: a row whose file is not there is an 'error', or 'skip'ped.")] = "error",
) -> None:
    """Cross-validate a model on DATA, fit it on all of it, save it and write a report.

    The model goes to --output, else to RUN_FOLDER/model; the last line names it. Each stage (features, cross-
    validation, learning curve, final fit, map, profiling) is named on stderr as it starts.
    """
    from soundsort.workflows import TrainConfig
    from soundsort.workflows import train as run_train

    notes = ""
    if preset:
        from soundsort.presets import get_preset

        ps = get_preset(preset)
        task, features, model, group_pattern, notes = ps.task, ps.features, ps.model, ps.group_pattern, ps.notes
        feature_param = [f"{k}={json.dumps(v)}" for k, v in ps.feature_params.items()] + list(feature_param or [])
        param = [f"{k}={json.dumps(v)}" for k, v in ps.model_params.items()] + list(param or [])
        if not data:  # the recipe's own data, and its own way of measuring (on other data: what was asked)
            data = ps.data_paths()
            cv = ps.cv if cv == "grouped" else cv
        output = output or ps.output()
    if not data:
        _usage("give at least one dataset folder (or --preset)")
    jobs = _threads(jobs)
    cfg = TrainConfig(task=task, features=features, feature_params=_parse_params(feature_param), model=model,
                      model_params=_parse_params(param), folds=folds, repeats=repeats, seed=seed,
                      group_pattern=group_pattern, groups_csv=str(groups_csv) if groups_csv else None,
                      learning_curve=learning_curve, jobs=jobs, cache=cache, members=list(member or []),
                      calibration=calibration, optimize=optimize, min_precision=min_precision,
                      embedding_map=embedding_map, profile=profile, mlflow=mlflow, augment=augment,
                      augment_noise=[str(p) for p in augment_noise or []],
                      augment_params=_parse_params(augment_param), cv=cv,
                      sources_csv=str(sources_csv) if sources_csv else None)
    table = _labels_table(labels_csv, path_column, label_column, group_column, header_rows, missing_files)
    if table is not None:
        from dataclasses import asdict as _asdict

        cfg.labels_csv = _asdict(table)
    if (augment_noise or augment_param) and not augment:
        _usage("--augment-noise / --augment-param need --augment N (the number of degraded copies per file)")
    with _progress("extracting features") as update:
        res = run_train(data, cfg, model_dir=output, runs_dir=runs, overwrite=overwrite, progress=update,
                        log=_info, notes=notes)
    what = f"{model} of {', '.join(member or [])}" if model.startswith("ensemble") else f"{features} / {model}"
    _print_summary(res["cv"], res["labels"], title=f"{task} / {what}: {folds}-fold CV (files)")
    if res.get("leave_source_out"):
        _print_sources(res["leave_source_out"], binary=task == "music")
    for _, reason in res["skipped"]:
        _errline(f"skipped {reason}")
    _outline(f"report: {res['report']}")  # whole lines, never wrapped: a script can take the paths
    if res["model_dir"]:
        _outline(f"model saved: {res['model_dir']}")


def _print_sources(lso: dict, binary: bool) -> None:
    """The leave-source-out results: pooled out-of-source scores and one row per source."""
    pooled = lso["pooled"]
    keys = ["accuracy", "precision", "recall", "f1"] if binary else ["accuracy", "f1_macro"]
    out.print(f"leave-source-out, pooled out-of-source ({pooled['n']} files, {lso['tested']} of {lso['sources']} "
              "sources): " + ", ".join(f"{k} {pooled[k]:.3f}" for k in keys))
    table = Table(title="per source (tested on it, trained on the others)")
    for col in ["source", "files", "accuracy"] + (["music recall", "non-music called music"] if binary else []):
        table.add_column(col, justify="left" if col == "source" else "right")
    for name, e in lso["per_source"].items():
        if not e["tested"]:
            table.add_row(name, str(e["files"]), "not tested", *([""] * (2 if binary else 0)))
            continue
        row = [name, str(e["files"]), f"{e['accuracy']:.3f}"]
        if binary:
            row += ["–" if e[k] is None else f"{e[k]:.3f}" for k in ("music_recall", "non_music_called_music")]
        table.add_row(*row)
    out.print(table)


def _print_summary(summary: dict, labels: list[str], title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, stat in summary.items():
        if isinstance(stat, dict):
            table.add_row(key, f"{stat['mean']:.3f} ± {stat['std']:.3f}")
        elif isinstance(stat, float):
            table.add_row(key, f"{stat:.3f}")
    out.print(table)


# ---------------------------------------------------------------------------------------------- evaluate

@app.command(epilog=_examples('soundsort evaluate models/music OTHER_DATA/', 'soundsort evaluate models/genre GENRES/ --no-profile'))
def evaluate(
    model: Annotated[Path, typer.Argument(help="A saved model folder.")],
    data: Annotated[list[Path], typer.Argument(help="Labelled dataset folder(s) to test on.")],
    runs: Annotated[Path, typer.Option(help="Where run folders (reports) go.")] = Path("runs"),
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache.")] = True,
    profile: Annotated[bool, typer.Option(help="Measure the model's inference time and peak memory.")] = True,
    mlflow: Annotated[Optional[bool], typer.Option("--mlflow/--no-mlflow", help="Log to MLflow (default: when MLFLOW_TRACKING_URI is set).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
) -> None:
    """Score a saved MODEL on labelled DATA and write a report (metrics, confusion matrix, PR curve)."""
    from soundsort.workflows import evaluate as run_eval

    with _progress("extracting features") as update:
        res = run_eval(model, data, runs_dir=runs, jobs=_threads(jobs), cache=cache, progress=update,
                       profile=profile, mlflow=mlflow, log=_info)
    o = res["overall"]
    keys = ["accuracy", "precision", "recall", "f1", "pr_auc", "f1_macro"] if "f1" in o else \
        ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    _print_summary({k: o[k] for k in keys if k in o}, o["labels"], title=f"{o['n']} files")
    for _, reason in res["skipped"]:
        _errline(f"skipped {reason}")
    _outline(f"report: {res['report']}")


# ---------------------------------------------------------------------------------------------- predict

@app.command(epilog=_examples("soundsort predict song.mp3 podcasts/ -m models/music",
                              "soundsort predict DATA/ -m models/genre -o predictions.csv",
                              "find . -name '*.flac' | soundsort predict - -m models/genre -f json"))
def predict(
    files: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively); - reads paths "
                                                "from stdin, one per line.")],
    model: Annotated[Path, typer.Option("--model", "-m", help="A saved model folder.")],
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="table, json or csv (default: from -o's "
                                               "extension, else table).", show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write to this file (default stdout).")] = None,
    segments: Annotated[bool, typer.Option(help="Include per-segment predictions (json).")] = False,
) -> None:
    """Predict the label of each file with a saved model (segment probabilities averaged)."""
    from dataclasses import asdict

    fmt = _resolve_format(fmt, output, ("table", "json", "csv"))
    _check_model_dir(model, "--model")
    paths, unlisted = _expand(files)
    _require_inputs(paths, unlisted, files)
    from soundsort.inference.predict import Predictor

    predictor = Predictor(model)
    results, failures = _each_file(paths, predictor.predict_file, "predicting")
    failures += unlisted
    labels = predictor.card.labels
    if fmt == "table":
        table = Table(title=f"{predictor.card.task} — model {display_path(model)}")
        table.add_column("file", overflow="fold", ratio=3)
        table.add_column("label", ratio=1)
        many = len(labels) > 3  # a column per class fits up to three; beyond, the top three per row
        if many:
            table.add_column("top classes", ratio=2)
        else:
            for c in labels:
                table.add_column(f"p({c})", justify="right", no_wrap=True)
        for r in results:
            if many:
                top = sorted(labels, key=lambda c: -r.probabilities[c])[:3]
                table.add_row(display_path(r.path), r.label, "  ".join(f"{c} {r.probabilities[c]:.2f}" for c in top))
            else:
                table.add_row(display_path(r.path), r.label, *[f"{r.probabilities[c]:.3f}" for c in labels])
        _print_table(table, output)
    else:
        buf = io.StringIO()
        if fmt == "json":
            docs = []
            for r in results:
                d = asdict(r)
                d["probabilities"] = {c: round(float(v), 4) for c, v in d["probabilities"].items()}
                d["duration"] = round(float(d["duration"]), 3)
                if not segments:
                    d.pop("segments")
                docs.append(d)
            json.dump(docs, buf, indent=2)
            buf.write("\n")
        else:
            w = csv.writer(buf)
            w.writerow(["path", "label", *[f"p_{c}" for c in labels]])
            for r in results:
                w.writerow([r.path, r.label, *[f"{r.probabilities[c]:.4f}" for c in labels]])
        _emit(buf.getvalue(), output)
    if failures:
        _errline(f"{failures} of {len(paths) + unlisted} files failed")
        raise typer.Exit(EXIT_SOME_FAILED)


def _resolve_format(fmt: str | None, output: Path | None, choices: tuple[str, ...], *,
                    configured: str | None = None) -> str:
    """The output format: ``--format`` when given, else what ``-o``'s extension says (``.csv .json .jsonl .txt
    .TextGrid``), else ``configured`` (the config file / ``$SOUNDSORT_FORMAT``), else ``table``."""
    if fmt is not None:
        return _check_format(fmt.strip().lower(), choices)
    if output is not None:
        from soundsort.inference.exports import format_for_output, is_folder_target

        inferred = format_for_output(output)
        if inferred is not None and inferred in choices:
            return inferred
        if configured is not None and configured in choices and configured != "table":
            return configured
        files = [ext for ext, f in ((".csv", "csv"), (".json", "json"), (".jsonl", "jsonl"), (".txt", "audacity"),
                                    (".TextGrid", "textgrid")) if f in choices]
        if is_folder_target(output):
            per_file = [f for f in ("audacity", "textgrid") if f in choices]
            _usage(f"-o {display_path(output)} is a folder: give --format "
                   + (" or ".join(per_file) + " (one label file per input)" if per_file else "with a file name"))
        what = "says no format" if inferred is None else f"means {inferred}, which this command does not write"
        _usage(f"-o {display_path(output)}: the extension {what}; give --format ({', '.join(choices)}) or a name "
               f"ending in {', '.join(files)}")
    if configured is not None and configured in choices:
        return configured
    return "table"


def _print_table(table: Table, output: Path | None) -> None:
    """A rich table on stdout, or as plain text (no colour, 120 columns) into ``output``, atomically."""
    if output is None:
        out.print(table)
        return
    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, highlight=False, force_terminal=False).print(table)
    _emit(buf.getvalue(), output)


def _check_model_dir(folder: Path | None, option: str) -> None:
    """A model folder given on the command line exists (before any model is loaded: fails in no time)."""
    if folder is None:
        return
    try:
        is_dir = folder.is_dir()
    except OSError as exc:
        _fail(f"{display_path(folder)}: {option}: {os_reason(exc)}")
    if not is_dir:
        _fail(f"{display_path(folder)}: {option}: " + ("not a model folder (a model is a folder holding model.json)"
                                                       if os.path.lexists(folder) else "model folder not found"))


def _require_inputs(files: list[Path], unlisted: int, given: list[Path]) -> None:
    """Fail at once (exit 3, no model loaded) when no input can be read at all: each missing path is named."""
    if not files:
        _fail("no audio files found in " + ", ".join(display_path(p) for p in given), EXIT_NOTHING_DONE)
    reasons = []
    for f in files:
        try:
            os.lstat(f)
            return  # one input is there: the batch runs, and a missing one is reported with the others
        except OSError as exc:
            reasons.append(f"{display_path(f)}: {os_reason(exc)}")
    for r in reasons:
        _errline(f"soundsort: {r}")
    _fail(f"nothing to do: none of the {len(files) + unlisted} inputs can be read", EXIT_NOTHING_DONE)


def _each_file(paths: list[Path], fn, what: str) -> tuple[list, int]:
    """``fn(path)`` for every path with a progress bar; a bad file is one line on stderr, the rest go on."""
    results, failures = [], 0
    with _progress(what) as update:
        for i, path in enumerate(paths):
            try:
                results.append(fn(path))
            except SoundsortError as exc:
                failures += 1
                _errline(f"soundsort: {exc}")
            except MemoryError:
                failures += 1
                _errline(f"soundsort: {display_path(path)}: out of memory")
            except Exception as exc:  # a library failure on one file must not end the batch
                failures += 1
                _errline(f"soundsort: {display_path(path)}: {type(exc).__name__}: {str(exc)[:200]}")
            update(i + 1, len(paths), path)
    return results, failures


def _stdin_paths() -> list[Path]:
    """The paths on stdin, one per line (``find ... | soundsort classify -``); names that are not UTF-8 are
    kept as the bytes they are."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return [Path(line.rstrip("\r\n")) for line in sys.stdin if line.strip()]
    return [Path(os.fsdecode(line.rstrip(b"\r\n"))) for line in stream if line.strip()]


def _with_stdin(items: list[Path]) -> list[Path]:
    """``items`` with each ``-`` replaced by the paths read from stdin (read once)."""
    if not any(str(p) == "-" for p in items):
        return list(items)
    if sys.stdin is None or sys.stdin.isatty():
        _usage("'-' reads paths from stdin, one per line (e.g. find . -name '*.mp3' | soundsort classify -); "
               "stdin is a terminal")
    read = _stdin_paths()
    out: list[Path] = []
    for p in items:
        if str(p) == "-":
            out.extend(read)
            read = []
        else:
            out.append(p)
    return out


def _shown_names(files: list[str], given: list[Path]) -> dict[str, str]:
    """How each file is named to the user: relative to the folder argument it was found under, with that
    folder's own name in front (``a/mingus.flac`` and ``b/mingus.flac`` for ``classify ~/x/a ~/x/b``); a file
    given as such is named as given."""
    folders = []
    for g in given:
        try:
            if g.is_dir():
                folders.append(str(g).rstrip(os.sep) or os.sep)
        except OSError:
            continue
    shown = {}
    for f in files:
        name = f
        for d in folders:
            prefix = d if d.endswith(os.sep) else d + os.sep
            if f.startswith(prefix):
                base = os.path.basename(d)
                rel = f[len(prefix):]
                name = os.path.join(base, rel) if base not in ("", ".", "..") else rel
                break
        shown[f] = name
    return shown


def _expand(items: list[Path]) -> tuple[list[Path], int]:
    """Files as given (``-``: paths from stdin); folders walked recursively for audio files (sorted; see
    :mod:`soundsort.audio.files`). A folder that cannot be listed is one line on stderr; returns the files
    and how many such folders there were (they count as failures)."""
    from soundsort.audio.files import find_audio

    found = find_audio(_with_stdin(items))
    for folder, reason in found.unlisted:
        _errline(f"soundsort: {display_path(folder)}: {reason}")
    return found.files, len(found.unlisted)


def _emit(text: str, output: Path | None) -> None:
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from soundsort.atomic import atomic_open

    _clean_leftovers(output)
    with atomic_open(output, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)


# ---------------------------------------------------------------------------------------------- classify

def _jobs(jobs: int | None, n_files: int) -> int:
    """``--jobs`` for files in processes: 0 means one per core (None: the configured default); never more
    processes than files."""
    return max(1, min(_threads(jobs), n_files))


def _threads(jobs: int | None) -> int:
    """``--jobs`` as a count: None takes the configured default (``jobs`` in the config file or
    ``$SOUNDSORT_JOBS``, else 0); 0 means one per core."""
    from soundsort.settings import current

    jobs = current().jobs if jobs is None else jobs
    if jobs < 0:
        _usage(f"--jobs must be >= 0, got {jobs}")
    return jobs or (os.cpu_count() or 1)


def _classifier_factory(model: Optional[Path], genre_model: Optional[Path], genre: bool, min_segment: float,
                        top_k: int, threads: Optional[int], mixed: Optional[float] = None):
    import functools

    from soundsort.inference.classify import ClassifyConfig, Classifier

    cfg = ClassifyConfig(min_segment_seconds=min_segment, top_k=top_k, genre=genre, mixed=mixed)
    return functools.partial(Classifier, model, genre_model, cfg, threads=threads)


def _models(model: Optional[Path], genre_model: Optional[Path], genre: bool) -> tuple[Optional[Path], Optional[Path]]:
    """The model folders to use: the options, else the configured ones (config file, ``$SOUNDSORT_*_MODEL``),
    else None (bundled); each checked to exist before anything is loaded."""
    from soundsort.settings import current

    settings = current()
    model = model if model is not None else (Path(settings.music_model) if settings.music_model else None)
    genre_model = genre_model if genre_model is not None else (
        Path(settings.genre_model) if settings.genre_model else None)
    _check_model_dir(model, "--model")
    if genre:
        _check_model_dir(genre_model, "--genre-model")
    return model, genre_model


CLASSIFY_FORMATS = ("table", "json", "jsonl", "csv", "segments", "audacity", "textgrid")


@app.command(epilog=_examples(
    "soundsort classify recordings/ song.mp3",
    "soundsort classify archive/ -o results.jsonl -j 2 --resume",
    "soundsort classify show.flac -o show.txt          (Audacity labels)",
    "soundsort classify shows/ -f textgrid -o grids/   (one TextGrid each)",
    "soundsort classify shows/ -f segments > segments.csv",
    "find . -name '*.mp3' | soundsort classify - -f jsonl",
    "soundsort classify song.mp3 --write-tags --dry-run"))
def classify(
    ctx: typer.Context,
    paths: Annotated[Optional[list[Path]], typer.Argument(
        help="Audio files or folders (searched recursively); - reads paths from stdin, one per line; not needed "
             "with --schema.", metavar="PATHS", show_default=False)] = None,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music/non-music model (default: the "
                                                  "config file's music_model, else bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: the config file's genre_model, "
                                                        "else bundled, 10 GTZAN genres).")] = None,
    genre: Annotated[bool, typer.Option(help="Also say the genre of the music parts (of the file and of each music "
                                        "segment).")] = True,
    fmt: Annotated[Optional[str], typer.Option("--format", "-f", help="table, json, jsonl, csv (one row per file), "
                                               "segments (CSV, one row per segment), audacity (label track), "
                                               "textgrid (Praat). Default: from -o's extension (.json .jsonl .csv "
                                               ".txt .TextGrid), else the config file's format, else table.",
                                               show_default=False)] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Write results here (default stdout); for "
                                                   "audacity / textgrid a FOLDER/ gets one file per input.")] = None,
    resume: Annotated[bool, typer.Option(help="Skip files already classified in --output.")] = False,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing --output file.")] = False,
    min_segment: Annotated[float, typer.Option(help="Shortest timeline segment, seconds.")] = 2.0,
    top_k: Annotated[int, typer.Option(help="Genres reported per file (and per music segment).")] = 3,
    mixed: Annotated[Optional[float], typer.Option(help="Label a file 'mixed' when its music share is between F and "
                                                   "1-F (e.g. 0.2); without it a file is music when its mean music "
                                                   "probability reaches the model's threshold.",
                                                   metavar="F")] = None,
    write_tags: Annotated[bool, typer.Option(help="Write the top genre into the files' own tags (ID3, Vorbis, MP4); "
                                             "one line per file says what was written.")] = False,
    dry_run: Annotated[bool, typer.Option(help="With --write-tags: say what would be written, write nothing.")] = False,
    plot: Annotated[Optional[Path], typer.Option(help="Also draw each file's timeline as DIR/<name>.png.",
                                                 metavar="DIR")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
    schema: Annotated[bool, typer.Option(help="Print the JSON Schema of one result record and exit.")] = False,
) -> None:
    """Music / non-music timeline and genre for any file or folder, with the bundled models.

    A file is labelled music when its mean music probability reaches the model's threshold (the bundled
    model's 0.5 after its own score mapping), so a file that is half music may go either way: its music share
    and timeline say how much; --mixed F labels such files 'mixed'. -v also prints what the decoder reported
    about files it still decoded (always kept in the records' warnings).
    """
    from soundsort.settings import current

    if schema:
        from soundsort.inference.schema import RECORD_SCHEMA

        sys.stdout.write(json.dumps(RECORD_SCHEMA, indent=2) + "\n")
        sys.stdout.flush()
        return
    if not paths:
        ctx.fail("Missing argument 'PATHS...': give audio files or folders (or --schema).")  # usage error, exit 2
    fmt = _resolve_format(fmt, output, CLASSIFY_FORMATS, configured=current().format)
    from soundsort.inference.exports import PER_FILE, is_folder_target

    if resume and output is None:
        _usage("--resume needs --output")
    if resume and overwrite:
        _usage("--resume and --overwrite do not go together")
    if dry_run and not write_tags:
        _usage("--dry-run goes with --write-tags (it says what would be written)")
    if mixed is not None and not 0.0 < mixed <= 0.5:
        _usage(f"--mixed takes a share in (0, 0.5], got {mixed}")
    if output is not None and fmt not in PER_FILE and is_folder_target(output, fmt):
        _usage(f"-o {display_path(output)} is a folder: --format {fmt} writes one file (audacity and textgrid "
               "write one file per input into a folder)")
    if fmt == "table" and resume:
        _usage("--resume needs a results format (json, jsonl, csv, segments, audacity, textgrid)")
    given = _with_stdin(list(paths))
    found, unlisted = _expand(given)
    files = [str(p) for p in found]
    _require_inputs(found, unlisted, given)
    shown = _shown_names(files, given)
    if fmt in PER_FILE and output is None and len(files) > 1:
        _usage(f"--format {fmt} holds one file's labels: give -o FOLDER for one file per input (or one input)")
    model, genre_model = _models(model, genre_model, genre)
    writer = _results_writer(fmt, output, shown, resume=resume, overwrite=overwrite)
    jobs = _jobs(jobs, len(files))
    factory = _classifier_factory(model, genre_model, genre, min_segment, top_k, 1 if jobs > 1 else None, mixed)
    factory()  # load the models once here: a broken model fails now, with one line, not once per file
    if writer is None and fmt != "table":
        writer = _results_writer(fmt, output, shown, resume=resume, overwrite=overwrite, create=True)
    todo = [f for f in files if writer is None or f not in writer.done]
    if writer is not None and len(todo) < len(files):
        _info(f"resuming: {len(files) - len(todo)} of {len(files)} files already done")
    records: list[dict] = []
    tag_failures = 0
    done = [0]

    def on_result(rec: dict) -> None:
        nonlocal tag_failures
        done[0] += 1
        if _VERBOSITY > 0:
            for warning in rec.get("warnings") or []:
                _errline(f"soundsort: {display_path(rec['path'])}: warning: {warning}")
        if rec["status"] != "ok":
            _errline(f"soundsort: {rec['error']}")
        else:
            if write_tags:
                tag_failures += _write_tags(rec, dry_run)
            if plot is not None:
                _plot_timeline(rec, plot, shown.get(rec["path"], rec["path"]))
        if writer is not None:
            writer.add(rec)
        else:
            records.append(rec)

    try:
        failed = _classify_batch(todo, factory, jobs, on_result, writer)
    except KeyboardInterrupt:
        again = " (run the same command with --resume to continue)" if output is not None and fmt != "table" else ""
        global _INTERRUPT_SAID
        _errline(f"soundsort: interrupted after {done[0]} of {len(todo)} files{again}")
        _INTERRUPT_SAID = True
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if fmt == "table":
        _print_classify_table(records, shown, output)
    if failed or unlisted:
        _errline(f"{failed + unlisted} of {len(todo) + unlisted} files failed")
    if tag_failures:
        _errline(f"tags not written to {tag_failures} of {len(todo)} files")
    if failed or unlisted or tag_failures:
        raise typer.Exit(EXIT_SOME_FAILED)


def _results_writer(fmt: str, output: Optional[Path], shown: dict[str, str], *, resume: bool, overwrite: bool,
                    create: bool = False):
    """The writer of classify's results (None for the table). Before the models load (``create`` False) only
    what needs no file of its own is made: an output that would be overwritten fails then, in no time."""
    from soundsort.inference.exports import PER_FILE, LabelFilesWriter

    if fmt == "table":
        return None
    if fmt in PER_FILE:
        return LabelFilesWriter(fmt, output, shown, resume=resume, overwrite=overwrite, log=_info)
    if not create:
        if output is not None and os.path.lexists(output) and not (resume or overwrite):
            _usage(f"{display_path(output)}: output file exists (use --resume to continue it or --overwrite to "
                   "replace it)")
        return None
    from soundsort.inference.batch import ResultWriter

    return ResultWriter(fmt, output, resume=resume, overwrite=overwrite, log=_info)


def _write_tags(rec: dict, dry_run: bool) -> int:
    """Write (or, dry run, say) the top genre into one file's tags; one line says what. Returns 1 on failure."""
    from soundsort.inference.filetags import write_genre

    name = display_path(rec["path"])
    if not rec.get("genre"):
        _info(f"tags: {name}: no music, no genre: tags left as they are")
        return 0
    genre = rec["genre"][0]["label"]
    if dry_run:
        _info(f"tags (dry run): {name}: would set genre to {genre!r}")
        return 0
    try:
        write_genre(rec["path"], genre)
    except SoundsortError as exc:
        _errline(f"soundsort: {exc}")
        return 1
    _info(f"tags: {name}: genre set to {genre!r}")
    return 0


def _plot_timeline(rec: dict, folder: Path, shown: str) -> None:
    """``--plot``: the file's timeline as ``folder/<name>.png`` (a failure is one line; the batch goes on)."""
    from soundsort.evaluation.plots import plot_timeline
    from soundsort.inference.exports import relative_name

    rel = relative_name(shown)
    target = folder / rel.with_name(rel.name + ".png")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        plot_timeline(rec, target, title=shown)
    except OSError as exc:
        _errline(f"soundsort: {display_path(target)}: cannot write the plot ({os_reason(exc)})")


def _classify_batch(todo: list[str], factory, jobs: int, on_result, writer) -> int:
    """Classify ``todo`` with a progress bar; the writer is closed (flushed) even on Ctrl-C. Returns failures."""
    from soundsort.inference.batch import run_batch

    try:
        with _progress("classifying") as update:
            _, failed = run_batch(todo, factory, jobs=jobs, on_result=on_result, progress=update)
    finally:
        if writer is not None:
            writer.close()
    return failed


def _print_classify_table(records: list[dict], shown: dict[str, str] | None = None,
                          output: Optional[Path] = None) -> None:
    table = Table(title="soundsort classify")
    for col, just in (("file", "left"), ("length", "right"), ("music", "right"), ("timeline", "left"),
                      ("genre (music parts)", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for r in records:
        if r["status"] != "ok":
            continue
        lines = []
        for seg in r["timeline"][:12]:
            g = seg.get("genre")
            lines.append(f"{_mmss(seg['start'])}–{_mmss(seg['end'])} {seg['label']} ({seg['confidence']:.2f})"
                         + (f" {g[0]['label']}" if g else ""))
        timeline = "\n".join(lines)
        if len(r["timeline"]) > 12:
            timeline += f"\n… {len(r['timeline']) - 12} more"
        genre = "\n".join(f"{g['label']} {g['probability']:.2f}" for g in r["genre"]) if r.get("genre") else "–"
        name = (shown or {}).get(r["path"], Path(r["path"]).name)
        label = f"{100 * r['music_share']:.0f}%" + (" mixed" if r.get("label") == "mixed" else "")
        table.add_row(display_path(name), _mmss(r["duration"]), label, timeline, genre)
    _print_table(table, output)


def _mmss(seconds: float) -> str:
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"


# ---------------------------------------------------------------------------------------------- organize

@app.command(epilog=_examples('soundsort organize ~/Music/unsorted ~/Music/by-genre --dry-run', 'soundsort organize ~/Music/unsorted ~/Music/by-genre --mode move --min-confidence 0.6 --non-music aside'))
def organize(
    src: Annotated[Path, typer.Argument(help="Folder of audio files (searched recursively).")],
    dest: Annotated[Path, typer.Argument(help="Where the genre folders go.")],
    by: Annotated[str, typer.Option(help="What to sort by (genre).")] = "genre",
    mode: Annotated[str, typer.Option(help="copy, link or move.")] = "copy",
    dry_run: Annotated[bool, typer.Option(help="Print the plan; touch nothing.")] = False,
    min_confidence: Annotated[float, typer.Option(help="Files whose top genre is less likely go to unsure/.")] = 0.0,
    non_music: Annotated[str, typer.Option(help="leave (untouched) or aside (DEST/non-music/).")] = "leave",
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music/non-music model (default: bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: bundled).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
) -> None:
    """Sort music files into DEST/<genre>/ folders (copy, link or move), never overwriting or losing a file.

    Classification results are kept in DEST/.soundsort-organize.jsonl, so an interrupted run resumes.
    """
    from soundsort.inference.batch import ResultWriter, read_records
    from soundsort.inference.organize import MODES, clean_temporaries, place, plan

    if by != "genre":
        _usage(f"--by {by!r} is not supported (genre)")
    if mode not in MODES:
        _usage(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if non_music not in ("leave", "aside"):
        _usage(f"--non-music must be 'leave' or 'aside', got {non_music!r}")
    if not src.is_dir():
        _fail(f"{display_path(src)}: not a folder")
    src_real, dest_real = os.path.realpath(src), os.path.realpath(dest)
    if dest_real == src_real or src_real.startswith(dest_real.rstrip(os.sep) + os.sep):
        what = "is the source folder" if dest_real == src_real else "holds the source folder"
        _usage(f"{display_path(dest)}: the destination {what}: give a destination outside "
              f"{display_path(src)} (or a new folder inside it)")
    found, unlisted = _expand([src])
    inside = dest_real.rstrip(os.sep) + os.sep
    files = [str(p) for p in found if not os.path.realpath(p).startswith(inside)]  # never re-sort DEST
    state = dest / ".soundsort-organize.jsonl"
    jobs = _jobs(jobs, len(files))
    model, genre_model = _models(model, genre_model, True)
    factory = _classifier_factory(model, genre_model, True, 2.0, 3, 1 if jobs > 1 else None)
    factory()
    records: dict[str, dict] = {}
    writer = None
    try:
        if state.exists():
            records = {r["path"]: r for r in read_records(state, "jsonl") if r.get("status") == "ok"}
        if not dry_run:
            dest.mkdir(parents=True, exist_ok=True)
            removed = clean_temporaries(dest)
            if removed:
                _errline(f"soundsort: {display_path(dest)}: removed {len(removed)} partial cop"
                         f"{'y' if len(removed) == 1 else 'ies'} left by an interrupted run "
                         f"({', '.join(display_path(p.name) for p in removed[:3])}{', ...' if len(removed) > 3 else ''})")
            writer = ResultWriter("jsonl", state, resume=True, log=_errline)
    except OSError as exc:
        _fail(f"{display_path(exc.filename or dest)}: cannot write the destination ({os_reason(exc)})")
    todo = [f for f in files if f not in records]

    def on_result(rec: dict) -> None:
        if rec["status"] != "ok":
            _errline(f"soundsort: {rec['error']}")
        records[rec["path"]] = rec
        if writer is not None:
            writer.add(rec)

    failed = _classify_batch(todo, factory, jobs, on_result, writer) + unlisted
    actions = plan([records[f] for f in files if f in records], dest, mode=mode, min_confidence=min_confidence,
                   non_music=non_music)
    counts: dict[str, int] = {}
    for act in actions:
        shown = display_path(act.src)
        if act.kind == "leave":
            _outline(f"leave  {shown}  ({act.reason})")
            counts["left"] = counts.get("left", 0) + 1
            continue
        if dry_run:
            _outline(f"{act.kind:5s}  {shown} -> {display_path(act.folder)}/  ({act.reason})")
            counts[act.kind] = counts.get(act.kind, 0) + 1
            continue
        if not os.path.lexists(act.src):
            continue  # moved by an earlier run
        try:
            final, already = place(act)
        except OSError as exc:
            _errline(f"soundsort: {shown}: cannot {act.kind} to {display_path(act.folder)} ({os_reason(exc)})")
            failed += 1
            continue
        note = ""
        if already:
            note = "; already there: identical content" + (", source removed" if act.kind == "move" else "")
            counts["already there"] = counts.get("already there", 0) + 1
        else:
            counts[act.kind] = counts.get(act.kind, 0) + 1
        _outline(f"{act.kind:5s}  {shown} -> {display_path(final)}  ({act.reason}{note})")
    _info(_organize_summary(counts, mode, dry_run))
    if failed:
        _errline(f"{failed} files failed")
        raise typer.Exit(EXIT_SOME_FAILED)


def _organize_summary(counts: dict[str, int], mode: str, dry_run: bool) -> str:
    """``done: 3 copied, 2 already there, 1 left`` (``plan: 3 copy, ...`` for a dry run); says when nothing was
    placed."""
    if dry_run:
        return "plan: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to do")
    past = {"copy": "copied", "link": "linked", "move": "moved"}
    parts = [f"{counts[k]} {past[k]}" for k in ("copy", "link", "move") if counts.get(k)]
    if not parts:
        parts = [f"nothing {past.get(mode, mode)}"]
    parts += [f"{counts[k]} {k}" for k in ("already there", "left") if counts.get(k)]
    return "done: " + ", ".join(parts)


# ---------------------------------------------------------------------------------------------- tags

@app.command(epilog=_examples('soundsort tags clip.wav', 'soundsort tags songs/ --tagger musicnn-msd --top 3 -f json'))
def tags(
    files: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively); - reads paths "
                                                "from stdin.")],
    tagger: Annotated[Optional[list[str]], typer.Option("--tagger", help="yamnet, musicnn-msd, musicnn-mtt (repeatable; default all).")] = None,
    top: Annotated[int, typer.Option(help="Tags per tagger.")] = 5,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Top AudioSet classes (YAMNet) and top MSD / MagnaTagATune tags (musicnn) of each file."""
    from dataclasses import asdict

    from soundsort.inference.tags import TAGGERS, Tagger

    _check_format(fmt, ("table", "json"))
    for name in tagger or []:
        if name not in TAGGERS:
            from soundsort.suggest import unknown

            _usage(unknown("tagger", name, TAGGERS))
    paths, unlisted = _expand(files)
    _require_inputs(paths, unlisted, files)
    tg = Tagger(tuple(tagger) if tagger else TAGGERS, top_k=top)
    results, failures = _each_file(paths, tg.tag_file, "tagging")
    failures += unlisted
    if fmt == "json":
        _emit(json.dumps([asdict(r) for r in results], indent=2) + "\n", None)
    else:
        for r in results:
            table = Table(title=f"{display_path(r.path)} ({r.duration:.1f} s)", title_justify="left")
            for name in r.tags:
                table.add_column(name)
            for row in zip(*r.tags.values()):
                table.add_row(*[f"{t} {s:.2f}" for t, s in row])
            out.print(table)
    if failures:
        _errline(f"{failures} of {len(paths) + unlisted} files failed")
        raise typer.Exit(EXIT_SOME_FAILED)


# ---------------------------------------------------------------------------------------------- collections

_LIBRARY_OPT = typer.Option("--library", "-l", help="The library folder (made by `soundsort embed`).")


@app.command(epilog=_examples('soundsort embed ~/Music -o ~/Music/.library', 'soundsort embed ~/Music -o ~/Music/.library --segments'))
def embed(
    collection: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The library folder (created, or updated).")],
    features: Annotated[Optional[str], typer.Option(help="Feature sets: yamnet, musicnn-msd, yamnet+musicnn-msd (default for a new library), mfcc, ...")] = None,
    feature_param: Annotated[Optional[list[str]], typer.Option("--feature-param", help="Feature parameter key=value.")] = None,
    segments: Annotated[Optional[bool], typer.Option("--segments/--no-segments", help="Also one embedding per music segment.")] = None,
    describe: Annotated[Optional[bool], typer.Option("--describe/--no-describe", help="Music share and genre of every file (bundled or given models).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music/non-music model (default: bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: bundled).")] = None,
    index_kind: Annotated[Optional[str], typer.Option("--index", help="auto (exact below 20,000 files, else HNSW), flat or hnsw.")] = None,
    normalize: Annotated[Optional[str], typer.Option(help="zscore (per dimension, over the library; default) or none.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Recompute every file (e.g. with other features).")] = False,
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache.")] = True,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
    labels_csv: Annotated[Optional[Path], typer.Option(help="A table giving files' genre (label column) and artist (group column).")] = None,
    path_column: Annotated[str, typer.Option(help="--labels-csv: the column with each file's path (or file id).")] = "path",
    label_column: Annotated[str, typer.Option(help="--labels-csv: the genre column.")] = "label",
    group_column: Annotated[Optional[str], typer.Option(help="--labels-csv: the artist column.")] = None,
    header_rows: Annotated[int, typer.Option(help="--labels-csv: header rows (FMA's tracks.csv: 3).")] = 1,
    missing_files: Annotated[str, typer.Option(help="--labels-csv: a row whose file is not there is an 'error', or 'skip'ped.")] = "error",
) -> None:
    """Embed a collection into a library (vector index + metadata); run again to update it by content hash."""
    from soundsort.library import Library, config_for, embed_collection

    old = Library.load(output) if Library.exists(output) and not rebuild else None
    cfg = config_for(old, features=features, feature_params=_parse_params(feature_param) if feature_param else None,
                     segments=segments, describe=describe, music_model=str(model) if model else None,
                     genre_model=str(genre_model) if genre_model else None, index=index_kind, normalize=normalize)
    table = _labels_table(labels_csv, path_column, label_column, group_column, header_rows, missing_files)
    with _progress("embedding") as update:
        rep = embed_collection(collection, output, cfg, jobs=_threads(jobs), cache=cache,
                               rebuild=rebuild, labels_table=table, progress=update, log=_errline)
    for note in rep.notes:
        _errline(note)
    for path, reason in rep.failed:
        _errline(f"soundsort: {reason}" if reason.startswith(path) else f"soundsort: {path}: {reason}")
    s = rep.summary()
    _outline(f"library {output}: {s['files']} files (added {s['added']}, changed {s['changed']}, moved {s['moved']}, "
             f"removed {s['removed']}, unchanged {s['unchanged']})" + ("" if rep.saved else "; nothing to update"))
    if rep.failed:
        _errline(f"{len(rep.failed)} files failed")
        raise typer.Exit(1)


@app.command(epilog=_examples('soundsort similar song.mp3 --library ~/Music/.library -k 10 --same-genre --exclude-artist'))
def similar(
    query: Annotated[Path, typer.Argument(help="An audio file (in the library or not).")],
    library: Annotated[Path, _LIBRARY_OPT],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.")] = 10,
    same_genre: Annotated[bool, typer.Option(help="Only files of the query's genre.")] = False,
    exclude_artist: Annotated[bool, typer.Option(help="Leave out files by the query's artist.")] = False,
    by_segment: Annotated[bool, typer.Option("--segments", help="Search the music segments (embed --segments).")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """The files of a library that sound most like QUERY, nearest first, with their distances."""
    from soundsort.library import Library
    from soundsort.library import similar as find_similar

    _check_format(fmt, ("table", "json"))
    lib = Library.load(library)
    found = find_similar(lib, query, k, same_genre=same_genre, exclude_artist=exclude_artist, segments=by_segment)
    if fmt == "json":
        _emit(json.dumps({"query": str(query), "neighbours": [n.to_dict() for n in found]}, indent=2) + "\n", None)
        return
    table = Table(title=f"nearest to {str(query)}")
    for col, just in (("#", "right"), ("file", "left"), ("distance", "right"), ("genre", "left"), ("artist", "left")):
        table.add_column(col, justify=just, overflow="fold")
    if by_segment:
        table.add_column("segment", justify="left")
    for i, n in enumerate(found, 1):
        row = [str(i), str(n.path), f"{n.distance:.3f}", n.genre or "–", n.artist or "–"]
        if by_segment:
            row.append(f"{_mmss(n.start or 0)}–{_mmss(n.end or 0)}")
        table.add_row(*row)
    out.print(table)


@app.command(epilog=_examples('soundsort cluster --library ~/Music/.library --auto --organize ~/Music/by-cluster --dry-run', 'soundsort cluster --library ~/Music/.library --k 8 -f json'))
def cluster(
    library: Annotated[Path, _LIBRARY_OPT],
    k: Annotated[Optional[int], typer.Option("--k", help="Number of clusters (k-means).")] = None,
    auto: Annotated[bool, typer.Option(help="Find the clusters with HDBSCAN (files in none are 'unclustered').")] = False,
    min_cluster_size: Annotated[Optional[int], typer.Option(help="--auto: the smallest cluster.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for the map (PNG + HTML) and clusters.json (default LIBRARY/clusters).")] = None,
    organize_dest: Annotated[Optional[Path], typer.Option("--organize", help="Also sort the files into DEST/<cluster>/ folders.")] = None,
    mode: Annotated[str, typer.Option(help="--organize: copy, link or move (never overwrites).")] = "copy",
    dry_run: Annotated[bool, typer.Option(help="--organize: print the plan; touch nothing.")] = False,
    seed: int = 0,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Cluster a library (k-means or HDBSCAN), name each cluster, draw a map; optionally sort files by cluster."""
    from soundsort.library import Library, cluster_library, organize_plan, write_html, write_png

    _check_format(fmt, ("table", "json"))
    lib = Library.load(library)
    res = cluster_library(lib, k=k, auto=auto, min_cluster_size=min_cluster_size, seed=seed)
    folder = output or Path(library) / "clusters"
    png = write_png(lib, res, folder / "cluster_map.png")
    page = write_html(lib, res, folder / "cluster_map.html")
    from soundsort.atomic import write_json

    doc = {"library": str(library), "method": res.method, "clusters": [c.to_dict() for c in res.clusters],
           "unclustered": [e.path for e, c in zip(lib.files, res.labels) if c < 0]}
    write_json(folder / "clusters.json", doc)
    if fmt == "json":
        _emit(json.dumps(doc, indent=2) + "\n", None)
    else:
        table = Table(title=f"{len(lib)} files, {len(res.clusters)} clusters ({res.method})")
        for col, just in (("#", "right"), ("cluster", "left"), ("files", "right"), ("examples", "left")):
            table.add_column(col, justify=just, overflow="fold")
        for c in res.clusters:
            table.add_row(str(c.id), c.name, str(c.size), ", ".join(Path(p).name for p in c.paths[:3]))
        n_noise = int((res.labels < 0).sum())
        if n_noise:
            table.add_row("–", "unclustered", str(n_noise), "")
        out.print(table)
        out.print(f"map: {png} and {page}")
    if organize_dest is not None:
        _organize_clusters(lib, res, organize_dest, mode, dry_run)


def _organize_clusters(lib, res, dest: Path, mode: str, dry_run: bool) -> None:
    """Carry out (or print) the cluster folders plan with organize's safe file operations."""
    from soundsort.inference.organize import clean_temporaries, execute
    from soundsort.library import organize_plan

    dest_real = dest.resolve()
    failed = 0
    counts: dict[str, int] = {}
    for act in organize_plan(lib, res, dest, mode):
        if dest_real in act.src.resolve().parents:
            continue  # already inside DEST
        if dry_run:
            _outline(f"{act.kind:5s}  {str(act.src)} -> {str(act.folder)}/  ({act.reason})")
            counts[act.kind] = counts.get(act.kind, 0) + 1
            continue
        if not act.src.exists():
            _errline(f"soundsort: {str(act.src)}: not found (moved since it was embedded?)")
            failed += 1
            continue
        clean_temporaries(act.folder)
        try:
            final = execute(act)
        except OSError as exc:
            _errline(f"soundsort: {str(act.src)}: cannot {act.kind} ({exc.strerror or exc})")
            failed += 1
            continue
        _outline(f"{act.kind:5s}  {str(act.src)} -> {str(final)}")
        counts[act.kind] = counts.get(act.kind, 0) + 1
    _errline(("plan: " if dry_run else "done: ") + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"))
    if failed:
        _errline(f"{failed} files failed")
        raise typer.Exit(1)


@app.command(epilog=_examples('soundsort duplicates --library ~/Music/.library', 'soundsort duplicates -l ~/Music/.library --threshold 0.9 -f json'))
def duplicates(
    library: Annotated[Path, _LIBRARY_OPT],
    threshold: Annotated[float, typer.Option(help="Share of fingerprint bits that must agree (0.5 = unrelated, 1 = identical).")] = 0.75,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List near-duplicates in a library (the same recording in two files or formats). Nothing is deleted."""
    from soundsort.library import Library, find_duplicates

    _check_format(fmt, ("table", "json"))
    if not 0.5 < threshold <= 1.0:
        _usage(f"--threshold must be in (0.5, 1], got {threshold}")
    lib = Library.load(library)
    groups = find_duplicates(lib, threshold=threshold)
    if fmt == "json":
        _emit(json.dumps({"library": str(library), "groups": [g.to_dict() for g in groups]}, indent=2) + "\n", None)
        return
    table = Table(title=f"{len(groups)} groups of duplicates in {len(lib)} files (nothing deleted)")
    for col, just in (("#", "right"), ("files", "left"), ("match", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for i, g in enumerate(groups, 1):
        table.add_row(str(i), "\n".join(str(p) for p in g.paths),
                      "\n".join(f"{m:.3f} {how}" for _, _, m, how in g.pairs))
    out.print(table)


# ---------------------------------------------------------------------------------------------- list / demo

@app.command("list")
def list_components() -> None:
    """List the tasks, feature sets, backbones, models, presets, tune search spaces and output formats."""
    from soundsort.backbones import backbone_names
    from soundsort.dataset.tasks import TASKS
    from soundsort.features.registry import featurizer_names
    from soundsort.models.classical import describe_model, model_names
    from soundsort.presets import PRESETS
    from soundsort.tuning import shipped_spaces

    out.print("[bold]tasks[/bold]: " + ", ".join(TASKS))
    out.print("[bold]features[/bold]: " + ", ".join(featurizer_names()))
    out.print("[bold]backbones[/bold]: " + (", ".join(backbone_names()) or "none"))
    out.print("[bold]models[/bold]:")
    for name in model_names():
        out.print(f"  {name:14s} {describe_model(name)}")
    out.print("  ensemble-mean, ensemble-vote, ensemble-max  over --member FEATURES:MODEL pairs")
    out.print("[bold]presets[/bold]: " + ", ".join(sorted(PRESETS)))
    out.print("[bold]tune spaces[/bold]: " + ", ".join(shipped_spaces()))
    out.print("[bold]classify formats[/bold]: " + ", ".join(CLASSIFY_FORMATS))


@app.command("config", epilog=_examples("soundsort config", "soundsort config --path"))
def show_config(
    path_only: Annotated[bool, typer.Option("--path", help="Only print where the config file is read from.")] = False,
) -> None:
    """Show the defaults in effect (models, jobs, output format, cache folder) and where each comes from.

    The config file is TOML with top-level keys music_model, genre_model, jobs, format and cache_dir, read from
    $SOUNDSORT_CONFIG, else $XDG_CONFIG_HOME/soundsort/config.toml, else ~/.config/soundsort/config.toml; the
    variables SOUNDSORT_MUSIC_MODEL, SOUNDSORT_GENRE_MODEL, SOUNDSORT_JOBS, SOUNDSORT_FORMAT and
    SOUNDSORT_CACHE_DIR override it, and command-line options override both.
    """
    from soundsort.settings import config_path, current, describe

    where = config_path()
    if path_only:
        _outline("" if where is None else str(where))
        return
    settings = current()
    state = "none (SOUNDSORT_CONFIG is empty)" if where is None else (
        f"{where}" + ("" if settings.file else " (not there: built-in defaults)"))
    _outline(f"config file: {state}")
    table = Table(title="defaults in effect")
    for col in ("setting", "value", "from"):
        table.add_column(col, overflow="fold")
    for key, value, source in describe(settings):
        table.add_row(key, value, source)
    out.print(table)


@app.command(epilog=_examples('soundsort demo --workdir demo_out', 'soundsort demo --workdir demo_out --train -j 2'))
def demo(
    workdir: Annotated[Optional[Path], typer.Option(help="Folder for the example audio (and model, report).")] = None,
    train_model: Annotated[bool, typer.Option("--train", help="Also train and cross-validate a model on the examples.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=_JOBS_HELP, show_default=False)] = None,
) -> None:
    """Generate example audio and run the main job on it: music timeline and genre with the bundled models."""
    import soundfile as sf

    from soundsort.examples import have_espeak, make_mixed_recording, synth_music, synth_noise, synth_speech
    from soundsort.inference.batch import run_batch

    work = workdir or Path(tempfile.mkdtemp(prefix="soundsort-demo-"))
    audio = work / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    speech = "espeak-ng speech" if have_espeak() else "formant-synthesized speech (install espeak-ng for real speech)"
    out.print(f"[bold]1.[/bold] generating example audio in {audio}: synthesized music, {speech}, street-like noise")
    sr = 22050
    make_mixed_recording(audio / "radio_show.flac", [("speech", 10.0), ("music", 20.0), ("speech", 8.0),
                                                     ("noise", 5.0), ("music", 15.0), ("silence", 3.0)], sr=sr, seed=7)
    sf.write(audio / "song.flac", synth_music(25.0, sr, seed=991), sr)
    sf.write(audio / "interview.wav", synth_speech(15.0, sr, seed=992), sr)
    sf.write(audio / "street.ogg", synth_noise(10.0, sr, seed=993), sr)
    out.print("[bold]2.[/bold] soundsort classify: where the music is, and its genre (bundled models, "
              "YAMNet + musicnn, 10 GTZAN genres)")
    files = sorted(str(p) for p in audio.iterdir())
    records: list[dict] = []
    n_jobs = _jobs(jobs, len(files))
    factory = _classifier_factory(None, None, True, 2.0, 3, 1 if n_jobs > 1 else None)
    with _progress("classifying") as update:
        run_batch(files, factory, jobs=n_jobs, on_result=records.append, progress=update)
    _print_classify_table(records, _shown_names(files, [audio]))
    out.print("(the music here is synthesized, so its genre is a guess among the 10 genres the model knows)")
    if train_model:
        from soundsort.examples import make_example_dataset
        from soundsort.workflows import TrainConfig
        from soundsort.workflows import train as run_train

        data = work / "dataset"
        out.print(f"[bold]3.[/bold] training music vs non-music on generated clips in {data} (5-fold CV)")
        make_example_dataset(data, n_per_class=10, seconds=6.0, seed=0)
        cfg = TrainConfig(task="music", features="handcrafted", model="logreg", jobs=_threads(jobs))
        with _progress("extracting features") as update:
            res = run_train([data], cfg, model_dir=work / "model-music", runs_dir=work / "runs", overwrite=True,
                            progress=update)
        _print_summary(res["cv"], res["labels"], title="5-fold cross-validation (files)")
        out.print(f"report: {res['report']}")
    out.print(f"everything is in {work}; try: soundsort classify {audio} --format json")


from soundsort.cli_tune import tune as _tune  # noqa: E402  (the command lives in its own module)

app.command("tune")(_tune)


def main() -> None:
    """Entry point: run the app, turning soundsort errors into one line and the documented exit status.

    File names that are not UTF-8 reach stdout as the bytes they are (as ``ls`` prints them), never as an
    encoding error. An error soundsort did not foresee is still one line (``SOUNDSORT_DEBUG=1`` shows the
    traceback). A closed stdout (``soundsort classify ... | head``) ends the command quietly (status 141).
    """
    from soundsort.errors import ConfigError

    # typer carries its own copy of click: its usage errors derive from this ClickException
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    debug = os.environ.get("SOUNDSORT_DEBUG") == "1"
    code = EXIT_OK
    try:
        rv = app(args=_hoist_global_flags(sys.argv[1:]), prog_name="soundsort", standalone_mode=False)
        code = rv if isinstance(rv, int) else EXIT_OK
        if code == EXIT_INTERRUPTED and not _INTERRUPT_SAID:  # typer turns Ctrl-C into exit 130
            _errline("soundsort: interrupted")
    except SystemExit as exc:
        if "PacifyFlushWrapper" not in type(sys.stdout).__name__:
            raise
        _quiet_stdout()  # typer met the closed stdout (EPIPE) first and wrapped it: end quietly all the same
        code = EXIT_CLOSED_STDOUT
    except click_error as exc:  # usage errors (exit 2) and the like
        exc.show()
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        _errline("soundsort: interrupted")
        code = EXIT_INTERRUPTED
    except ConfigError as exc:
        _errline(f"soundsort: {exc}")
        code = EXIT_USAGE
    except SoundsortError as exc:
        _errline(f"soundsort: {exc}")
        code = EXIT_NOTHING_DONE
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
            _quiet_stdout()
            code = EXIT_CLOSED_STDOUT
        else:
            if debug:
                raise
            where = f"{display_path(exc.filename)}: " if exc.filename is not None else ""
            _errline(f"soundsort: {where}{os_reason(exc)}")
            code = EXIT_NOTHING_DONE
    except Exception as exc:
        if debug:
            raise
        _errline(f"soundsort: unexpected error ({type(exc).__name__}: {exc}); SOUNDSORT_DEBUG=1 shows where")
        code = EXIT_NOTHING_DONE
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        _quiet_stdout()
        code = code or EXIT_CLOSED_STDOUT
    sys.exit(code)


def _quiet_stdout() -> None:
    """stdout was closed by its reader: point it at /dev/null so nothing more (the interpreter's last flush
    included) complains."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass


if __name__ == "__main__":
    main()
