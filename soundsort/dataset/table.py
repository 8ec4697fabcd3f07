"""Labels (and groups) from a metadata table instead of folders: ``path,label[,group]`` rows, FMA style.

FMA ships its genres and artists in ``tracks.csv``, not as folders; :func:`read_labels_csv` turns such a
table into ``(file, label, group)`` rows for the dataset index, so ``soundsort index|train DATA
--labels-csv tracks.csv --path-column … --label-column … [--group-column artist]`` works without moving a
file. The group column keeps an artist's tracks on one side of every split.

* The path cell is a path relative to the dataset root, or absolute; or, when no such file exists, a file
  id: a value equal to the name without extension of exactly one audio file under the root
  (``000002``), or an integer equal to such a numeric name (``2`` for FMA's ``000/000002.mp3``).
* Multi-row headers (FMA's ``tracks.csv`` has three): with ``header_rows=N`` a column is named by its
  non-empty header cells joined with ``.``, the first row carried to the right over empty cells, so FMA's
  columns are ``track_id``, ``track.genre_top``, ``artist.name``.
* Every problem is one :class:`~soundsort.errors.DatasetError` line naming the table, the row (as the
  line number in the file) and the column or file: an unknown column (with the columns there are), a row
  without a label, a file that is not there (``missing_files="skip"`` leaves such rows out instead, for a
  table that covers more than the files at hand, like FMA's full table with ``fma_small``), one file given
  two labels or two groups.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from soundsort.audio.decode import is_audio_path
from soundsort.errors import ConfigError, DatasetError

MISSING_FILES = ("error", "skip")


@dataclass(frozen=True)
class LabelsTable:
    """Where a dataset's labels come from when they are not folders (see the module docstring)."""

    csv: str
    path_column: str = "path"
    label_column: str = "label"
    group_column: str | None = None
    header_rows: int = 1
    missing_files: str = "error"

    def __post_init__(self) -> None:
        if isinstance(self.header_rows, bool) or not isinstance(self.header_rows, int) or self.header_rows < 1:
            raise ConfigError(f"header_rows must be a positive integer, got {self.header_rows!r}")
        if self.missing_files not in MISSING_FILES:
            raise ConfigError(f"missing_files must be 'error' or 'skip', got {self.missing_files!r}")
        for name in ("path_column", "label_column"):
            if not str(getattr(self, name)).strip():
                raise ConfigError(f"{name} must name a column")


@dataclass(frozen=True)
class TableRow:
    """One usable row: the audio file, its label, its group (None: none given) and the row's line number."""

    path: Path
    label: str
    group: str | None
    line: int


def _walk(root: Path) -> Iterator[Path]:
    for dirpath, dirnames, filenames in os.walk(root):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if not name.startswith(".") and is_audio_path(name):
                yield Path(dirpath) / name


class _FileFinder:
    """Resolves a table's path cells to files under the root: a path, else a unique file id (see module)."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._by_stem: dict[str, list[Path]] | None = None
        self._by_number: dict[int, list[Path]] | None = None

    def _ids(self) -> None:
        self._by_stem, self._by_number = {}, {}
        for f in _walk(self.root):
            self._by_stem.setdefault(f.stem, []).append(f)
            if f.stem.isdigit():
                self._by_number.setdefault(int(f.stem), []).append(f)

    def find(self, cell: str) -> tuple[Path | None, str]:
        """``(file, "")`` or ``(None, why)``."""
        text = cell.strip().replace("\\", "/")
        p = Path(text).expanduser()
        full = p if p.is_absolute() else self.root / p
        if full.is_file():
            return full, ""
        if "/" in text or p.suffix and is_audio_path(text):
            return None, f"file not found: {full}"
        if self._by_stem is None:
            self._ids()
        assert self._by_stem is not None and self._by_number is not None
        hits = self._by_stem.get(text) or (self._by_number.get(int(text)) if text.isdigit() else None) or []
        if len(hits) == 1:
            return hits[0], ""
        if len(hits) > 1:
            return None, (f"{text!r} matches {len(hits)} files under {self.root} ({hits[0].name}, "
                          f"{hits[1].name}, ...); give a path")
        return None, f"no file {text!r} under {self.root} (neither a path nor a file name without extension)"


def _header(reader: Iterator[list[str]], rows: int, src: Path) -> list[str]:
    lines = []
    for _ in range(rows):
        try:
            lines.append(next(reader))
        except StopIteration:
            raise DatasetError(f"labels CSV has fewer than {rows} header row(s)", src) from None
    width = max(len(r) for r in lines)
    names = []
    top = ""
    for j in range(width):
        parts = []
        for i, row in enumerate(lines):
            cell = (row[j] if j < len(row) else "").strip()
            if i == 0:
                top = cell or (top if rows > 1 and j > 0 else "")
                cell = top
            if cell:
                parts.append(cell)
        names.append(".".join(parts))
    if not any(names):
        raise DatasetError("labels CSV has an empty header row", src)
    return names


def _column(names: list[str], wanted: str, option: str, src: Path) -> int:
    exact = [j for j, n in enumerate(names) if n == wanted]
    folded = exact or [j for j, n in enumerate(names) if n.lower() == wanted.strip().lower()]
    if len(folded) == 1:
        return folded[0]
    shown = ", ".join(n for n in names if n)
    if len(shown) > 300:
        shown = shown[:300] + ", ..."
    if len(folded) > 1:
        raise DatasetError(f"{option} {wanted!r}: the table has {len(folded)} columns of that name", src)
    raise DatasetError(f"{option} {wanted!r}: no such column (columns: {shown})", src)


def read_labels_csv(table: LabelsTable, root: str | os.PathLike[str]) -> tuple[list[TableRow], list[str]]:
    """The rows of ``table`` resolved against dataset ``root``: ``(rows, notes)``.

    ``rows`` hold each file once (in table order). ``notes`` are one-line remarks for the user (rows left
    out with ``missing_files="skip"``, audio under the root that the table does not name). Raises
    :class:`DatasetError` naming the table and row for anything wrong (module docstring).
    """
    src = Path(table.csv)
    base = Path(root).expanduser().absolute()
    if not base.is_dir():
        raise DatasetError("dataset folder not found (a labels CSV's paths are relative to it)", base)
    finder = _FileFinder(base)
    rows: list[TableRow] = []
    seen: dict[str, TableRow] = {}
    skipped = 0
    first_skip = ""
    try:
        with open(src, newline="", encoding="utf-8-sig") as fh:
            reader = csv.reader(fh)
            names = _header(reader, table.header_rows, src)
            ip = _column(names, table.path_column, "--path-column", src)
            il = _column(names, table.label_column, "--label-column", src)
            ig = _column(names, table.group_column, "--group-column", src) if table.group_column else None
            for cells in reader:
                line = reader.line_num
                if not any(c.strip() for c in cells):
                    continue

                def cell(j: int) -> str:
                    return cells[j].strip() if j < len(cells) else ""

                where = f"line {line}"
                ref = cell(ip)
                if not ref:
                    raise DatasetError(f"{where}: no path in column {names[ip]!r}", src)
                label = cell(il)
                if not label:
                    raise DatasetError(f"{where}: {ref!r} has no label in column {names[il]!r}", src)
                group = cell(ig) if ig is not None else None
                if ig is not None and not group:
                    group = None  # no artist given: the file is its own group
                file, why = finder.find(ref)
                if file is None:
                    if table.missing_files == "skip":
                        skipped += 1
                        first_skip = first_skip or f"line {line}: {why}"
                        continue
                    raise DatasetError(f"{where}: {why} (use --missing-files skip to leave such rows out)", src)
                key = os.path.normpath(str(file))
                prev = seen.get(key)
                if prev is not None:
                    if prev.label != label:
                        raise DatasetError(f"{where}: {ref!r} given two labels ({prev.label!r} on line {prev.line} "
                                           f"and {label!r})", src)
                    if prev.group != group:
                        raise DatasetError(f"{where}: {ref!r} given two groups ({prev.group!r} on line "
                                           f"{prev.line} and {group!r})", src)
                    continue
                row = TableRow(file, label, group, line)
                seen[key] = row
                rows.append(row)
    except FileNotFoundError:
        raise DatasetError("labels CSV not found", src) from None
    except IsADirectoryError:
        raise DatasetError("labels CSV is a folder, not a file", src) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read labels CSV ({exc})", src) from None
    if not rows:
        extra = f" ({skipped} rows name files that are not there; first: {first_skip})" if skipped else ""
        raise DatasetError(f"labels CSV names no audio file under {base}{extra}", src)
    notes = []
    if skipped:
        notes.append(f"{src}: {skipped} rows name files that are not under {base}, left out (first: {first_skip})")
    named = set(seen)
    unnamed = sum(1 for f in _walk(base) if os.path.normpath(str(f)) not in named)
    if unnamed:
        notes.append(f"{src}: {unnamed} audio files under {base} are not in the table, left out")
    return rows, notes


__all__ = ["MISSING_FILES", "LabelsTable", "TableRow", "read_labels_csv"]
