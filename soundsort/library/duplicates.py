"""Near-duplicates in a library: the same recording in two files or formats. Listed, never deleted.

Two files are duplicates when their bytes are identical (same content hash), or when their fingerprints
(:mod:`soundsort.library.fingerprint`) agree on at least ``threshold`` of their bits at the best lag (the
same recording re-encoded as MP3 or Opus, resampled to 8 kHz or made louder agrees on 0.95-1.0 of them;
different recordings on about 0.5) and their durations agree within 2 s (or 3 %).

Which pairs are compared: every pair of files of similar duration in a small library (up to
:data:`ALL_PAIRS_UP_TO` files); in a larger one each file's ``candidates`` nearest neighbours in the
embedding index, since a re-encoding stays close to its original there.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from soundsort.library import fingerprint as fp
from soundsort.library.store import Library

#: fingerprint agreement (share of equal bits) from which two files are the same recording
THRESHOLD = 0.75
ALL_PAIRS_UP_TO = 500


@dataclass
class DuplicateGroup:
    """Files that hold one recording; ``pairs`` are the evidence (path a, path b, match, how)."""

    paths: list[str]
    pairs: list[tuple[str, str, float, str]] = field(default_factory=list)

    def to_dict(self) -> dict:
        return {"paths": self.paths, "pairs": [{"a": a, "b": b, "match": m, "how": how}
                                               for a, b, m, how in self.pairs]}


def _durations_agree(a: float, b: float) -> bool:
    return abs(a - b) <= max(2.0, 0.03 * max(a, b))


def candidate_pairs(library: Library, candidates: int = 20) -> set[tuple[int, int]]:
    """Row pairs ``(i, j)``, ``i < j``, worth a fingerprint comparison (module docstring)."""
    n = len(library)
    dur = np.array([e.duration for e in library.files])
    pairs: set[tuple[int, int]] = set()
    if n <= ALL_PAIRS_UP_TO:
        order = np.argsort(dur)
        for a in range(n):
            i = int(order[a])
            for b in range(a + 1, n):
                j = int(order[b])
                if not _durations_agree(dur[i], dur[j]):
                    break
                pairs.add((min(i, j), max(i, j)))
        return pairs
    assert library.file_index is not None
    _, ids = library.file_index.search(library.normalized(library.vectors), min(n, candidates + 1))
    for i, row in enumerate(ids):
        for j in row:
            j = int(j)
            if j >= 0 and j != i and _durations_agree(dur[i], dur[j]):
                pairs.add((min(i, j), max(i, j)))
    return pairs


def find_duplicates(library: Library, *, threshold: float = THRESHOLD, candidates: int = 20) -> list[DuplicateGroup]:
    """Groups of files that hold the same recording (largest first); nothing is touched on disk."""
    n = len(library)
    parent = list(range(n))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    evidence: list[tuple[int, int, float, str]] = []
    bits = [np.frombuffer(e.fingerprint, dtype="<u2") for e in library.files]
    by_hash: dict[str, int] = {}
    for i, e in enumerate(library.files):
        j = by_hash.setdefault(e.hash, i)
        if j != i:
            evidence.append((j, i, 1.0, "identical bytes"))
    same = {(a, b) for a, b, _, _ in evidence}
    for i, j in sorted(candidate_pairs(library, candidates)):
        if (i, j) in same or library.files[i].hash == library.files[j].hash:
            continue
        m = fp.match(bits[i], bits[j])
        if m >= threshold:
            evidence.append((i, j, round(m, 4), "same recording (fingerprint)"))
    for i, j, _, _ in evidence:
        parent[find(i)] = find(j)
    groups: dict[int, DuplicateGroup] = {}
    for i, j, m, how in evidence:
        g = groups.setdefault(find(i), DuplicateGroup([]))
        g.pairs.append((library.files[i].path, library.files[j].path, m, how))
    for g in groups.values():
        g.paths = sorted({p for a, b, _, _ in g.pairs for p in (a, b)})
    return sorted(groups.values(), key=lambda g: (-len(g.paths), g.paths[0]))


__all__ = ["ALL_PAIRS_UP_TO", "DuplicateGroup", "THRESHOLD", "candidate_pairs", "find_duplicates"]
