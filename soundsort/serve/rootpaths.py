"""Files a job may name under ``--root``, and nothing outside it.

A name is refused before anything is read when it is absolute, has a ``..`` part or a NUL byte; what is
left is resolved (symlinks followed) and refused when it leads outside the root. A folder stands for the
audio files under it (by extension, as ``soundsort classify`` walks folders); a symlink in it leading out
is reported, never followed.
"""

from __future__ import annotations

import os
import re
from pathlib import Path, PurePosixPath

from soundsort.serve.errors import RequestError


def _inside(real: str, root_real: str) -> bool:
    return real == root_real or real.startswith(root_real.rstrip(os.sep) + os.sep)


def check_name(given: str) -> str:
    """Refuse (403) a name that could leave the root by its spelling alone; returns it normalized."""
    if not isinstance(given, str) or not given.strip():
        raise RequestError(422, "paths: every entry must be a non-empty string")
    if "\x00" in given:
        raise RequestError(403, f"path {given!r} refused: it holds a NUL byte")
    if given.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", given):
        raise RequestError(403, f"path {given!r} refused: absolute paths are not accepted (give it relative "
                                "to the server's --root)")
    parts = PurePosixPath(given.replace("\\", "/")).parts
    if ".." in parts:
        raise RequestError(403, f"path {given!r} refused: '..' is not accepted")
    return "/".join(p for p in parts if p != ".") or "."


def expand(root: Path, given: list[str]) -> list[tuple[str, Path | None, str | None]]:
    """``(name relative to root, real path or None, problem or None)`` for every file the names stand for.

    Raises :class:`RequestError` 403 for a name refused as a whole (see the module's docstring); a missing
    file or a symlink leading out inside a named folder is one entry with its problem.
    """
    from soundsort.audio.decode import is_audio_path

    root_real = os.path.realpath(root)
    out: list[tuple[str, Path | None, str | None]] = []
    for raw in given:
        name = check_name(raw)
        real = os.path.realpath(os.path.join(root_real, name))
        if not _inside(real, root_real):
            raise RequestError(403, f"path {raw!r} refused: it leads outside --root (a symlink)")
        if os.path.isdir(real):
            for folder, dirs, files in os.walk(real):
                dirs.sort()
                for f in sorted(files):
                    if not is_audio_path(f):
                        continue
                    full = os.path.join(folder, f)
                    rel = os.path.relpath(full, root_real)
                    target = os.path.realpath(full)
                    if not _inside(target, root_real):
                        out.append((rel, None, f"{rel}: refused: a symlink leading outside --root"))
                    else:
                        out.append((rel, Path(target), None))
        elif os.path.exists(real):
            out.append((name, Path(real), None))
        else:
            out.append((name, None, f"{name}: file not found under --root"))
    return out
