"""Error types. Every failure a user can cause is a :class:`SoundsortError` with a one-line message."""

from __future__ import annotations

import errno
import os
from pathlib import Path

_ESCAPES = {"\n": "\\n", "\r": "\\r", "\t": "\\t"}


def display_path(path: str | os.PathLike[str] | bytes) -> str:
    """A path fit for a one-line message: bytes that are not UTF-8 shown as ``\\xNN``, control characters
    (a newline in a file name) escaped. The path itself is kept as it is wherever it is used."""
    text = os.fsdecode(os.fspath(path))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        try:
            text = os.fsencode(text).decode("utf-8", "backslashreplace")
        except UnicodeError:
            text = text.encode("utf-8", "backslashreplace").decode("ascii")
    if any(ord(ch) < 32 or ord(ch) == 127 for ch in text):
        text = "".join(_ESCAPES.get(ch, f"\\x{ord(ch):02x}") if ord(ch) < 32 or ord(ch) == 127 else ch
                       for ch in text)
    return text


def os_reason(exc: OSError) -> str:
    """A short reason for an ``OSError`` on a path, without the path (which a message names first)."""
    code = exc.errno
    if code == errno.ENAMETOOLONG:
        try:
            name_max, path_max = os.pathconf("/", "PC_NAME_MAX"), os.pathconf("/", "PC_PATH_MAX")
        except (OSError, ValueError):
            name_max, path_max = 255, 4096
        return f"file name too long (at most {name_max} bytes a name and {path_max} a path here)"
    if code == errno.ELOOP:
        return "symlink loop (the links point back at each other)"
    if code in (errno.EACCES, errno.EPERM):
        return "permission denied"
    if code == errno.ENOENT:
        return "file not found"
    if code == errno.ENOTDIR:
        return "a part of the path is not a folder"
    if code == errno.ENOSPC:
        return "no space left on the device"
    if code == errno.EROFS:
        return "read-only file system"
    return " ".join((exc.strerror or type(exc).__name__).split()).lower()


class SoundsortError(Exception):
    """Base class for every error soundsort raises on purpose.

    ``str(err)`` is a single line fit to print to a user, naming the file (when there is one, as
    :func:`display_path` shows it) and the reason.
    """

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason = " ".join(str(reason).split())  # one line, always
        self.path = None if path is None else str(path)
        super().__init__(self.reason if self.path is None else f"{display_path(self.path)}: {self.reason}")


class AudioError(SoundsortError):
    """A file could not be decoded into usable audio (empty, not audio, truncated, bad samples, ...)."""


class DatasetError(SoundsortError):
    """A dataset folder or index is unusable (no labels, too few files for a split, ...)."""


class ModelError(SoundsortError):
    """A saved model is missing, damaged, or does not match the running configuration."""


class ConfigError(SoundsortError):
    """A parameter value or combination is invalid."""


class LibraryError(SoundsortError):
    """A library folder is missing, damaged, or was built differently from what is asked."""
