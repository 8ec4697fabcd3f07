""""Did you mean ...?": the close names to an unknown one (tasks, feature sets, models, formats, presets).

Uses :func:`difflib.get_close_matches` on the lower-cased names, so ``musik`` finds ``music`` and ``yamnet-msuic``
finds ``yamnet-music``. Pure standard library: cheap to import on any path.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable


def close_names(name: str, known: Iterable[str], *, n: int = 3, cutoff: float = 0.6) -> list[str]:
    """Up to ``n`` names of ``known`` close to ``name`` (best first; case does not matter)."""
    names = list(dict.fromkeys(str(k) for k in known))
    lowered = {k.lower(): k for k in names}
    found = difflib.get_close_matches(str(name).strip().lower(), list(lowered), n=n, cutoff=cutoff)
    return [lowered[f] for f in found]


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """``" (did you mean 'music'?)"``, or ``""`` when nothing is close: to append to an error message."""
    found = close_names(name, known)
    if not found:
        return ""
    if len(found) == 1:
        return f" (did you mean {found[0]!r}?)"
    return " (did you mean " + ", ".join(repr(f) for f in found[:-1]) + f" or {found[-1]!r}?)"


def unknown(what: str, name: str, known: Iterable[str]) -> str:
    """``"unknown task 'musik' (did you mean 'music'?); known: music, genre"``."""
    names = list(dict.fromkeys(str(k) for k in known))
    return f"unknown {what} {name!r}{did_you_mean(name, names)}; known: {', '.join(names) or 'none'}"
