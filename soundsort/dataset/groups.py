"""Groups: which files must stay on one side of a split.

By default each file is its own group (its relative path); ``group_pattern`` (a regex on the file name) or
``groups_csv`` (``path,group``) give shared groups, e.g. the ESC-10 fold prefix or an artist. Group ids are
global strings: one artist under two labels is one group.
"""

from __future__ import annotations

import csv
import re
from pathlib import Path

from soundsort.dataset.discover import PathLike, relative_path
from soundsort.errors import ConfigError, DatasetError


def compile_pattern(pattern: str | re.Pattern[str] | None) -> re.Pattern[str] | None:
    """``group_pattern`` as a compiled regex (None stays None); :class:`ConfigError` when it is not one."""
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
        return relative_path(p, root)
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
