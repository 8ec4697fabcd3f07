"""Feature sets by name: a new one plugs in with one :func:`register_featurizer` call, no core edits.

Name → factory only (a :class:`soundsort.registry.Registry`); the built-ins register when
:mod:`soundsort.features` is imported. ``"a+b+..."`` names (combinations) go to the resolver that
:mod:`soundsort.features.combined` installs with :func:`set_combination_resolver`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from soundsort.errors import ConfigError
from soundsort.registry import Registry

if TYPE_CHECKING:
    from soundsort.features.base import Featurizer

__all__ = ["FEATURIZERS", "featurizer_names", "get_featurizer", "register_featurizer", "set_combination_resolver"]


#: Every feature set: name → ``factory(**overrides) -> Featurizer``. Importing this module runs
#: ``soundsort/features/__init__.py`` first, which registers the built-ins.
FEATURIZERS: Registry[Callable[..., Featurizer]] = Registry("feature set")

_combination: list[Callable[..., Featurizer]] = []


def register_featurizer(name: str, factory: Callable[..., Featurizer], description: str = "") -> None:
    """Make ``factory(**overrides)`` available as feature set ``name`` (replacing any earlier one)."""
    if not name or not isinstance(name, str):
        raise ConfigError(f"featurizer name must be a non-empty string, got {name!r}")
    FEATURIZERS.register(name, factory, description)


def set_combination_resolver(resolver: Callable[..., Featurizer]) -> None:
    """Build ``"a+b+..."`` names with ``resolver(name, **overrides)`` (:mod:`soundsort.features.combined` does)."""
    _combination[:] = [resolver]


def get_featurizer(name: str, **overrides: Any) -> Featurizer:
    """Build feature set ``name`` with parameter ``overrides`` (e.g. ``sr=16000, stats=("mean", "std", "skew")``).

    ``"a+b+..."`` names a combination of vector feature sets (see
    :func:`soundsort.features.combined.combined_featurizer`).
    """
    if isinstance(name, str) and "+" in name and name not in FEATURIZERS:
        if not _combination:
            raise ConfigError(f"feature set {name!r}: no combination resolver is installed")
        return _combination[0](name, **overrides)
    factory = FEATURIZERS.get(name)
    try:
        return factory(**overrides)
    except TypeError as exc:  # a factory without **kwargs given a wrong name
        raise ConfigError(f"feature set {name!r}: {exc}") from None


def featurizer_names() -> list[str]:
    """Registered feature set names, sorted."""
    return FEATURIZERS.names()
