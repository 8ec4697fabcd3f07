"""Decode once, resample to several rates: what a combination of feature sets at different rates needs.

Every rate gets exactly what :func:`soundsort.audio.decode.load` / :func:`~soundsort.audio.decode.stream`
give at that rate: the same decoded blocks go through the same streaming soxr resampler, so a feature
set in a combination sees the signal it sees alone, from one decode.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator

import numpy as np

from soundsort.audio.decode import info, stream
from soundsort.audio.resample import StreamResampler

__all__ = ["load_at_rates", "stream_at_rates"]


def stream_at_rates(path: str | os.PathLike[str], srs: Iterable[int], *,
                    block_seconds: float = 30.0) -> Iterator[dict[int, np.ndarray]]:
    """Decode ``path`` once (mono) and yield each block at every rate in ``srs``: ``{sr: block}``.

    Per rate, the blocks concatenate to ``load(path, sr)`` exactly; a rate's block may be empty (the
    resampler holding samples back), and the last item holds what the resamplers flush. Bad input is an
    :class:`~soundsort.errors.AudioError`, as from :func:`~soundsort.audio.decode.stream`.
    """
    rates = sorted({int(s) for s in srs})
    native = info(path).sr
    resamplers = {r: StreamResampler(native, r, 1) for r in rates if r != native}
    for block in stream(path, None, block_seconds=block_seconds):
        yield {r: block if r == native else resamplers[r].process(block, last=False) for r in rates}
    if resamplers:
        yield {r: rs.process(np.zeros(0, np.float32), last=True) for r, rs in resamplers.items()}


def load_at_rates(path: str | os.PathLike[str], srs: Iterable[int]) -> dict[int, np.ndarray]:
    """The whole of ``path`` (mono float32) at every rate in ``srs``, decoded once: ``{sr: y}``.

    ``load_at_rates(path, [16000, 22050])[sr]`` equals ``load(path, sr)[0]`` for each rate.
    """
    rates = sorted({int(s) for s in srs})
    parts: dict[int, list[np.ndarray]] = {r: [] for r in rates}
    for blocks in stream_at_rates(path, rates):
        for r, b in blocks.items():
            if len(b):
                parts[r].append(b)
    out: dict[int, np.ndarray] = {}
    for r, p in parts.items():
        out[r] = p[0] if len(p) == 1 else np.concatenate(p) if p else np.zeros(0, np.float32)
    return out
