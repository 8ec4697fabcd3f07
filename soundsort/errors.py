"""Error types. Every failure a user can cause is a :class:`SoundsortError` with a one-line message."""

from __future__ import annotations

from pathlib import Path


class SoundsortError(Exception):
    """Base class for every error soundsort raises on purpose.

    ``str(err)`` is a single line fit to print to a user, naming the file (when there is one)
    and the reason.
    """

    def __init__(self, reason: str, path: str | Path | None = None) -> None:
        self.reason = " ".join(str(reason).split())  # one line, always
        self.path = None if path is None else str(path)
        super().__init__(self.reason if self.path is None else f"{self.path}: {self.reason}")


class AudioError(SoundsortError):
    """A file could not be decoded into usable audio (empty, not audio, truncated, bad samples, ...)."""


class DatasetError(SoundsortError):
    """A dataset folder or index is unusable (no labels, too few files for a split, ...)."""


class ModelError(SoundsortError):
    """A saved model is missing, damaged, or does not match the running configuration."""


class ConfigError(SoundsortError):
    """A parameter value or combination is invalid."""
