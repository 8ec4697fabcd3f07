"""Dataset index: find labelled audio files, check every one of them, and record label, group and duration.

A dataset is a folder whose first-level sub-folders are the labels (``root/<label>/**/file``), or a
mapping ``{label: [folder, ...]}`` when one label gathers several folders (music vs non-music:
non-music = speech + every ESC-10 class).

Every file is checked once, header *and* a full decode, so truncated, corrupt or NaN-filled files end
up in :attr:`DatasetIndex.skipped` with a one-line reason instead of failing a long training run later.

Groups keep related files on one side of a split. By default each file is its own group (its
relative path); ``group_pattern`` (a regex on the file name) or ``groups_csv`` (``path,group``) give
shared groups, e.g. the ESC-10 fold prefix or an artist. Group ids are global strings: one artist
under two labels is one group.

Every file also records its *source*: the collection it comes from (by default the dataset root it was
found under, named by the root's folder name; ``sources_csv`` (``path,source``) says otherwise).
Leave-source-out cross-validation tests on one whole source at a time.
"""

from __future__ import annotations

import csv
import json
import os
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Union

import numpy as np

from soundsort.atomic import write_json
from soundsort.audio.decode import info as audio_info
from soundsort.audio.decode import is_audio_path
from soundsort.audio.decode import stream as audio_stream
from soundsort.dataset.table import LabelsTable, read_labels_csv
from soundsort.errors import AudioError, ConfigError, DatasetError, os_reason

#: Version of the saved index format; :meth:`DatasetIndex.load` refuses newer ones.
INDEX_VERSION = 1
_FORMAT = "soundsort-dataset-index"

PathLike = Union[str, "os.PathLike[str]"]
LabelMapping = Mapping[str, Union[PathLike, Sequence[PathLike]]]
ProgressFn = Callable[[int, int, Path], Any]


@dataclass(frozen=True)
class IndexItem:
    """One valid audio file of the dataset."""

    path: str  # relative to the index root (POSIX separators) when inside it, else absolute
    label: str
    group: str
    duration: float  # seconds, from a full decode
    sr: int
    channels: int
    #: the data source (dataset root / collection) the file comes from; "" when unknown (an index saved
    #: before sources were recorded). Leave-source-out CV tests on one whole source at a time.
    source: str = ""


@dataclass(frozen=True)
class SkippedFile:
    """A file that looked like audio but could not be used, with the one-line reason."""

    path: str
    reason: str


# --------------------------------------------------------------------------------------------------
# discovery


def _hidden(name: str) -> bool:
    return name.startswith(".")


def _walk_audio(folder: Path, unlisted: list[tuple[Path, str]] | None = None) -> list[Path]:
    """Audio files anywhere under ``folder``, hidden files and folders skipped, sorted.

    Every entry with an audio name counts, also one that is no regular file (a FIFO, a broken link): the
    check of each file says what it is. A folder that cannot be listed (too deep for the system's path
    limit, no permission) is added to ``unlisted`` with the reason.
    """
    found: list[Path] = []

    def onerror(exc: OSError) -> None:
        if unlisted is not None:
            unlisted.append((Path(exc.filename if exc.filename is not None else folder),
                             f"cannot list folder: {os_reason(exc)}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=onerror):
        dirnames[:] = [d for d in dirnames if not _hidden(d)]
        for name in filenames:
            if not _hidden(name) and is_audio_path(name):
                found.append(Path(dirpath) / name)
    found.sort(key=lambda p: p.as_posix())
    return found


def discover(root: PathLike, *, label_paths: dict[str, list[str]] | None = None,
             unlisted: list[tuple[Path, str]] | None = None) -> list[tuple[Path, str]]:
    """List ``(file, label)`` pairs under ``root``, sorted by label then path.

    Labels are the names of ``root``'s first-level sub-folders; files at any depth inside a label
    folder belong to it. Only audio extensions count; hidden files and folders are skipped. With
    ``label_paths`` (``{label: [folder relative to root, ...]}``) the labels come from that mapping
    instead (see :func:`discover_mapped`). Folders that cannot be listed are added to ``unlisted``
    (``(folder, reason)``). Raises :class:`DatasetError` when ``root`` is missing or has no label folder
    with audio in it.
    """
    base = Path(root).expanduser().absolute()
    if label_paths is not None:
        return discover_mapped({lab: [base / p for p in _as_list(dirs)] for lab, dirs in label_paths.items()},
                               unlisted=unlisted)
    if not base.exists():
        raise DatasetError("dataset folder not found", base)
    if not base.is_dir():
        raise DatasetError("not a folder (expected one sub-folder per label)", base)
    pairs: list[tuple[Path, str]] = []
    label_dirs = sorted(p for p in base.iterdir() if p.is_dir() and not _hidden(p.name))
    if not label_dirs:
        raise DatasetError("no label folders (expected one sub-folder per label)", base)
    for label_dir in label_dirs:
        pairs.extend((f, label_dir.name) for f in _walk_audio(label_dir, unlisted))
    if not pairs:
        raise DatasetError(f"no audio files in any of the {len(label_dirs)} label folders", base)
    return sorted(pairs, key=lambda pl: (pl[1], pl[0].as_posix()))


def _as_list(dirs: PathLike | Sequence[PathLike]) -> list[PathLike]:
    if isinstance(dirs, (str, os.PathLike)):
        return [dirs]
    return list(dirs)


def discover_mapped(mapping: LabelMapping, *, unlisted: list[tuple[Path, str]] | None = None
                    ) -> list[tuple[Path, str]]:
    """List ``(file, label)`` pairs for ``{label: [folder, ...]}``, sorted by label then path.

    Every audio file under each folder (any depth, hidden ones skipped) gets that folder's label.
    A file reached twice under one label is listed once; a file under two labels, a missing folder or
    an empty result raises :class:`DatasetError`.
    """
    if not mapping:
        raise DatasetError("empty label mapping (no labels given)")
    owner: dict[Path, str] = {}
    for label, dirs in mapping.items():
        if not isinstance(label, str) or not label.strip():
            raise DatasetError(f"invalid label name {label!r} in label mapping")
        folders = _as_list(dirs)
        if not folders:
            raise DatasetError(f"label {label!r} has no folders in label mapping")
        for d in folders:
            folder = Path(d).expanduser().absolute()
            if not folder.is_dir():
                raise DatasetError(f"folder for label {label!r} not found", folder)
            for f in _walk_audio(folder, unlisted):
                prev = owner.setdefault(f, label)
                if prev != label:
                    raise DatasetError(f"file is under two labels: {prev!r} and {label!r}", f)
    if not owner:
        raise DatasetError(f"no audio files in the folders of labels {sorted(mapping)}")
    return sorted(((f, lab) for f, lab in owner.items()), key=lambda pl: (pl[1], pl[0].as_posix()))


def make_label_map(labels: Iterable[str]) -> dict[str, int]:
    """Sorted unique label names → ``0..K-1`` (the same for the same set of names, always)."""
    return {name: i for i, name in enumerate(sorted(set(labels)))}


# --------------------------------------------------------------------------------------------------
# groups


def _rel(path: Path, root: Path) -> str:
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()


def _compile_pattern(pattern: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    if pattern is None or isinstance(pattern, re.Pattern):
        return pattern
    try:
        return re.compile(pattern)
    except re.error as exc:
        raise ConfigError(f"invalid group_pattern {pattern!r}: {exc}") from None


def group_from_name(name: str, pattern: re.Pattern[str]) -> str | None:
    """The group a file name gives under ``pattern``: named group ``group``, else group 1, else the
    whole match; None when the pattern does not match (or the chosen group is empty)."""
    m = pattern.search(name)
    if m is None:
        return None
    if "group" in pattern.groupindex:
        value = m.group("group")
    elif pattern.groups >= 1:
        value = m.group(1)
    else:
        value = m.group(0)
    return value or None


def _normalise_rel(entry: str, root: Path) -> str:
    text = entry.strip().replace("\\", "/")
    p = Path(text)
    if p.is_absolute():
        return _rel(p, root)
    while text.startswith("./"):
        text = text[2:]
    return Path(text).as_posix()


def read_groups_csv(path: PathLike, root: PathLike) -> dict[str, str]:
    """Read a ``path,group`` CSV (paths relative to ``root``) → ``{relative path: group}``.

    Rows with an empty group are ignored; the same path given two different groups raises
    :class:`DatasetError`.
    """
    src = Path(path)
    base = Path(root).expanduser().absolute()
    try:
        with open(src, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
            if "path" not in fields or "group" not in fields:
                raise DatasetError(f"groups CSV needs columns 'path' and 'group', found {list(fields)}", src)
            out: dict[str, str] = {}
            for row in reader:
                rel = (row.get(fields["path"]) or "").strip()
                grp = (row.get(fields["group"]) or "").strip()
                if not rel or not grp:
                    continue
                key = _normalise_rel(rel, base)
                if out.setdefault(key, grp) != grp:
                    raise DatasetError(
                        f"line {reader.line_num}: {key!r} given two groups ({out[key]!r} and {grp!r})", src)
            return out
    except FileNotFoundError:
        raise DatasetError("groups CSV not found", src) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read groups CSV ({exc})", src) from None


# --------------------------------------------------------------------------------------------------
# sources


@dataclass(frozen=True)
class DataRoot:
    """One dataset root named on a command line, and the data source it stands for.

    ``PATH`` is a folder with one sub-folder per label (``label`` None); ``LABEL=PATH`` gives every
    audio file anywhere under ``PATH`` the folder label ``LABEL`` (a collection that is all music, or
    all non-music). ``source`` names the data source: the folder's name, made unique among the roots.
    """

    path: Path
    label: str | None = None
    source: str = ""


def _split_label(arg: str) -> tuple[str | None, str]:
    """``"music=some/dir"`` → ``("music", "some/dir")``; a plain path (or one that exists) → ``(None, arg)``."""
    if "=" not in arg or Path(arg).expanduser().exists():
        return None, arg
    label, rest = arg.split("=", 1)
    if not label.strip() or "/" in label or os.sep in label or not rest.strip():
        return None, arg
    return label.strip(), rest.strip()


def parse_roots(args: Sequence[PathLike]) -> list[DataRoot]:
    """Dataset roots from command-line arguments (``PATH`` or ``LABEL=PATH``), each a named source.

    The source name is the folder's own name; a name met again gets ``-2``, ``-3``, ... (skipping names
    other roots have) so every root is its own source. Nothing is checked on disk here beyond telling
    ``LABEL=PATH`` from a path that exists and has ``=`` in its name.
    """
    parsed = []
    for arg in args:
        label, text = _split_label(os.fspath(arg))
        path = Path(text).expanduser()
        parsed.append((label, path, Path(os.path.abspath(path)).name or "root"))
    taken = {base for _, _, base in parsed}  # a later root named like an earlier one's suffix keeps its name
    roots: list[DataRoot] = []
    used: set[str] = set()
    for label, path, base in parsed:
        name, k = base, 2
        while name in used or (name != base and name in taken):
            name, k = f"{base}-{k}", k + 1
        used.add(name)
        roots.append(DataRoot(path=path, label=label, source=name))
    return roots


def _key(path: PathLike) -> str:
    """A comparable absolute path (``..`` collapsed, symlinks kept as they are)."""
    return os.path.normpath(os.path.abspath(os.path.expanduser(os.fspath(path))))


def read_sources_csv(path: PathLike, roots: Sequence[PathLike]) -> dict[str, str]:
    """Read a ``path,source`` CSV → ``{absolute file path: source}``.

    A path is absolute, or relative to the dataset root it is under (the one of ``roots`` in which it
    exists; a relative path that exists under two roots is refused as ambiguous). Rows with an empty
    source, or whose file exists under no root, are ignored; one file given two sources raises
    :class:`DatasetError`.
    """
    src = Path(path)
    bases = [_key(r) for r in roots]
    try:
        with open(src, newline="", encoding="utf-8-sig") as fh:
            reader = csv.DictReader(fh)
            fields = {(f or "").strip().lower(): f for f in (reader.fieldnames or [])}
            if "path" not in fields or "source" not in fields:
                raise DatasetError(f"sources CSV needs columns 'path' and 'source', found {list(fields)}", src)
            out: dict[str, str] = {}
            for row in reader:
                entry = (row.get(fields["path"]) or "").strip().replace("\\", "/")
                name = (row.get(fields["source"]) or "").strip()
                if not entry or not name:
                    continue
                if os.path.isabs(os.path.expanduser(entry)):
                    key = _key(entry)
                else:
                    found = [os.path.join(b, entry) for b in bases if os.path.exists(os.path.join(b, entry))]
                    if len({_key(f) for f in found}) > 1:
                        raise DatasetError(f"line {reader.line_num}: {entry!r} is under several roots; "
                                           "give it as an absolute path", src)
                    if not found:
                        continue
                    key = _key(found[0])
                if out.setdefault(key, name) != name:
                    raise DatasetError(f"line {reader.line_num}: {entry!r} given two sources "
                                       f"({out[key]!r} and {name!r})", src)
            return out
    except FileNotFoundError:
        raise DatasetError("sources CSV not found", src) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read sources CSV ({exc})", src) from None


def _source_finder(folders: Sequence[tuple[PathLike, str]]) -> Callable[[Path], str]:
    """``file → source``: the source of the deepest of ``folders`` holding the file ("" when none does)."""
    keyed = sorted(((_key(f), name) for f, name in folders), key=lambda kn: -len(kn[0]))

    def find(file: Path) -> str:
        k = _key(file)
        for folder, name in keyed:
            if k == folder or k.startswith(folder.rstrip(os.sep) + os.sep):
                return name
        return ""

    return find


# --------------------------------------------------------------------------------------------------
# the index


@dataclass
class DatasetIndex:
    """The checked files of a dataset: labels, groups, durations, and the files that were skipped."""

    root: Path
    label_map: dict[str, int]
    items: list[IndexItem]
    skipped: list[SkippedFile] = field(default_factory=list)
    created: str = ""
    version: int = INDEX_VERSION
    group_source: str = "file"  # "file", "pattern:<regex>", "csv:<path>" (provenance only)
    label_source: str = "folders"  # "folders", or "csv:<path>" for a labels table (provenance only)
    #: one-line remarks from building (a labels table's rows left out, ...): shown, not saved
    notes: list[str] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.items)

    def labels(self) -> np.ndarray:
        """Integer label of every item (``label_map`` order), shape ``(n_items,)``."""
        return np.array([self.label_map[it.label] for it in self.items], dtype=np.int64)

    def label_names(self) -> list[str]:
        """Label names in id order (``label_names()[i]`` has id ``i``)."""
        return sorted(self.label_map, key=self.label_map.__getitem__)

    def groups(self) -> np.ndarray:
        """Group id (string) of every item, shape ``(n_items,)``."""
        return np.array([it.group for it in self.items], dtype=str)

    def sources(self) -> np.ndarray:
        """Source name (string) of every item, shape ``(n_items,)`` ("" where unknown)."""
        return np.array([it.source for it in self.items], dtype=str)

    def abs_path(self, item: IndexItem) -> Path:
        """The file of ``item`` on disk (its relative path joined to :attr:`root`)."""
        p = Path(item.path)
        return p if p.is_absolute() else Path(self.root) / p

    def paths(self) -> list[Path]:
        """Absolute path of every item, in item order."""
        return [self.abs_path(it) for it in self.items]

    def summary(self) -> dict[str, Any]:
        """Counts and durations: ``{"files", "duration", "skipped", "labels": {name: {"id", "files",
        "groups", "duration"}}, "sources": {name: files}}`` (durations in seconds)."""
        per: dict[str, dict[str, Any]] = {}
        groups: dict[str, set[str]] = {}
        for name in self.label_names():
            per[name] = {"id": self.label_map[name], "files": 0, "groups": 0, "duration": 0.0}
            groups[name] = set()
        for it in self.items:
            per[it.label]["files"] += 1
            per[it.label]["duration"] += it.duration
            groups[it.label].add(it.group)
        for name, g in groups.items():
            per[name]["groups"] = len(g)
        return {
            "files": len(self.items),
            "duration": float(sum(it.duration for it in self.items)),
            "skipped": len(self.skipped),
            "labels": per,
            "sources": {name: int(n) for name, n in zip(*np.unique(self.sources(), return_counts=True))},
        }

    def require_labels(self, n: int = 2) -> None:
        """Raise :class:`DatasetError` unless the index has at least ``n`` labels with valid files."""
        if len(self.label_map) < n:
            found = ", ".join(self.label_names()) or "none"
            raise DatasetError(f"need at least {n} labels with valid audio, found {len(self.label_map)} ({found})",
                               self.root)

    # ---------------------------------------------------------------------------------------- JSON

    def to_dict(self) -> dict[str, Any]:
        """A JSON-ready dict of the whole index."""
        return {
            "format": _FORMAT,
            "version": self.version,
            "created": self.created,
            "root": str(self.root),
            "group_source": self.group_source,
            "label_source": self.label_source,
            "label_map": dict(self.label_map),
            "items": [asdict(it) for it in self.items],
            "skipped": [asdict(s) for s in self.skipped],
        }

    def save(self, path: PathLike) -> None:
        """Write the index as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: PathLike | None = None) -> DatasetIndex:
        """Rebuild an index from :meth:`to_dict` output; :class:`DatasetError` when it is malformed."""
        try:
            if not isinstance(data, dict) or data.get("format") != _FORMAT:
                raise DatasetError("not a soundsort dataset index", source)
            version = int(data["version"])
            if version > INDEX_VERSION:
                raise DatasetError(f"index format version {version} is newer than this soundsort "
                                   f"supports ({INDEX_VERSION})", source)
            label_map = {str(k): int(v) for k, v in data["label_map"].items()}
            items = [IndexItem(path=str(d["path"]), label=str(d["label"]), group=str(d["group"]),
                               duration=float(d["duration"]), sr=int(d["sr"] if "sr" in d else d["sample_rate"]),
                               channels=int(d["channels"]), source=str(d.get("source", "")))
                     for d in data["items"]]
            skipped = [SkippedFile(path=str(d["path"]), reason=str(d["reason"])) for d in data.get("skipped", [])]
            unknown = {it.label for it in items} - set(label_map)
            if unknown:
                raise DatasetError(f"items have labels missing from label_map: {sorted(unknown)}", source)
            return cls(root=Path(data["root"]), label_map=label_map, items=items, skipped=skipped,
                       created=str(data.get("created", "")), version=version,
                       group_source=str(data.get("group_source", "file")),
                       label_source=str(data.get("label_source", "folders")))
        except DatasetError:
            raise
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise DatasetError(f"damaged dataset index ({type(exc).__name__}: {exc})", source) from None

    @classmethod
    def load(cls, path: PathLike) -> DatasetIndex:
        """Read an index written by :meth:`save`."""
        src = Path(path)
        try:
            with open(src, encoding="utf-8") as fh:
                data = json.load(fh)
        except FileNotFoundError:
            raise DatasetError("dataset index not found", src) from None
        except (OSError, UnicodeDecodeError) as exc:
            raise DatasetError(f"cannot read dataset index ({exc})", src) from None
        except json.JSONDecodeError as exc:
            raise DatasetError(f"dataset index is not valid JSON (line {exc.lineno})", src) from None
        return cls.from_dict(data, src)


# --------------------------------------------------------------------------------------------------
# building


def check_file(path: PathLike) -> tuple[float, int, int]:
    """Validate one file by reading its header and decoding it fully once.

    Returns ``(duration_seconds, sr, channels)``; raises :class:`AudioError` for any file
    that cannot be used (empty, not audio, truncated, corrupt, NaN/Inf samples, absurd header).
    """
    inf = audio_info(path)
    frames = 0
    for block in audio_stream(path):  # native rate, mono; NaN/Inf and decode errors raise here
        frames += len(block)
    return frames / float(inf.sr), int(inf.sr), int(inf.channels)


def _check_one(path: Path) -> tuple[float, int, int] | str:
    try:
        return check_file(path)
    except AudioError as exc:
        return exc.reason
    except Exception as exc:  # never crash an index build on one odd file
        msg = " ".join(str(exc).split())[:160] or "no message"
        return f"unreadable ({type(exc).__name__}: {msg})"


def _index_root(root_or_mapping: PathLike | LabelMapping, label_paths: dict[str, list[str]] | None) -> Path:
    if isinstance(root_or_mapping, Mapping):
        parents = [Path(d).expanduser().absolute().parent
                   for dirs in root_or_mapping.values() for d in _as_list(dirs)]
        if not parents:
            raise DatasetError("empty label mapping (no folders given)")
        return Path(os.path.commonpath([str(p) for p in parents]))
    return Path(root_or_mapping).expanduser().absolute()


def build_index(
    root_or_mapping: PathLike | LabelMapping,
    *,
    label_paths: dict[str, list[str]] | None = None,
    group_pattern: str | re.Pattern[str] | None = None,
    groups_csv: PathLike | None = None,
    sources: Mapping[str, PathLike] | None = None,
    sources_csv: PathLike | None = None,
    labels_table: LabelsTable | None = None,
    jobs: int = 1,
    progress: ProgressFn | None = None,
) -> DatasetIndex:
    """Discover, check and index a dataset.

    ``root_or_mapping`` is a folder with one sub-folder per label, or ``{label: [folder, ...]}``
    (then the index root is the folders' common parent). ``label_paths`` is passed to
    :func:`discover`. Groups come from ``groups_csv`` (``path,group``, paths relative to the root)
    first, then ``group_pattern`` (regex searched in the file name), else each file's relative path.
    Every file's data source comes from ``sources_csv`` (``path,source``, see :func:`read_sources_csv`)
    first, then ``sources`` (``{source name: folder}``, the deepest folder holding the file), else the
    dataset root's folder name (for a mapping: the name of the label folder's parent).
    With ``labels_table`` (:class:`~soundsort.dataset.table.LabelsTable`, a CSV of path, label and optionally
    group columns) the files and labels come from the table, not from folders, and its group column gives
    the groups (``root_or_mapping`` is then the one folder the table's paths are relative to).
    Every file is decoded once in ``jobs`` threads; bad files are listed in ``skipped`` with their
    reason. ``progress(done, total, path)`` is called after each file. Raises :class:`DatasetError`
    when nothing usable is found.
    """
    if isinstance(jobs, bool) or not isinstance(jobs, int) or jobs < 1:
        raise ConfigError(f"jobs must be a positive integer, got {jobs!r}")
    pattern = _compile_pattern(group_pattern)
    root = _index_root(root_or_mapping, label_paths)
    unlisted: list[tuple[Path, str]] = []
    notes: list[str] = []
    table_groups: dict[str, str] = {}
    if labels_table is not None:
        if isinstance(root_or_mapping, Mapping) or label_paths is not None:
            raise ConfigError("a labels CSV gives the labels: give one dataset folder, not label folders")
        if groups_csv is not None and labels_table.group_column:
            raise ConfigError("--group-column and --groups-csv both give groups; use one of them")
        rows, notes = read_labels_csv(labels_table, root)
        pairs = sorted(((r.path, r.label) for r in rows), key=lambda pl: (pl[1], pl[0].as_posix()))
        table_groups = {_rel(r.path, root): r.group for r in rows if r.group is not None}
    elif isinstance(root_or_mapping, Mapping):
        pairs = discover_mapped(root_or_mapping, unlisted=unlisted)
    else:
        pairs = discover(root, label_paths=label_paths, unlisted=unlisted)
    csv_groups = read_groups_csv(groups_csv, root) if groups_csv is not None else table_groups
    if isinstance(root_or_mapping, Mapping):
        defaults = [(Path(d), Path(os.path.abspath(d)).parent.name)
                    for dirs in root_or_mapping.values() for d in _as_list(dirs)]
    else:
        defaults = [(root, root.name)]
    given = [(Path(folder), str(name)) for name, folder in (sources or {}).items()]
    if any(not name.strip() for _, name in given):
        raise ConfigError("a data source needs a non-empty name")
    source_of, default_source = _source_finder(given), _source_finder(defaults)
    csv_sources: dict[str, str] = {}
    if sources_csv is not None:
        csv_sources = read_sources_csv(sources_csv, [f for f, _ in given] or [root])
        if not any(_key(f) in csv_sources for f, _ in pairs):
            raise DatasetError("sources CSV names none of the dataset's files (paths are relative to the root "
                               "each file is under, or absolute)", sources_csv)

    total = len(pairs)
    results: list[tuple[float, int, int] | str | None] = [None] * total
    done = 0

    def _tick(i: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, pairs[i][0])

    if jobs == 1 or total <= 1:
        for i, (f, _) in enumerate(pairs):
            results[i] = _check_one(f)
            _tick(i)
    else:
        with ThreadPoolExecutor(max_workers=min(jobs, total), thread_name_prefix="soundsort-index") as pool:
            futures = {pool.submit(_check_one, f): i for i, (f, _) in enumerate(pairs)}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                _tick(i)

    items: list[IndexItem] = []
    skipped: list[SkippedFile] = [SkippedFile(_rel(folder, root), reason) for folder, reason in unlisted]
    for (f, label), res in zip(pairs, results):
        rel = _rel(f, root)
        if isinstance(res, str) or res is None:
            skipped.append(SkippedFile(rel, res or "not checked"))
            continue
        duration, sr, channels = res
        group = csv_groups.get(rel)
        if group is None and pattern is not None:
            group = group_from_name(f.name, pattern)
        src_name = csv_sources.get(_key(f)) or source_of(f) or default_source(f)
        items.append(IndexItem(rel, label, group if group is not None else rel, float(duration), sr, channels,
                               src_name))

    if not items:
        first = f" (first: {skipped[0].path}: {skipped[0].reason})" if skipped else ""
        raise DatasetError(f"no valid audio files: all {len(skipped)} files were skipped{first}", root)

    if groups_csv is not None or table_groups:
        where = Path(groups_csv) if groups_csv is not None else f"{labels_table.csv}#{labels_table.group_column}"
        source = f"csv:{where}" + (f"+pattern:{pattern.pattern}" if pattern is not None else "")
    elif pattern is not None:
        source = f"pattern:{pattern.pattern}"
    else:
        source = "file"
    return DatasetIndex(
        root=root,
        label_map=make_label_map(it.label for it in items),
        items=items,
        skipped=skipped,
        created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
        version=INDEX_VERSION,
        group_source=source,
        label_source=f"csv:{labels_table.csv}" if labels_table is not None else "folders",
        notes=notes,
    )
