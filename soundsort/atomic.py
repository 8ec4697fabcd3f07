"""Atomic file writes: write to a temporary file in the same folder, fsync, then rename over the target.

The temporary file is ``.NAME.PID.XXXXXXXX.tmp`` beside ``NAME``. A process killed while it writes (kill -9)
leaves it behind; :func:`stale_temporaries` finds those whose process is gone, for the next run to remove.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any


@contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temporary sibling of ``path`` for writing; on success it replaces ``path`` in one step.

    Readers never see a half-written file, and a crash leaves the old file (or none) in place.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.{os.getpid()}.", suffix=".tmp", dir=target.parent)
    try:
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, 0o666 & ~_umask())  # mkstemp makes 0600; give the file the usual permissions
        os.replace(tmp, target)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def pid_alive(pid: int) -> bool:
    """Whether process ``pid`` exists (this process included; one of another user's counts as alive)."""
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except OSError:  # it exists (another user's)
        return True
    return True


def stale_temporaries(path: str | os.PathLike[str], *, min_age: float = 60.0) -> list[Path]:
    """Temporary files :func:`atomic_open` left beside ``path`` in runs that were killed.

    ``.NAME.PID.XXXXXXXX.tmp`` counts when process PID is gone; a name without a PID (written by an older
    soundsort) when it has not changed for ``min_age`` seconds.
    """
    target = Path(path)
    pattern = re.compile(r"^\." + re.escape(target.name) + r"\.(?:(\d+)\.)?[a-z0-9_]{8}\.tmp$")
    found = []
    try:
        entries = list(os.scandir(target.parent if str(target.parent) else "."))
    except OSError:
        return []
    for entry in entries:
        m = pattern.match(entry.name)
        if not m or not entry.is_file(follow_symlinks=False):
            continue
        if m.group(1) is not None:
            if pid_alive(int(m.group(1))):
                continue
        else:
            try:
                if time.time() - entry.stat(follow_symlinks=False).st_mtime < min_age:
                    continue
            except OSError:
                continue
        found.append(target.parent / entry.name)
    return sorted(found)


def remove_stale_temporaries(path: str | os.PathLike[str]) -> list[Path]:
    """Remove what :func:`stale_temporaries` finds; returns what was removed."""
    removed = []
    for p in stale_temporaries(path):
        try:
            p.unlink()
            removed.append(p)
        except OSError:
            continue
    return removed


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def write_json(path: str | os.PathLike[str], obj: Any, *, indent: int | None = 2) -> None:
    """Write ``obj`` as JSON atomically."""
    with atomic_open(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=indent, sort_keys=False, default=_json_default)
        fh.write("\n")


def _json_default(obj: Any) -> Any:
    import numpy as np

    if isinstance(obj, np.integer):
        return int(obj)
    if isinstance(obj, np.floating):
        return float(obj)
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, Path):
        return str(obj)
    raise TypeError(f"not JSON serializable: {type(obj).__name__}")
