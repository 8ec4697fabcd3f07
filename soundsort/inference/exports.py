"""Timelines for other tools: a segments CSV, Audacity label tracks and Praat TextGrids (and reading them back).

* ``segments`` — CSV, one row per timeline segment of every file: :data:`SEGMENT_COLUMNS` (``path, start, end,
  label, confidence, genre, genre_probability``; the genre of that music segment, empty for non-music), as
  inaSpeechSegmenter users know it.
* ``audacity`` — an Audacity label track: ``start<TAB>end<TAB>label`` per segment, times in seconds with six
  decimals; a music segment's label carries its genre: ``music (jazz)``. File > Import > Labels in Audacity.
* ``textgrid`` — a Praat TextGrid (long text format) with two interval tiers over the whole file: ``music``
  (``music`` / ``non-music``) and ``genre`` (the genre of each music segment, empty elsewhere).

Audacity and TextGrid files hold one audio file each: one file per ``-o FILE.txt`` / ``-o FILE.TextGrid``, or
one per input under ``-o FOLDER`` (any other name; see :class:`LabelFilesWriter`). :func:`format_for_output` infers a format from ``-o``'s
extension.
"""

from __future__ import annotations

import csv
import io
import os
import re
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TextIO

from soundsort.errors import ConfigError, display_path

SEGMENT_COLUMNS = ["path", "start", "end", "label", "confidence", "genre", "genre_probability"]

#: ``-o`` extensions (lower case) and the format each means when ``--format`` is not given
EXTENSIONS = {".json": "json", ".jsonl": "jsonl", ".ndjson": "jsonl", ".csv": "csv", ".txt": "audacity",
              ".textgrid": "textgrid"}
#: the file name ending of one input's label file in an output folder
SUFFIX = {"audacity": ".txt", "textgrid": ".TextGrid"}
PER_FILE = tuple(SUFFIX)


def is_folder_target(output: Path | str, fmt: str | None = None) -> bool:
    """``-o`` names a folder: it is one, or it is spelled with a trailing slash, or (for a per-file ``fmt``:
    audacity, textgrid) its name does not end in that format's extension (``-o labels`` → ``labels/``)."""
    text = os.fspath(output)
    if text.endswith(os.sep) or text.endswith("/") or Path(text).is_dir():
        return True
    return fmt in SUFFIX and Path(text).suffix.lower() != SUFFIX[fmt].lower()


def format_for_output(output: Path | str) -> str | None:
    """The format ``-o``'s extension says (``.csv .json .jsonl .txt .TextGrid``), None when it says none."""
    return EXTENSIONS.get(Path(output).suffix.lower())


def segment_genre(segment: Mapping[str, Any]) -> tuple[str, float | None]:
    """A segment's top genre and its probability (``("", None)`` when it has none)."""
    genre = segment.get("genre") or []
    if not genre:
        return "", None
    return str(genre[0]["label"]), float(genre[0]["probability"])


def segment_rows(record: Mapping[str, Any]) -> list[list[str]]:
    """The ``segments`` CSV rows (strings) of one ok record; none for an error record."""
    rows = []
    if record.get("status") != "ok":
        return rows
    for s in record.get("timeline") or []:
        genre, prob = segment_genre(s)
        rows.append([str(record["path"]), f"{s['start']:.3f}", f"{s['end']:.3f}", s["label"],
                     f"{s['confidence']:.4f}", genre, "" if prob is None else f"{prob:.4f}"])
    return rows


def read_segments(text: str) -> dict[str, list[dict[str, Any]]]:
    """``{path: [segment, ...]}`` from a ``segments`` CSV (numbers as floats, genre None when empty)."""
    out: dict[str, list[dict[str, Any]]] = {}
    for row in csv.DictReader(io.StringIO(text)):
        if not row.get("path"):
            continue
        out.setdefault(row["path"], []).append({
            "start": float(row["start"]), "end": float(row["end"]), "label": row["label"],
            "confidence": float(row["confidence"]), "genre": row.get("genre") or None,
            "genre_probability": float(row["genre_probability"]) if row.get("genre_probability") else None})
    return out


def _audacity_label(segment: Mapping[str, Any]) -> str:
    genre, _ = segment_genre(segment)
    label = str(segment["label"])
    return f"{label} ({genre})" if genre else label


def audacity_text(record: Mapping[str, Any]) -> str:
    """An Audacity label track of one record's timeline."""
    return "".join(f"{s['start']:.6f}\t{s['end']:.6f}\t{_audacity_label(s)}\n" for s in record.get("timeline") or [])


_AUDACITY_LABEL = re.compile(r"^(?P<label>.*?)(?: \((?P<genre>[^()]*)\))?$")


def read_audacity(text: str) -> list[dict[str, Any]]:
    """``[{"start", "end", "label", "genre"}]`` from an Audacity label track (its frequency lines, which start
    with a backslash, are skipped)."""
    out = []
    for line in text.splitlines():
        if not line.strip() or line.startswith("\\"):
            continue
        parts = line.split("\t")
        if len(parts) < 3:
            raise ValueError(f"not an Audacity label line: {line!r}")
        m = _AUDACITY_LABEL.match(parts[2])
        assert m is not None
        out.append({"start": float(parts[0]), "end": float(parts[1]), "label": m["label"], "genre": m["genre"]})
    return out


def _praat_text(value: str) -> str:
    return '"' + value.replace('"', '""') + '"'


def _num(value: float) -> str:
    return repr(round(float(value), 6))


def textgrid_text(record: Mapping[str, Any]) -> str:
    """A Praat TextGrid (long text format): tiers ``music`` and ``genre`` over the whole file."""
    timeline = list(record.get("timeline") or [])
    xmax = max([float(record.get("duration") or 0.0)] + [float(s["end"]) for s in timeline])
    intervals: list[tuple[float, float, str, str]] = []
    t = 0.0
    for s in timeline:
        if s["start"] > t + 1e-9:  # never in classify's timelines (they tile the file); kept valid anyway
            intervals.append((t, float(s["start"]), "", ""))
        genre, _ = segment_genre(s)
        intervals.append((float(s["start"]), float(s["end"]), str(s["label"]), genre))
        t = float(s["end"])
    if xmax > t + 1e-9 or not intervals:
        intervals.append((t, xmax, "", ""))
    lines = ['File type = "ooTextFile"', 'Object class = "TextGrid"', "", "xmin = 0", f"xmax = {_num(xmax)}",
             "tiers? <exists>", "size = 2", "item []:"]
    for n, (name, col) in enumerate((("music", 2), ("genre", 3)), start=1):
        lines += [f"    item [{n}]:", '        class = "IntervalTier"', f"        name = {_praat_text(name)}",
                  "        xmin = 0", f"        xmax = {_num(xmax)}", f"        intervals: size = {len(intervals)}"]
        for i, iv in enumerate(intervals, start=1):
            lines += [f"        intervals [{i}]:", f"            xmin = {_num(iv[0])}", f"            xmax = {_num(iv[1])}",
                      f"            text = {_praat_text(str(iv[col]))}"]
    return "\n".join(lines) + "\n"


_TG_LINE = re.compile(r'^\s*(?P<key>[A-Za-z? ]+?)\s*=\s*(?P<value>.*?)\s*$')


def read_textgrid(text: str) -> dict[str, list[dict[str, Any]]]:
    """``{tier name: [{"start", "end", "text"}]}`` from a TextGrid in the long text format."""
    tiers: dict[str, list[dict[str, Any]]] = {}
    current: list[dict[str, Any]] | None = None
    interval: dict[str, Any] | None = None
    for line in text.splitlines():
        stripped = line.strip()
        if stripped.startswith("intervals ["):
            interval = {}
            continue
        m = _TG_LINE.match(line)
        if not m:
            continue
        key, value = m["key"], m["value"]
        if key == "name":
            current = tiers.setdefault(value[1:-1].replace('""', '"'), [])
            interval = None
        elif interval is not None and current is not None and key in ("xmin", "xmax"):
            interval["start" if key == "xmin" else "end"] = float(value)
        elif interval is not None and current is not None and key == "text":
            interval["text"] = value[1:-1].replace('""', '"')
            current.append(interval)
            interval = None
    return tiers


RENDER: dict[str, Callable[[Mapping[str, Any]], str]] = {"audacity": audacity_text, "textgrid": textgrid_text}


def relative_name(shown: str) -> Path:
    """An input's name as shown, fit to place under an output folder: relative (``..`` parts dropped), and a
    file given by an absolute path by its own name."""
    if os.path.isabs(shown):
        return Path(Path(shown).name or "audio")
    parts = [p for p in Path(shown).parts if p not in ("", ".", "..", "/", os.sep)]
    return Path(*parts) if parts else Path("audio")


def label_file_name(shown: str, fmt: str) -> Path:
    """The relative name of one input's label file in an output folder: the input's name as shown (relative to
    the argument it was found under) plus ``.txt`` / ``.TextGrid`` (``a/song.flac`` → ``a/song.flac.txt``)."""
    rel = relative_name(shown)
    return rel.with_name(rel.name + SUFFIX[fmt])


class LabelFilesWriter:
    """Audacity / TextGrid output: one label file per input in a folder, a single file, or stdout.

    The same interface as :class:`~soundsort.inference.batch.ResultWriter` (``done``, ``add``, ``close``). Each
    file is written atomically when its input is done. An existing label file is an error unless ``overwrite``
    (replace it) or ``resume`` (skip that input). An input that failed gets no file (its error is on stderr).
    """

    def __init__(self, fmt: str, output: Path | None, shown: Mapping[str, str], *, resume: bool = False,
                 overwrite: bool = False, stream: TextIO | None = None,
                 log: Callable[[str], None] | None = None) -> None:
        if fmt not in PER_FILE:
            raise ConfigError(f"not a per-file label format: {fmt!r}")
        self.fmt, self.output, self.stream = fmt, output, stream or sys.stdout
        self.folder = output is not None and is_folder_target(output, fmt)
        self.targets: dict[str, Path] = {}
        self.done: set[str] = set()
        self.written: list[Path] = []
        if output is None:
            return
        if self.folder:
            names: dict[Path, str] = {}
            for path, name in shown.items():
                target = Path(output) / label_file_name(name, fmt)
                if target in names:  # two inputs shown alike: keep both, the second numbered
                    stem = target.name[: -len(SUFFIX[fmt])]
                    i = 2
                    while target in names:
                        target = target.with_name(f"{stem}-{i}{SUFFIX[fmt]}")
                        i += 1
                names[target] = path
                self.targets[path] = target
        else:
            if len(shown) > 1:
                raise ConfigError(f"-o {display_path(output)} holds the labels of one audio file; give a folder "
                                  f"(-o FOLDER, a name without {SUFFIX[fmt]}) for one {SUFFIX[fmt]} file per input")
            self.targets = {path: Path(output) for path in shown}
        from soundsort.atomic import remove_stale_temporaries

        for path, target in self.targets.items():
            if target.exists() or target.is_symlink():
                if resume:
                    self.done.add(path)
                elif not overwrite:
                    raise ConfigError("output file exists (use --resume to skip the inputs that have one or "
                                      "--overwrite to replace it)", target)
            removed = remove_stale_temporaries(target) if target.parent.is_dir() else []
            if removed and log is not None:
                log(f"soundsort: {display_path(target)}: removed {len(removed)} temporary file"
                    f"{'s' if len(removed) > 1 else ''} left by an interrupted run")

    def add(self, record: dict[str, Any]) -> None:
        if record.get("status") != "ok":
            return
        text = RENDER[self.fmt](record)
        if self.output is None:
            self.stream.write(text)
            self.stream.flush()
            return
        from soundsort.atomic import atomic_open

        target = self.targets.get(str(record["path"]))
        if target is None:
            return
        target.parent.mkdir(parents=True, exist_ok=True)
        with atomic_open(target, "w", encoding="utf-8", errors="surrogateescape", newline="") as fh:
            fh.write(text)
        self.written.append(target)

    def close(self) -> None:
        pass
