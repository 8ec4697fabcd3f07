"""Ensembles: combine the probabilities of several models (possibly on different feature sets).

Three rules, as the studies compared them:

* ``vote`` — majority vote of the members' predicted classes (ties go to the highest mean probability);
  the output row is the vote share;
* ``mean`` — the mean of the members' probabilities;
* ``max`` — highest confidence: each row is taken from the member that is most sure of its top class.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from soundsort.errors import ConfigError

METHODS = ("vote", "mean", "max")


def combine(probas: Sequence[np.ndarray], method: str = "mean") -> np.ndarray:
    """Combine member probabilities ``[n, K]`` (same rows, same class order) into one ``[n, K]`` array."""
    if not probas:
        raise ConfigError("an ensemble needs at least one member")
    stack = np.stack([np.asarray(p, dtype=float) for p in probas])  # (m, n, K)
    if stack.ndim != 3:
        raise ConfigError(f"member probabilities must be 2-D [n, K], got {stack.shape[1:]}")
    m, n, k = stack.shape
    if method == "mean":
        return stack.mean(axis=0)
    if method == "vote":
        votes = np.zeros((n, k))
        np.add.at(votes, (np.repeat(np.arange(n)[None, :], m, 0), stack.argmax(axis=2)), 1.0)
        # break ties by the mean probability, by a margin too small to change a clear majority
        return (votes + 1e-6 * stack.mean(axis=0)) / (m + 1e-6)
    if method == "max":
        conf = stack.max(axis=2)  # (m, n): each member's confidence in its top class
        best = conf.argmax(axis=0)
        return stack[best, np.arange(n)]
    raise ConfigError(f"unknown ensemble method {method!r}; choose one of {', '.join(METHODS)}")
