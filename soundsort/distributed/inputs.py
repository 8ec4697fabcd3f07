"""What a cluster job reads: the inputs a user names, expanded to one key per file, and the bytes of a key.

An input is

* a local file or folder (folders walked recursively for audio files, as the local ``classify`` does:
  :func:`soundsort.audio.files.find_audio`, so a record's ``path`` is the same string either way);
* a manifest: a local text file (``.txt .lst .list .manifest .m3u .m3u8``) with one path or URI a line
  (blank lines and ``#`` comments skipped; a relative path is relative to the manifest's folder, as in a
  playlist); a line may itself be a folder or a URI folder;
* a URI of any filesystem pyarrow opens (``s3://``, ``gs://``, ``hdfs://``, ``file://``...; the record's
  ``path`` is then the URI), or, failing that, fsspec (``http://``, ``memory://``, ``az://``... where its package is installed); a URI folder is
  listed recursively for audio names.

The bytes are read in Ray Data tasks (:func:`read_key`), so a local path must be readable on every node
(a shared mount) while a URI is read from wherever the task runs.
"""

from __future__ import annotations

import os
import re
import stat
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from soundsort.audio.decode import is_audio_path
from soundsort.errors import ConfigError, display_path, os_reason

#: Local files with these suffixes are manifests (one path or URI a line), not audio.
MANIFEST_SUFFIXES = (".txt", ".lst", ".list", ".manifest", ".m3u", ".m3u8")

_URI_RE = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*://")


def is_uri(item: str) -> bool:
    """Whether ``item`` names a file by URI (``scheme://...``) rather than by a local path."""
    return bool(_URI_RE.match(item))


def is_manifest(path: str | os.PathLike[str]) -> bool:
    """Whether a local path is a manifest: a text file with a manifest suffix (not a folder, not audio)."""
    p = Path(path)
    return p.suffix.lower() in MANIFEST_SUFFIXES and not is_audio_path(p.name) and p.is_file()


@dataclass
class Inputs:
    """The files of a job, in the order found (no repeats), and the folders that could not be listed."""

    keys: list[str] = field(default_factory=list)
    #: ``(folder or URI, reason)`` for each one that could not be listed or read
    unlisted: list[tuple[str, str]] = field(default_factory=list)


def expand_inputs(items: list[str | os.PathLike[str]]) -> Inputs:
    """One key per file for ``items`` (local paths, folders, manifests, URIs; see the module's notes).

    A local path that is neither a folder nor a manifest is kept as it is, whatever it is (missing, a FIFO):
    the classifier then says what is wrong with it, in its error record, as the local ``classify`` does.
    A file named twice is classified once.
    """
    from soundsort.audio.files import find_audio

    out = Inputs()
    seen: set[str] = set()

    def add(key: str) -> None:
        if key not in seen:
            seen.add(key)
            out.keys.append(key)

    def visit(item: str, depth: int) -> None:
        if is_uri(item):
            try:
                for key in _list_uri(item):
                    add(key)
            except (OSError, ValueError, ImportError) as exc:
                out.unlisted.append((item, f"cannot open: {_reason(exc)}"))
            return
        if depth < 8 and is_manifest(item):
            try:
                lines = Path(item).read_text(encoding="utf-8", errors="surrogateescape").splitlines()
            except OSError as exc:
                out.unlisted.append((item, f"cannot read the manifest: {os_reason(exc)}"))
                return
            base = Path(item).parent
            for line in lines:
                line = line.strip()
                if not line or line.startswith("#"):
                    continue
                visit(line if is_uri(line) or os.path.isabs(line) else str(base / line), depth + 1)
            return
        found = find_audio([item])
        out.unlisted.extend(found.unlisted)
        for p in found.files:
            add(str(p))

    for item in items:
        visit(os.fspath(item) if not isinstance(item, str) else item, 0)
    return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, FileNotFoundError):
        return "file not found"
    if isinstance(exc, OSError) and exc.errno is not None:
        return os_reason(exc)
    return " ".join(str(exc).split()) or type(exc).__name__


@lru_cache(maxsize=64)
def _filesystem(uri_root: str) -> tuple[Any, str]:
    """``(filesystem, kind)`` for a URI's scheme and host: pyarrow's when it has one, else fsspec's."""
    try:
        from pyarrow import fs as pafs

        filesystem, _ = pafs.FileSystem.from_uri(uri_root)
        return filesystem, "pyarrow"
    except Exception:  # an unknown scheme (pyarrow.lib.ArrowInvalid) or one pyarrow was built without
        import fsspec

        filesystem, _ = fsspec.core.url_to_fs(uri_root)
        return filesystem, "fsspec"


def _split(uri: str) -> tuple[Any, str, str]:
    """``(filesystem, kind, path inside it)`` for a URI."""
    scheme, rest = uri.split("://", 1)
    host = rest.split("/", 1)[0]
    filesystem, kind = _filesystem(f"{scheme}://{host}/")
    if kind == "pyarrow":
        from pyarrow import fs as pafs

        return filesystem, kind, pafs.FileSystem.from_uri(uri)[1]
    import fsspec

    return filesystem, kind, fsspec.core.url_to_fs(uri)[1]


def _list_uri(uri: str) -> list[str]:
    """The URI itself when it is a file, else the audio files under it (sorted, as URIs)."""
    filesystem, kind, path = _split(uri)
    scheme = uri.split("://", 1)[0]
    prefix = uri[: len(uri) - len(uri.split("://", 1)[1])]  # "s3://"
    if kind == "pyarrow":
        from pyarrow import fs as pafs

        info = filesystem.get_file_info(path)
        if info.type == pafs.FileType.Directory:
            infos = filesystem.get_file_info(pafs.FileSelector(path, recursive=True))
            names = sorted(i.path for i in infos if i.type == pafs.FileType.File and _listed(i.path, path))
            return [_as_uri(prefix, scheme, n) for n in names]
        return [uri]  # a file, or missing: reading it says which
    if filesystem.isdir(path):
        names = sorted(n for n in filesystem.find(path) if _listed(n, path))
        return [_as_uri(prefix, scheme, n) for n in names]
    return [uri]


def _listed(name: str, root: str) -> bool:
    """An audio name, not hidden (nor under a hidden folder) below ``root``."""
    rel = name[len(root):].strip("/") if name.startswith(root) else name
    return is_audio_path(rel.rsplit("/", 1)[-1]) and not any(part.startswith(".") for part in rel.split("/"))


def _as_uri(prefix: str, scheme: str, name: str) -> str:
    if name.startswith(prefix):
        return name
    if scheme in ("file", "local", "memory"):  # absolute paths: file:///srv/a.wav
        return f"{scheme}://{name}"
    return f"{scheme}://{name.lstrip('/')}"  # bucket/key: s3://bucket/key


def read_key(key: str) -> tuple[bytes | None, str | None]:
    """``(bytes, None)`` of a file; ``(None, None)`` for a local path that is no regular, readable file (the
    classifier, given the path itself, then says what it is: the same error as the local ``classify``);
    ``(None, reason)`` for a URI that cannot be read."""
    if not is_uri(key):
        path = key
        try:
            st = os.stat(path)
            if not stat.S_ISREG(st.st_mode):
                return None, None
            with open(path, "rb") as fh:
                return fh.read(), None
        except OSError:
            return None, None
    try:
        filesystem, kind, path = _split(key)
        if kind == "pyarrow":
            with filesystem.open_input_stream(path) as fh:
                return fh.read(), None
        with filesystem.open(path, "rb") as fh:
            return fh.read(), None
    except (OSError, ValueError, ImportError) as exc:
        return None, f"{display_path(key)}: cannot read ({_reason(exc)})"
    except Exception as exc:  # a filesystem library's own error type
        return None, f"{display_path(key)}: cannot read ({type(exc).__name__}: {_reason(exc)})"


def check_local_output(output: str | os.PathLike[str]) -> Path:
    """The output folder as a local path (results are written by the driver, atomically, into a folder)."""
    text = os.fspath(output)
    if is_uri(text) and not text.startswith("file://"):
        raise ConfigError("the output must be a local (or mounted) folder; URIs are for inputs", text)
    return Path(text[len("file://"):] if text.startswith("file://") else text)
