"""``soundsort index``, ``train`` and ``evaluate``: datasets, cross-validated training and scoring a saved model
(the work itself is in :mod:`soundsort.workflows`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from soundsort.cli.common import (DATA_HELP, JOBS_HELP, LABELS_CSV_HELP, SOURCES_HELP, clean_leftovers, errline,
                                  examples, fail, info, labels_table, out, outline, parse_params, progress,
                                  thread_count, usage)
from soundsort.cli.ray_engine import ACTORS_HELP, ADDRESS_HELP, check_engine, featurize_on_ray
from soundsort.cli.root import app
from soundsort.errors import display_path



# The --labels-csv options, shared by `index` and `train` (declared once)
LabelsCsv = Annotated[Optional[Path], typer.Option(help=LABELS_CSV_HELP)]
PathColumn = Annotated[str, typer.Option(help="--labels-csv: the column with each file's path (or file id).")]
LabelColumn = Annotated[str, typer.Option(help="--labels-csv: the column with the label (e.g. track.genre_top).")]
GroupColumn = Annotated[Optional[str], typer.Option(help="--labels-csv: a column of groups kept on one side of every "
                                                    "split (e.g. artist.name).")]
HeaderRows = Annotated[int, typer.Option(help="--labels-csv: header rows (FMA's tracks.csv: 3; columns are then named "
                                         "top.sub).")]
MissingFiles = Annotated[str, typer.Option(help="--labels-csv: a row whose file is not there is an 'error', or "
                                           "'skip'ped.")]

@app.command(epilog=examples('soundsort index DATA/ -o index.json', "soundsort index ESC10/ --group-pattern '^(\\d+)-'", 'soundsort index fma_small/ --labels-csv tracks.csv --header-rows 3 --path-column track_id --label-column track.genre_top'))
def index(
    data: Annotated[list[Path], typer.Argument(help=DATA_HELP)],
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Index file to write.")] = None,
    group_pattern: Annotated[Optional[str], typer.Option(help="Regex on file names giving the group, e.g. '^(\\d+)-'.")] = None,
    groups_csv: Annotated[Optional[Path], typer.Option(help="CSV with columns path,group (e.g. artists).")] = None,
    sources_csv: Annotated[Optional[Path], typer.Option(help=SOURCES_HELP)] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
    overwrite: Annotated[bool, typer.Option(help="Replace an existing index file.")] = False,
    labels_csv: LabelsCsv = None,
    path_column: PathColumn = "path",
    label_column: LabelColumn = "label",
    group_column: GroupColumn = None,
    header_rows: HeaderRows = 1,
    missing_files: MissingFiles = "error",
) -> None:
    """Find labelled audio under DATA, validate every file, and write a dataset index (JSON)."""
    from soundsort.workflows import index_dataset

    table = labels_table(labels_csv, path_column, label_column, group_column, header_rows, missing_files)
    with progress("checking files") as update:
        idx = index_dataset(data, group_pattern=group_pattern, groups_csv=groups_csv, sources_csv=sources_csv,
                            jobs=thread_count(jobs), progress=update, labels_table=table)
    for note in idx.notes:
        errline(note)
    target = output or Path("soundsort-index.json")
    if target.exists() and not overwrite:
        fail(f"{display_path(target)}: already exists (use --overwrite to replace it, or --output)")
    clean_leftovers(target)
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
        errline(f"skipped {display_path(s.path)}: {s.reason}")
    out.print(f"index written to {target}" + (f" ({len(idx.skipped)} files skipped)" if idx.skipped else ""))


@app.command(epilog=examples('soundsort train DATA/ --task music --features yamnet --model logreg -o models/music', 'soundsort train GENRES/ --task genre --features musicnn-msd --model svm --repeats 3', 'soundsort train GENRES/ --task genre --model ensemble-mean --member musicnn-msd:logreg --member yamnet:mlp', 'soundsort train --preset default-music'))
def train(
    data: Annotated[Optional[list[Path]], typer.Argument(help=DATA_HELP)] = None,
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
    sources_csv: Annotated[Optional[Path], typer.Option(help=SOURCES_HELP)] = None,
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
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
    labels_csv: LabelsCsv = None,
    path_column: PathColumn = "path",
    label_column: LabelColumn = "label",
    group_column: GroupColumn = None,
    header_rows: HeaderRows = 1,
    missing_files: MissingFiles = "error",
    engine: Annotated[str, typer.Option(help="local, or ray: compute the features / embeddings on a Ray cluster "
                                        "(--address) into the feature cache first; the rest runs here.")] = "local",
    address: Annotated[Optional[str], typer.Option(help=ADDRESS_HELP)] = None,
    num_actors: Annotated[Optional[int], typer.Option(help=ACTORS_HELP, show_default=False)] = None,
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
        usage("give at least one dataset folder (or --preset)")
    jobs = thread_count(jobs)
    cfg = TrainConfig(task=task, features=features, feature_params=parse_params(feature_param), model=model,
                      model_params=parse_params(param), folds=folds, repeats=repeats, random_state=seed,
                      group_pattern=group_pattern, groups_csv=str(groups_csv) if groups_csv else None,
                      learning_curve=learning_curve, jobs=jobs, cache=cache, members=list(member or []),
                      calibration=calibration, optimize=optimize, min_precision=min_precision,
                      embedding_map=embedding_map, profile=profile, mlflow=mlflow, augment=augment,
                      augment_noise=[str(p) for p in augment_noise or []],
                      augment_params=parse_params(augment_param), cv=cv,
                      sources_csv=str(sources_csv) if sources_csv else None)
    table = labels_table(labels_csv, path_column, label_column, group_column, header_rows, missing_files)
    if table is not None:
        from dataclasses import asdict as _asdict

        cfg.labels_csv = _asdict(table)
    if (augment_noise or augment_param) and not augment:
        usage("--augment-noise / --augment-param need --augment N (the number of degraded copies per file)")
    if check_engine(engine):  # soundsort.cli.ray_engine: the features into the cache on the cluster, then train here
        featurize_on_ray(data, cfg, address=address, num_actors=num_actors)
    elif address is not None or num_actors is not None:
        usage("--address and --num-actors go with --engine ray")
    with progress("extracting features") as update:
        res = run_train(data, cfg, model_dir=output, runs_dir=runs, overwrite=overwrite, progress=update,
                        log=info, notes=notes)
    what = f"{model} of {', '.join(member or [])}" if model.startswith("ensemble") else f"{features} / {model}"
    print_summary(res.cv, res.labels, title=f"{task} / {what}: {folds}-fold CV (files)")
    if res.leave_source_out:
        _print_sources(res.leave_source_out, binary=task == "music")
    for _, reason in res.skipped:
        errline(f"skipped {reason}")
    outline(f"report: {res.report}")  # whole lines, never wrapped: a script can take the paths
    if res.model_dir:
        outline(f"model saved: {res.model_dir}")


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


def print_summary(summary: dict, labels: list[str], title: str) -> None:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    for key, stat in summary.items():
        if isinstance(stat, dict):
            table.add_row(key, f"{stat['mean']:.3f} ± {stat['std']:.3f}")
        elif isinstance(stat, float):
            table.add_row(key, f"{stat:.3f}")
    out.print(table)



@app.command(epilog=examples('soundsort evaluate models/music OTHER_DATA/', 'soundsort evaluate models/genre GENRES/ --no-profile'))
def evaluate(
    model: Annotated[Path, typer.Argument(help="A saved model folder.")],
    data: Annotated[list[Path], typer.Argument(help="Labelled dataset folder(s) to test on.")],
    runs: Annotated[Path, typer.Option(help="Where run folders (reports) go.")] = Path("runs"),
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache.")] = True,
    profile: Annotated[bool, typer.Option(help="Measure the model's inference time and peak memory.")] = True,
    mlflow: Annotated[Optional[bool], typer.Option("--mlflow/--no-mlflow", help="Log to MLflow (default: when MLFLOW_TRACKING_URI is set).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
) -> None:
    """Score a saved MODEL on labelled DATA and write a report (metrics, confusion matrix, PR curve)."""
    from soundsort.workflows import evaluate as run_eval

    with progress("extracting features") as update:
        res = run_eval(model, data, runs_dir=runs, jobs=thread_count(jobs), cache=cache, progress=update,
                       profile=profile, mlflow=mlflow, log=info)
    o = res["overall"]
    keys = ["accuracy", "precision", "recall", "f1", "pr_auc", "f1_macro"] if "f1" in o else \
        ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    print_summary({k: o[k] for k in keys if k in o}, o["labels"], title=f"{o['n']} files")
    for _, reason in res["skipped"]:
        errline(f"skipped {reason}")
    outline(f"report: {res['report']}")
