"""Organizing a collection into genre folders without ever losing or overwriting a file.

* The destination name is never an existing file: ``song.mp3`` becomes ``song (1).mp3`` when another file
  has the name; a file with the same content already there counts as done.
* A copy is written to a temporary name in the destination folder, synced, and then given its final
  name with a hard link (which fails rather than replace a file) — or, where the file system has no hard
  links, an existence-checked rename.
* A move on one file system is a hard link then the removal of the source; across file systems, a safe
  copy then the removal of the source. At every instant the file exists at the source, at the
  destination, or both: killing the process loses nothing, and a rerun finishes the job (a source whose
  identical copy is already in place is then just removed, and that is said).
* A copy that fails half-way (a full disk) removes its temporary file; one left by a killed run
  (``.NAME.soundsort-tmp-PID``, its process gone) is removed by the next run, which says so.
* Genre folder names are made from the labels: any characters that could leave DEST or confuse a file
  system become ``_``, and long names are cut to :data:`MAX_FOLDER_BYTES` bytes (ending in a hash of the
  whole label, so that two long labels never share a folder).
"""

from __future__ import annotations

import hashlib
import os
import re
import shutil
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundsort.atomic import pid_alive
from soundsort.errors import ConfigError

MODES = ("copy", "link", "move")
TMP_MARK = ".soundsort-tmp-"
_TMP_NAME = re.compile(r"^\..+" + re.escape(TMP_MARK) + r"(\d+)$")
#: A genre folder's name is at most this many bytes (file systems allow 255).
MAX_FOLDER_BYTES = 100


@dataclass(frozen=True)
class Action:
    """What happens to one file: ``kind`` is copy / link / move, or ``leave`` (not touched)."""

    src: Path
    folder: Path | None
    kind: str
    reason: str


def plan(records: list[dict[str, Any]], dest: str | Path, *, mode: str = "copy", min_confidence: float = 0.0,
         non_music: str = "leave") -> list[Action]:
    """Decide each classified file's folder: ``DEST/<genre>``, ``DEST/unsure`` or ``DEST/non-music``."""
    if mode not in MODES:
        raise ConfigError(f"mode must be one of {', '.join(MODES)}, got {mode!r}")
    if non_music not in ("leave", "aside"):
        raise ConfigError(f"non-music must be 'leave' or 'aside', got {non_music!r}")
    dest = Path(dest)
    actions = []
    for rec in records:
        src = Path(rec["path"])
        if rec.get("status") != "ok":
            actions.append(Action(src, None, "leave", f"not classified: {rec.get('error')}"))
        elif rec.get("label") != "music":
            if non_music == "aside":
                actions.append(Action(src, dest / "non-music", mode, f"non-music ({rec['music_share']:.0%} music)"))
            else:
                actions.append(Action(src, None, "leave", f"non-music ({rec['music_share']:.0%} music)"))
        elif not rec.get("genre"):
            actions.append(Action(src, dest / "unsure", mode, "music, genre unknown"))
        else:
            top = rec["genre"][0]
            if top["probability"] < min_confidence:
                actions.append(Action(src, dest / "unsure", mode,
                                      f"{top['label']} {top['probability']:.2f} < {min_confidence:.2f}"))
            else:
                actions.append(Action(src, dest / _safe_folder(top["label"]), mode,
                                      f"{top['label']} {top['probability']:.2f}"))
    return actions


def _safe_folder(label: object) -> str:
    """A folder name for a label: safe characters only, at most :data:`MAX_FOLDER_BYTES` bytes, never empty."""
    name = "".join(c if c.isalnum() or c in " -_.&+" else "_" for c in str(label)).strip(" .")
    raw = name.encode("utf-8")
    if len(raw) > MAX_FOLDER_BYTES:  # cut, with a hash of the whole label: two long labels stay apart
        tag = hashlib.blake2b(raw, digest_size=4).hexdigest()
        name = raw[:MAX_FOLDER_BYTES - 10].decode("utf-8", "ignore").rstrip(" .") + f" ~{tag}"
    return name or "unknown"


def _candidates(name: str) -> Iterator[str]:
    stem, suffix = os.path.splitext(name)
    yield name
    i = 1
    while True:
        yield f"{stem} ({i}){suffix}"
        i += 1


def _digest(path: Path) -> str:
    h = hashlib.blake2b(digest_size=20)
    with open(path, "rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def same_content(a: Path, b: Path) -> bool:
    """True when two files hold the same bytes (size first, then a hash)."""
    try:
        if os.path.samefile(a, b):
            return True
        if a.stat().st_size != b.stat().st_size:
            return False
    except OSError:
        return False
    return _digest(a) == _digest(b)


def _no_clobber_link(src: Path, target: Path) -> bool:
    """Give ``src``'s content the name ``target`` without ever replacing a file; False if the name is taken."""
    try:
        os.link(src, target)
        return True
    except FileExistsError:
        return False
    except OSError:  # no hard links here (e.g. FAT, some network shares): checked rename instead
        if target.exists():
            return False
        os.rename(src, target)
        return True


def _tmp_name(target: Path) -> Path:
    name = f".{target.name}"
    limit = 255 - len(TMP_MARK) - 12  # room for the mark and a pid within a file name's 255 bytes
    if len(os.fsencode(name)) > limit:
        name = os.fsdecode(os.fsencode(name)[:limit])
    return target.parent / f"{name}{TMP_MARK}{os.getpid()}"


def _safe_copy(src: Path, target: Path) -> bool:
    tmp = _tmp_name(target)
    try:
        shutil.copy2(src, tmp)
        with open(tmp, "rb") as fh:
            os.fsync(fh.fileno())
        return _no_clobber_link(tmp, target)
    finally:  # placed, refused or failed (a full disk): the temporary copy goes
        try:
            os.unlink(tmp)
        except OSError:  # never made (or already linked away and removed)
            pass


def clean_temporaries(dest: Path) -> list[Path]:
    """Remove soundsort's own half-written copies (``.NAME.soundsort-tmp-PID``, their process gone) left in
    ``dest`` and its genre folders by a killed run; returns what was removed."""
    removed: list[Path] = []
    folders = [dest]
    try:
        folders += [p for p in dest.iterdir() if p.is_dir() and not p.is_symlink()]
    except OSError:
        return removed
    for folder in folders:
        try:
            entries = list(folder.iterdir())
        except OSError:
            continue
        for p in entries:
            m = _TMP_NAME.match(p.name)
            if m and not pid_alive(int(m.group(1))) and p.is_file() and not p.is_symlink():
                try:
                    p.unlink()
                    removed.append(p)
                except OSError:
                    continue
    return removed


def execute(action: Action) -> Path | None:
    """Carry out one action; returns where the file now is (None for ``leave``)."""
    return place(action)[0]


def place(action: Action) -> tuple[Path | None, bool]:
    """Carry out one action: ``(where the file now is, True when an identical copy was already there)``.

    In move mode a source whose identical copy is already in place is removed.
    """
    if action.kind == "leave" or action.folder is None:
        return None, False
    src = action.src
    action.folder.mkdir(parents=True, exist_ok=True)
    for name in _candidates(src.name):
        target = action.folder / name
        if Path(os.path.realpath(target.parent), target.name) == Path(os.path.realpath(src.parent), src.name):
            # the very same directory entry: already where it belongs
            return target, False
        if target.exists() or target.is_symlink():
            if same_content(src, target):  # done before (e.g. a run killed between link and unlink)
                if action.kind == "move":
                    src.unlink()  # its content is safe at target
                return target, True
            continue
        if action.kind == "link":
            try:
                os.link(src, target)
            except FileExistsError:
                continue
            except OSError:
                try:
                    os.symlink(src.resolve(), target)
                except FileExistsError:
                    continue
            return target, False
        if action.kind == "move":
            placed = False
            try:
                os.link(src, target)
                placed = True
            except FileExistsError:
                continue
            except OSError:  # another file system: copy safely, then remove the source
                placed = _safe_copy(src, target)
                if not placed:
                    continue
            if placed:
                src.unlink()
            return target, False
        if _safe_copy(src, target):
            return target, False
    raise AssertionError("unreachable")  # _candidates never ends
