"""What every command shares: the consoles, the exit statuses, one-line messages, usage errors, the progress
bar, reading inputs (folders, ``-`` for stdin), writing outputs (atomically), ``--jobs`` and the formats.

The state a global option sets for the whole run (``-q`` / ``-v``) is :data:`invocation`; read it when
the command runs, never copy it at import.
"""

from __future__ import annotations

import io
import json
import os
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn
from rich.table import Table

from soundsort.errors import SoundsortError, display_path, os_reason

#: exit statuses (see :mod:`soundsort.cli.root` and the README)
EXIT_OK, EXIT_SOME_FAILED, EXIT_USAGE, EXIT_NOTHING_DONE, EXIT_INTERRUPTED, EXIT_CLOSED_STDOUT = 0, 1, 2, 3, 130, 141

err = Console(stderr=True, highlight=False)
# a pipe or a file gets wide tables (no terminal width to fit); a terminal gets its own width
out = Console(highlight=False, width=None if sys.stdout.isatty() else 120)


@dataclass
class Invocation:
    """What this run of ``soundsort`` is: set by the root callback and by commands, read by the helpers."""

    #: -q (-1), default (0), -v (1) (``soundsort -q CMD`` or ``soundsort CMD -q``)
    verbosity: int = 0
    #: a command already said how far it got when Ctrl-C came
    interrupt_said: bool = False


invocation = Invocation()


def errline(msg: str) -> None:
    """One unwrapped line on stderr (greppable: one line per bad file)."""
    sys.stderr.write(" ".join(str(msg).split()) + "\n")
    sys.stderr.flush()


def info(msg: str) -> None:
    """A line on stderr that ``-q`` silences (notes, stages, what was written); errors use :func:`errline`."""
    if invocation.verbosity >= 0:
        errline(msg)


def usage(msg: str) -> None:
    """A usage error: one line, exit 2, nothing was run."""
    fail(msg, EXIT_USAGE)


def examples(*lines: str) -> str:
    """A command's ``--help`` epilog: examples, one per line."""
    return "\b\nExamples:\n" + "\n".join(f"  {line}" for line in lines)


def outline(msg: str) -> None:
    """One unwrapped line on stdout, flushed at once (a log a person or a script can follow)."""
    sys.stdout.write(msg + "\n")
    sys.stdout.flush()


def clean_leftovers(path: Path) -> None:
    """Remove the temporary files a killed run left beside ``path`` (see :mod:`soundsort.atomic`), saying so."""
    from soundsort.atomic import remove_stale_temporaries

    removed = remove_stale_temporaries(path)
    if removed:
        errline(f"soundsort: {display_path(path)}: removed {len(removed)} temporary file"
                 f"{'s' if len(removed) > 1 else ''} left by an interrupted run "
                 f"({', '.join(display_path(p.name) for p in removed)})")


def check_format(fmt: str, choices: tuple[str, ...]) -> str:
    """``fmt`` when it is one of ``choices``, else a usage error naming the close one."""
    if fmt not in choices:
        from soundsort.suggest import unknown

        usage(unknown("format", fmt, choices))
    return fmt


def fail(msg: str, code: int = EXIT_NOTHING_DONE) -> None:
    """One line on stderr and exit: by default 3, nothing could be done (:func:`usage` for usage errors)."""
    errline(f"soundsort: {msg}")
    raise typer.Exit(code)


@contextmanager
def progress(description: str, enabled: bool = True) -> Iterator:
    """A rich progress bar on stderr (a terminal, or ``SOUNDSORT_PROGRESS=1``; never with ``-q``, or with
    ``SOUNDSORT_PROGRESS=0``), naming the file being worked on; yields ``update(done, total, path)``."""
    wanted = os.environ.get("SOUNDSORT_PROGRESS")
    if not enabled or invocation.verbosity < 0 or wanted == "0" or not err.is_terminal and wanted != "1":
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


def parse_params(items: list[str] | None) -> dict:
    """``key=value`` pairs; values parsed as JSON when they can be (numbers, true/false, null)."""
    params = {}
    for item in items or []:
        if "=" not in item:
            usage(f"parameter {item!r} is not key=value")
        k, v = item.split("=", 1)
        try:
            params[k.strip()] = json.loads(v)
        except json.JSONDecodeError:
            params[k.strip()] = v
    return params



JOBS_HELP = ("Parallel jobs (0 = one per core; default: jobs in the config file or $SOUNDSORT_JOBS, else 0).")
DATA_HELP = ("Dataset folder(s): one sub-folder per label; or LABEL=FOLDER, every audio file under FOLDER "
              "has label LABEL (e.g. music=instruments/). Each folder is one data source.")
SOURCES_HELP = ("CSV with columns path,source naming each file's data source (paths relative to the dataset "
                 "root they are under, or absolute); default: the root's folder name.")

LABELS_CSV_HELP = ("Labels from a table instead of folders (FMA's tracks.csv): a CSV with a path column (relative "
                    "to DATA, or a file id) and a label column; DATA is then one folder.")


def labels_table(labels_csv: Path | None, path_column: str, label_column: str, group_column: str | None,
                  header_rows: int, missing_files: str):
    """The :class:`~soundsort.dataset.table.LabelsTable` the ``--labels-csv`` options describe (None without it)."""
    from soundsort.dataset.table import LabelsTable

    given = (path_column != "path" or label_column != "label" or group_column is not None or header_rows != 1
             or missing_files != "error")
    if labels_csv is None:
        if given:
            usage("--path-column / --label-column / --group-column / --header-rows / --missing-files need --labels-csv")
        return None
    return LabelsTable(str(labels_csv), path_column, label_column, group_column, header_rows, missing_files)




def resolve_format(fmt: str | None, output: Path | None, choices: tuple[str, ...], *,
                    configured: str | None = None) -> str:
    """The output format: ``--format`` when given, else what ``-o``'s extension says (``.csv .json .jsonl .txt
    .TextGrid``), else ``configured`` (the config file / ``$SOUNDSORT_FORMAT``), else ``table``."""
    if fmt is not None:
        return check_format(fmt.strip().lower(), choices)
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
            usage(f"-o {display_path(output)} is a folder: give --format "
                   + (" or ".join(per_file) + " (one label file per input)" if per_file else "with a file name"))
        what = "says no format" if inferred is None else f"means {inferred}, which this command does not write"
        usage(f"-o {display_path(output)}: the extension {what}; give --format ({', '.join(choices)}) or a name "
               f"ending in {', '.join(files)}")
    if configured is not None and configured in choices:
        return configured
    return "table"


def print_table(table: Table, output: Path | None) -> None:
    """A rich table on stdout, or as plain text (no colour, 120 columns) into ``output``, atomically."""
    if output is None:
        out.print(table)
        return
    buf = io.StringIO()
    Console(file=buf, width=120, no_color=True, highlight=False, force_terminal=False).print(table)
    emit(buf.getvalue(), output)


def check_model_dir(folder: Path | None, option: str) -> None:
    """A model folder given on the command line exists (before any model is loaded: fails in no time)."""
    if folder is None:
        return
    try:
        is_dir = folder.is_dir()
    except OSError as exc:
        fail(f"{display_path(folder)}: {option}: {os_reason(exc)}")
    if not is_dir:
        fail(f"{display_path(folder)}: {option}: " + ("not a model folder (a model is a folder holding model.json)"
                                                       if os.path.lexists(folder) else "model folder not found"))


def require_inputs(files: list[Path], unlisted: int, given: list[Path]) -> None:
    """Fail at once (exit 3, no model loaded) when no input can be read at all: each missing path is named."""
    if not files:
        fail("no audio files found in " + ", ".join(display_path(p) for p in given), EXIT_NOTHING_DONE)
    reasons = []
    for f in files:
        try:
            os.lstat(f)
            return  # one input is there: the batch runs, and a missing one is reported with the others
        except OSError as exc:
            reasons.append(f"{display_path(f)}: {os_reason(exc)}")
    for r in reasons:
        errline(f"soundsort: {r}")
    fail(f"nothing to do: none of the {len(files) + unlisted} inputs can be read", EXIT_NOTHING_DONE)


def each_file(paths: list[Path], fn, what: str) -> tuple[list, int]:
    """``fn(path)`` for every path with a progress bar; a bad file is one line on stderr, the rest go on."""
    results, failures = [], 0
    with progress(what) as update:
        for i, path in enumerate(paths):
            try:
                results.append(fn(path))
            except SoundsortError as exc:
                failures += 1
                errline(f"soundsort: {exc}")
            except MemoryError:
                failures += 1
                errline(f"soundsort: {display_path(path)}: out of memory")
            except Exception as exc:  # a library failure on one file must not end the batch
                failures += 1
                errline(f"soundsort: {display_path(path)}: {type(exc).__name__}: {str(exc)[:200]}")
            update(i + 1, len(paths), path)
    return results, failures


def stdin_paths() -> list[Path]:
    """The paths on stdin, one per line (``find ... | soundsort classify -``); names that are not UTF-8 are
    kept as the bytes they are."""
    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:
        return [Path(line.rstrip("\r\n")) for line in sys.stdin if line.strip()]
    return [Path(os.fsdecode(line.rstrip(b"\r\n"))) for line in stream if line.strip()]


def with_stdin(items: list[Path]) -> list[Path]:
    """``items`` with each ``-`` replaced by the paths read from stdin (read once)."""
    if not any(str(p) == "-" for p in items):
        return list(items)
    if sys.stdin is None or sys.stdin.isatty():
        usage("'-' reads paths from stdin, one per line (e.g. find . -name '*.mp3' | soundsort classify -); "
               "stdin is a terminal")
    read = stdin_paths()
    out: list[Path] = []
    for p in items:
        if str(p) == "-":
            out.extend(read)
            read = []
        else:
            out.append(p)
    return out


def shown_names(files: list[str], given: list[Path]) -> dict[str, str]:
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


def expand(items: list[Path]) -> tuple[list[Path], int]:
    """Files as given (``-``: paths from stdin); folders walked recursively for audio files (sorted; see
    :mod:`soundsort.audio.files`). A folder that cannot be listed is one line on stderr; returns the files
    and how many such folders there were (they count as failures)."""
    from soundsort.audio.files import find_audio

    found = find_audio(with_stdin(items))
    for folder, reason in found.unlisted:
        errline(f"soundsort: {display_path(folder)}: {reason}")
    return found.files, len(found.unlisted)


def emit(text: str, output: Path | None) -> None:
    """``text`` on stdout (flushed), or written atomically into ``output``."""
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    from soundsort.atomic import atomic_open

    clean_leftovers(output)
    with atomic_open(output, "w", encoding="utf-8", errors="surrogateescape") as fh:
        fh.write(text)



def process_count(jobs: int | None, n_files: int) -> int:
    """``--jobs`` for files in processes: 0 means one per core (None: the configured default); never more
    processes than files."""
    return max(1, min(thread_count(jobs), n_files))


def thread_count(jobs: int | None) -> int:
    """``--jobs`` as a count: None takes the configured default (``jobs`` in the config file or
    ``$SOUNDSORT_JOBS``, else 0); 0 means one per core."""
    from soundsort.settings import current

    jobs = current().jobs if jobs is None else jobs
    if jobs < 0:
        usage(f"--jobs must be >= 0, got {jobs}")
    return jobs or (os.cpu_count() or 1)



def mmss(seconds: float) -> str:
    """``m:ss`` (``h:mm:ss`` from an hour), rounded to the second."""
    seconds = int(round(seconds))
    h, rest = divmod(seconds, 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60}:{rest % 60:02d}"
