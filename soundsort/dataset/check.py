"""Validation: every file of a dataset decoded once, header *and* every sample.

Truncated, corrupt or NaN-filled files end up in :attr:`~soundsort.dataset.index.DatasetIndex.skipped` with
a one-line reason instead of failing a long training run later.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from pathlib import Path
from typing import Any, Union

from soundsort.audio.decode import info as audio_info
from soundsort.audio.decode import stream as audio_stream
from soundsort.dataset.discover import PathLike
from soundsort.errors import AudioError

ProgressFn = Callable[[int, int, Path], Any]
#: what checking one file gives: ``(duration_seconds, sr, channels)``, or the reason it cannot be used
CheckResult = Union[tuple[float, int, int], str]


def check_file(path: PathLike) -> tuple[float, int, int]:
    """Validate one file by reading its header and decoding it fully once.

    Returns ``(duration_seconds, sr, channels)``; raises :class:`AudioError` for any file
    that cannot be used (empty, not audio, truncated, corrupt, NaN/Inf samples, absurd header).
    """
    inf = audio_info(path)
    frames = 0
    for block in audio_stream(path):  # native rate, mono; NaN/Inf and decode errors raise here
        frames += len(block)
    return frames / float(inf.sr), int(inf.sr), int(inf.channels)


def _check_one(path: Path) -> tuple[float, int, int] | str:
    try:
        return check_file(path)
    except AudioError as exc:
        return exc.reason
    except Exception as exc:  # never crash an index build on one odd file
        msg = " ".join(str(exc).split())[:160] or "no message"
        return f"unreadable ({type(exc).__name__}: {msg})"


def check_files(paths: Sequence[Path], *, jobs: int = 1, progress: ProgressFn | None = None) -> list[CheckResult]:
    """:func:`check_file` for every path (in ``jobs`` threads), in the order given: ``(duration, sr, channels)``
    or the one-line reason a file cannot be used. ``progress(done, total, path)`` is called after each file."""
    total = len(paths)
    results: list[CheckResult | None] = [None] * total
    done = 0

    def _tick(i: int) -> None:
        nonlocal done
        done += 1
        if progress is not None:
            progress(done, total, paths[i])

    if jobs == 1 or total <= 1:
        for i, f in enumerate(paths):
            results[i] = _check_one(f)
            _tick(i)
    else:
        with ThreadPoolExecutor(max_workers=min(jobs, total), thread_name_prefix="soundsort-index") as pool:
            futures = {pool.submit(_check_one, f): i for i, f in enumerate(paths)}
            for fut in as_completed(futures):
                i = futures[fut]
                results[i] = fut.result()
                _tick(i)
    return [r if r is not None else "not checked" for r in results]
