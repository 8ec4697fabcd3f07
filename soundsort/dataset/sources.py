"""Sources: the collection each file comes from, and the dataset roots named on a command line.

Every file records its *source*: by default the dataset root it was found under, named by the root's folder
name; ``sources_csv`` (``path,source``) or ``{source name: folder}`` say otherwise. Leave-source-out
cross-validation tests on one whole source at a time.
"""

from __future__ import annotations

import csv
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from soundsort.dataset.discover import PathLike
from soundsort.errors import DatasetError


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


def path_key(path: PathLike) -> str:
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
    bases = [path_key(r) for r in roots]
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
                    key = path_key(entry)
                else:
                    found = [os.path.join(b, entry) for b in bases if os.path.exists(os.path.join(b, entry))]
                    if len({path_key(f) for f in found}) > 1:
                        raise DatasetError(f"line {reader.line_num}: {entry!r} is under several roots; "
                                           "give it as an absolute path", src)
                    if not found:
                        continue
                    key = path_key(found[0])
                if out.setdefault(key, name) != name:
                    raise DatasetError(f"line {reader.line_num}: {entry!r} given two sources "
                                       f"({out[key]!r} and {name!r})", src)
            return out
    except FileNotFoundError:
        raise DatasetError("sources CSV not found", src) from None
    except (OSError, UnicodeDecodeError, csv.Error) as exc:
        raise DatasetError(f"cannot read sources CSV ({exc})", src) from None


def source_finder(folders: Sequence[tuple[PathLike, str]]) -> Callable[[Path], str]:
    """``file → source``: the source of the deepest of ``folders`` holding the file ("" when none does)."""
    keyed = sorted(((path_key(f), name) for f, name in folders), key=lambda kn: -len(kn[0]))

    def find(file: Path) -> str:
        k = path_key(file)
        for folder, name in keyed:
            if k == folder or k.startswith(folder.rstrip(os.sep) + os.sep):
                return name
        return ""

    return find
