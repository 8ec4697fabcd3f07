"""``soundsort classify`` (timeline and genre with the bundled or given models) and ``predict`` (one label per
file with a saved model), with the helpers organize and demo share: the classifier factory, the model folders
in effect, the batch with its progress bar and the results table."""

from __future__ import annotations

import csv
import functools
import io
import json
import os
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Annotated, Any, Optional

import typer
from rich.table import Table

from soundsort.cli.common import (EXIT_INTERRUPTED, EXIT_SOME_FAILED, JOBS_HELP, check_model_dir, each_file, emit,
                                  errline, examples, expand, info, invocation, mmss, print_table, process_count,
                                  progress, require_inputs, resolve_format, shown_names, usage, with_stdin)
from soundsort.cli.ray_engine import ACTORS_HELP, ADDRESS_HELP, ENGINE_HELP, check_engine, classify_on_ray
from soundsort.cli.root import app
from soundsort.errors import SoundsortError, display_path, os_reason
from soundsort.registry import Registry


@app.command(epilog=examples("soundsort predict song.mp3 podcasts/ -m models/music",
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

    fmt = resolve_format(fmt, output, ("table", "json", "csv"))
    check_model_dir(model, "--model")
    paths, unlisted = expand(files)
    require_inputs(paths, unlisted, files)
    from soundsort.inference.predict import Predictor

    predictor = Predictor(model)
    results, failures = each_file(paths, predictor.predict_file, "predicting")
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
        print_table(table, output)
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
        emit(buf.getvalue(), output)
    if failures:
        errline(f"{failures} of {len(paths) + unlisted} files failed")
        raise typer.Exit(EXIT_SOME_FAILED)


def classifier_factory(model: Optional[Path], genre_model: Optional[Path], genre: bool, min_segment: float,
                        top_k: int, threads: Optional[int], mixed: Optional[float] = None):
    from soundsort.inference.classify import ClassifyConfig, Classifier

    cfg = ClassifyConfig(min_segment_seconds=min_segment, top_k=top_k, genre=genre, mixed=mixed)
    return functools.partial(Classifier, model, genre_model, cfg, threads=threads)


def model_folders(model: Optional[Path], genre_model: Optional[Path], genre: bool) -> tuple[Optional[Path], Optional[Path]]:
    """The model folders to use: the options, else the configured ones (config file, ``$SOUNDSORT_*_MODEL``),
    else None (bundled); each checked to exist before anything is loaded."""
    from soundsort.settings import current

    settings = current()
    model = model if model is not None else (Path(settings.music_model) if settings.music_model else None)
    genre_model = genre_model if genre_model is not None else (
        Path(settings.genre_model) if settings.genre_model else None)
    check_model_dir(model, "--model")
    if genre:
        check_model_dir(genre_model, "--genre-model")
    return model, genre_model


CLASSIFY_FORMATS = ("table", "json", "jsonl", "csv", "segments", "audacity", "textgrid")


@app.command(epilog=examples(
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
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
    schema: Annotated[bool, typer.Option(help="Print the JSON Schema of one result record and exit.")] = False,
    engine: Annotated[str, typer.Option(help=ENGINE_HELP + " With ray a rerun skips every input already in OUT; "
                                        "--resume retries the failed ones too.")] = "local",
    address: Annotated[Optional[str], typer.Option(help=ADDRESS_HELP)] = None,
    num_actors: Annotated[Optional[int], typer.Option(help=ACTORS_HELP, show_default=False)] = None,
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
    if check_engine(engine):  # soundsort.cli.ray_engine: the cluster runs it, into partitions in -o OUT/
        from soundsort.inference.classify import ClassifyConfig

        if mixed is not None and not 0.0 < mixed <= 0.5:
            usage(f"--mixed takes a share in (0, 0.5], got {mixed}")
        if resume and overwrite:
            usage("--resume and --overwrite do not go together")
        model, genre_model = model_folders(model, genre_model, genre)
        classify_on_ray(with_stdin(list(paths)), output, fmt, music_model=model, genre_model=genre_model,
                        config=ClassifyConfig(min_segment_seconds=min_segment, top_k=top_k, genre=genre, mixed=mixed),
                        address=address, num_actors=num_actors, overwrite=overwrite, retry_errors=resume,
                        refused={"--write-tags": write_tags, "--plot": plot is not None, "--jobs": jobs is not None})
        return
    if address is not None or num_actors is not None:
        usage("--address and --num-actors go with --engine ray")
    fmt = resolve_format(fmt, output, CLASSIFY_FORMATS, configured=current().format)
    from soundsort.inference.exports import PER_FILE, is_folder_target

    if resume and output is None:
        usage("--resume needs --output")
    if resume and overwrite:
        usage("--resume and --overwrite do not go together")
    if dry_run and not write_tags:
        usage("--dry-run goes with --write-tags (it says what would be written)")
    if mixed is not None and not 0.0 < mixed <= 0.5:
        usage(f"--mixed takes a share in (0, 0.5], got {mixed}")
    if output is not None and fmt not in PER_FILE and is_folder_target(output, fmt):
        usage(f"-o {display_path(output)} is a folder: --format {fmt} writes one file (audacity and textgrid "
               "write one file per input into a folder)")
    if fmt == "table" and resume:
        usage("--resume needs a results format (json, jsonl, csv, segments, audacity, textgrid)")
    given = with_stdin(list(paths))
    found, unlisted = expand(given)
    files = [str(p) for p in found]
    require_inputs(found, unlisted, given)
    shown = shown_names(files, given)
    if fmt in PER_FILE and output is None and len(files) > 1:
        usage(f"--format {fmt} holds one file's labels: give -o FOLDER for one file per input (or one input)")
    model, genre_model = model_folders(model, genre_model, genre)
    writer = _results_writer(fmt, output, shown, resume=resume, overwrite=overwrite)
    jobs = process_count(jobs, len(files))
    factory = classifier_factory(model, genre_model, genre, min_segment, top_k, 1 if jobs > 1 else None, mixed)
    factory()  # load the models once here: a broken model fails now, with one line, not once per file
    if writer is None and fmt != "table":
        writer = _results_writer(fmt, output, shown, resume=resume, overwrite=overwrite, create=True)
    todo = [f for f in files if writer is None or f not in writer.done]
    if writer is not None and len(todo) < len(files):
        info(f"resuming: {len(files) - len(todo)} of {len(files)} files already done")
    records: list[dict] = []
    tag_failures = 0
    done = [0]

    def on_result(rec: dict) -> None:
        nonlocal tag_failures
        done[0] += 1
        if invocation.verbosity > 0:
            for warning in rec.get("warnings") or []:
                errline(f"soundsort: {display_path(rec['path'])}: warning: {warning}")
        if rec["status"] != "ok":
            errline(f"soundsort: {rec['error']}")
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
        failed = classify_batch(todo, factory, jobs, on_result, writer)
    except KeyboardInterrupt:
        again = " (run the same command with --resume to continue)" if output is not None and fmt != "table" else ""
        errline(f"soundsort: interrupted after {done[0]} of {len(todo)} files{again}")
        invocation.interrupt_said = True
        raise typer.Exit(EXIT_INTERRUPTED) from None
    if fmt == "table":
        print_classify_table(records, shown, output)
    if failed or unlisted:
        errline(f"{failed + unlisted} of {len(todo) + unlisted} files failed")
    if tag_failures:
        errline(f"tags not written to {tag_failures} of {len(todo)} files")
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
        return LabelFilesWriter(fmt, output, shown, resume=resume, overwrite=overwrite, log=info)
    if not create:
        if output is not None and os.path.lexists(output) and not (resume or overwrite):
            usage(f"{display_path(output)}: output file exists (use --resume to continue it or --overwrite to "
                   "replace it)")
        return None
    from soundsort.inference.batch import ResultWriter

    return ResultWriter(fmt, output, resume=resume, overwrite=overwrite, log=info)


#: classify's output formats (``soundsort list``): name → ``factory(output, shown, *, resume, overwrite,
#: create=False)``, the results writer of that format (None for the table, which is printed at the end)
FORMATS: Registry[Callable[..., Any]] = Registry("format")
for _fmt, _what in (("table", "a table on the terminal (or -o FILE as plain text)"),
                    ("json", "one JSON array of records (the schema: classify --schema)"),
                    ("jsonl", "one JSON record per line, written as each file is done (--resume continues it)"),
                    ("csv", "one row per file"),
                    ("segments", "CSV, one row per timeline segment"),
                    ("audacity", "Audacity label track (-o FOLDER/: one per input)"),
                    ("textgrid", "Praat TextGrid (-o FOLDER/: one per input)")):
    FORMATS.register(_fmt, functools.partial(_results_writer, _fmt), _what)
del _fmt, _what
assert set(FORMATS.names()) == set(CLASSIFY_FORMATS)


def _write_tags(rec: dict, dry_run: bool) -> int:
    """Write (or, dry run, say) the top genre into one file's tags; one line says what. Returns 1 on failure."""
    from soundsort.inference.filetags import write_genre

    name = display_path(rec["path"])
    if not rec.get("genre"):
        info(f"tags: {name}: no music, no genre: tags left as they are")
        return 0
    genre = rec["genre"][0]["label"]
    if dry_run:
        info(f"tags (dry run): {name}: would set genre to {genre!r}")
        return 0
    try:
        write_genre(rec["path"], genre)
    except SoundsortError as exc:
        errline(f"soundsort: {exc}")
        return 1
    info(f"tags: {name}: genre set to {genre!r}")
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
        errline(f"soundsort: {display_path(target)}: cannot write the plot ({os_reason(exc)})")


def classify_batch(todo: list[str], factory, jobs: int, on_result, writer) -> int:
    """Classify ``todo`` with a progress bar; the writer is closed (flushed) even on Ctrl-C. Returns failures."""
    from soundsort.inference.batch import run_batch

    try:
        with progress("classifying") as update:
            _, failed = run_batch(todo, factory, jobs=jobs, on_result=on_result, progress=update)
    finally:
        if writer is not None:
            writer.close()
    return failed


def print_classify_table(records: list[dict], shown: dict[str, str] | None = None,
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
            lines.append(f"{mmss(seg['start'])}–{mmss(seg['end'])} {seg['label']} ({seg['confidence']:.2f})"
                         + (f" {g[0]['label']}" if g else ""))
        timeline = "\n".join(lines)
        if len(r["timeline"]) > 12:
            timeline += f"\n… {len(r['timeline']) - 12} more"
        genre = "\n".join(f"{g['label']} {g['probability']:.2f}" for g in r["genre"]) if r.get("genre") else "–"
        name = (shown or {}).get(r["path"], Path(r["path"]).name)
        label = f"{100 * r['music_share']:.0f}%" + (" mixed" if r.get("label") == "mixed" else "")
        table.add_row(display_path(name), mmss(r["duration"]), label, timeline, genre)
    print_table(table, output)
