"""``soundsort similar``: the files (or music segments) of a library nearest to a query file.

A query that is in the library (same content hash) uses its stored vector and is left out of its own
results; any other file is embedded on the spot with the library's own feature sets (and, for
``same_genre``, described with its models). Distance is ``1 - similarity``, the similarity being the
library's inner product (the mean cosine over its feature sets; see :mod:`soundsort.library.vectors`), so 0 is
identical and 1 is unrelated.

Filters: ``same_genre`` keeps files whose genre is the query's; ``exclude_artist`` drops files by the
query's artist (from a labels table or the files' tags). The index is asked for more neighbours until
``k`` pass the filters or the library is exhausted.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Any

import numpy as np

from soundsort.cache import content_hash
from soundsort.errors import LibraryError
from soundsort.library.store import Library


@dataclass
class Query:
    """What a search starts from: a raw vector and what is known about the query file."""

    path: str
    vector: np.ndarray
    genre: str | None = None
    artist: str | None = None
    row: int | None = None  # its row when the file is in the library


@dataclass
class Neighbour:
    """One result: a file (and, searching segments, the segment's span) with its distance to the query."""

    path: str
    distance: float
    similarity: float
    genre: str | None
    artist: str | None
    duration: float
    start: float | None = None
    end: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {k: v for k, v in self.__dict__.items() if not (k in ("start", "end") and v is None)}


def query_for(library: Library, path: str | os.PathLike[str], *, need_genre: bool = False,
              analyser: Any = None) -> Query:
    """The :class:`Query` for a file: its library entry when its content is there, else a fresh embedding."""
    p = os.path.abspath(os.fspath(path))
    digest = content_hash(p)
    rows = [r for r in library.rows_with_hash(digest)]
    if rows:
        own = library.row_of(p)
        row = own if own is not None and own in rows else rows[0]
        e = library.files[row]
        return Query(p, library.vectors[row], e.genre, e.artist, row)
    if analyser is None:
        from soundsort.library.analyse import Analyser

        config = dict(library.config)
        config["describe"] = bool(config.get("describe")) and need_genre
        config["segments"] = False
        analyser = Analyser(config)
    rec = analyser.analyse(p)
    return Query(p, np.asarray(rec["vector"], np.float32), rec.get("genre"), rec.get("artist"), None)


def _keep(library: Library, row: int, q: Query, same_genre: bool, exclude_artist: bool) -> bool:
    e = library.files[row]
    if q.row is not None and row == q.row:
        return False
    if same_genre and (q.genre is None or e.genre != q.genre):
        return False
    if exclude_artist and q.artist is not None and e.artist is not None and \
            e.artist.strip().lower() == q.artist.strip().lower():
        return False
    return True


def similar(library: Library, query: Query | str | os.PathLike[str], k: int = 10, *, same_genre: bool = False,
            exclude_artist: bool = False, segments: bool = False) -> list[Neighbour]:
    """The ``k`` nearest files of ``library`` to ``query`` (a :class:`Query` or a file), best first.

    ``segments``: search the music segments instead (one result per segment; the query's own file left out).
    """
    if k < 1:
        raise LibraryError(f"k must be at least 1, got {k}")
    q = query if isinstance(query, Query) else query_for(library, query, need_genre=same_genre)
    if same_genre and q.genre is None:
        raise LibraryError("--same-genre: the query's genre is not known (no music found, or the library was "
                           "embedded with --no-describe)", q.path)
    index = library.segment_index if segments else library.file_index
    if segments and index is None:
        raise LibraryError("the library has no segment embeddings (embed with --segments)", library.folder)
    assert index is not None
    total = len(index)
    vec = library.normalized(q.vector[None, :])
    want = min(total, k * 4 + 8)
    while True:
        sims, ids = index.search(vec, want)
        found: list[Neighbour] = []
        for sim, i in zip(sims[0], ids[0]):
            if i < 0:
                continue
            if segments:
                seg = library.segments[int(i)]
                row = seg.file
            else:
                seg, row = None, int(i)
            if not _keep(library, row, q, same_genre, exclude_artist):
                continue
            e = library.files[row]
            found.append(Neighbour(e.path, round(float(1.0 - sim), 6), round(float(sim), 6), e.genre, e.artist,
                                   e.duration, seg.start if seg else None, seg.end if seg else None))
            if len(found) == k:
                return found
        if want >= total:
            return found
        want = min(total, want * 4)


__all__ = ["Neighbour", "Query", "query_for", "similar"]
