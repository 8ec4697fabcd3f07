"""Building a dataset index: discover the files, check every one of them, give each its group and source.

Every file is checked once (:mod:`soundsort.dataset.check`), so bad files end up in
:attr:`~soundsort.dataset.index.DatasetIndex.skipped` with their reason; labels come from the folders
(:mod:`soundsort.dataset.discover`) or a labels table (:mod:`soundsort.dataset.table`), groups from
:mod:`soundsort.dataset.groups`, sources from :mod:`soundsort.dataset.sources`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from datetime import datetime, timezone
from pathlib import Path

from soundsort.dataset.check import ProgressFn, check_files
from soundsort.dataset.discover import (
    LabelMapping,
    PathLike,
    as_folders,
    discover,
    discover_mapped,
    make_label_map,
    relative_path,
)
from soundsort.dataset.groups import compile_pattern, group_from_name, read_groups_csv
from soundsort.dataset.index import INDEX_VERSION, DatasetIndex, IndexItem, SkippedFile
from soundsort.dataset.sources import path_key, read_sources_csv, source_finder
from soundsort.dataset.table import LabelsTable, read_labels_csv
from soundsort.errors import ConfigError, DatasetError


def _index_root(root_or_mapping: PathLike | LabelMapping, label_paths: dict[str, list[str]] | None) -> Path:
    if isinstance(root_or_mapping, Mapping):
        parents = [Path(d).expanduser().absolute().parent
                   for dirs in root_or_mapping.values() for d in as_folders(dirs)]
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
    pattern = compile_pattern(group_pattern)
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
        table_groups = {relative_path(r.path, root): r.group for r in rows if r.group is not None}
    elif isinstance(root_or_mapping, Mapping):
        pairs = discover_mapped(root_or_mapping, unlisted=unlisted)
    else:
        pairs = discover(root, label_paths=label_paths, unlisted=unlisted)
    csv_groups = read_groups_csv(groups_csv, root) if groups_csv is not None else table_groups
    if isinstance(root_or_mapping, Mapping):
        defaults = [(Path(d), Path(os.path.abspath(d)).parent.name)
                    for dirs in root_or_mapping.values() for d in as_folders(dirs)]
    else:
        defaults = [(root, root.name)]
    given = [(Path(folder), str(name)) for name, folder in (sources or {}).items()]
    if any(not name.strip() for _, name in given):
        raise ConfigError("a data source needs a non-empty name")
    source_of, default_source = source_finder(given), source_finder(defaults)
    csv_sources: dict[str, str] = {}
    if sources_csv is not None:
        csv_sources = read_sources_csv(sources_csv, [f for f, _ in given] or [root])
        if not any(path_key(f) in csv_sources for f, _ in pairs):
            raise DatasetError("sources CSV names none of the dataset's files (paths are relative to the root "
                               "each file is under, or absolute)", sources_csv)

    results = check_files([f for f, _ in pairs], jobs=jobs, progress=progress)

    items: list[IndexItem] = []
    skipped: list[SkippedFile] = [SkippedFile(relative_path(folder, root), reason) for folder, reason in unlisted]
    for (f, label), res in zip(pairs, results):
        rel = relative_path(f, root)
        if isinstance(res, str):
            skipped.append(SkippedFile(rel, res))
            continue
        duration, sr, channels = res
        group = csv_groups.get(rel)
        if group is None and pattern is not None:
            group = group_from_name(f.name, pattern)
        src_name = csv_sources.get(path_key(f)) or source_of(f) or default_source(f)
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
