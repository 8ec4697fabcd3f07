"""Discovery: the audio files of a dataset and their labels, from its folders.

A dataset is a folder whose first-level sub-folders are the labels (``root/<label>/**/file``), or a
mapping ``{label: [folder, ...]}`` when one label gathers several folders (music vs non-music:
non-music = speech + every ESC-10 class). Labels from a table instead of folders: :mod:`soundsort.dataset.table`.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Union

from soundsort.audio.decode import is_audio_path
from soundsort.errors import DatasetError, os_reason

PathLike = Union[str, "os.PathLike[str]"]
LabelMapping = Mapping[str, Union[PathLike, Sequence[PathLike]]]


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
        return discover_mapped({lab: [base / p for p in as_folders(dirs)] for lab, dirs in label_paths.items()},
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


def as_folders(dirs: PathLike | Sequence[PathLike]) -> list[PathLike]:
    """One folder or several → a list of folders."""
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
        folders = as_folders(dirs)
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



def relative_path(path: Path, root: Path) -> str:
    """``path`` relative to ``root`` with POSIX separators when it is inside ``root``, else ``path`` as POSIX."""
    try:
        return path.relative_to(root).as_posix()
    except ValueError:
        return path.as_posix()
