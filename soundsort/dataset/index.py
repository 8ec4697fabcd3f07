"""The dataset index: the checked files of a dataset with label, group, source and duration, and its JSON file.

Built by :func:`soundsort.dataset.build.build_index`; saved and read here. The file format is versioned
(:data:`INDEX_VERSION`; newer ones are refused) and an index written before the rate was called ``sr``
(items with ``"sample_rate"``) still loads.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.atomic import write_json
from soundsort.errors import DatasetError

#: Version of the saved index format; :meth:`DatasetIndex.load` refuses newer ones.
INDEX_VERSION = 1
_FORMAT = "soundsort-dataset-index"


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

    def save(self, path: str | os.PathLike[str]) -> None:
        """Write the index as JSON, atomically."""
        write_json(path, self.to_dict())

    @classmethod
    def from_dict(cls, data: Any, source: str | os.PathLike[str] | None = None) -> DatasetIndex:
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
    def load(cls, path: str | os.PathLike[str]) -> DatasetIndex:
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
