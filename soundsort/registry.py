"""One registry shape for every plug-in kind (feature sets, backbones, models, CNN bodies, tasks).

A :class:`Registry` maps a name to a factory and a one-line description::

    MODELS = Registry("model")
    MODELS.register("logreg", make_logreg, "logistic regression on scaled features")
    est = MODELS.get("logreg")(random_state=0)

Built-ins are registered by each package's ``__init__`` (importing the package is enough); a registry
may also be given a ``loader`` that registers its entries on first lookup (the tune spaces read from
files). A user's own plug-in is one ``register`` call on the package's registry, e.g.
``soundsort.features.FEATURIZERS.register("my-set", factory, "what it computes")``, made before use.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Generic, TypeVar

from soundsort.errors import ConfigError

F = TypeVar("F", bound=Callable[..., object])


@dataclass(frozen=True)
class Entry(Generic[F]):
    """One registered plug-in: its ``name``, ``factory`` and a one-line ``description``."""

    name: str
    factory: F
    description: str = ""


class Registry(Generic[F]):
    """Name → factory for one plug-in ``kind`` (the word used in messages, e.g. ``"feature set"``).

    Parameters
    ----------
    kind:
        What the entries are, for messages and ``soundsort list``.
    loader:
        Optional callable run once, before the first lookup, that registers the built-ins (an import).
    """

    def __init__(self, kind: str, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, Entry[F]] = {}
        self._loader = loader
        self._loading = False

    def _load(self) -> None:
        if self._loader is not None and not self._loading:
            loader, self._loading = self._loader, True
            try:
                loader()
            finally:
                self._loader, self._loading = None, False

    def register(self, name: str, factory: F, description: str = "") -> F:
        """Make ``factory`` available as ``name`` (replacing an earlier entry of that name); returns it."""
        if not isinstance(name, str) or not name:
            raise ConfigError(f"{self.kind} name must be a non-empty string, got {name!r}")
        if not callable(factory):
            raise ConfigError(f"{self.kind} {name!r}: factory must be callable, got {type(factory).__name__}")
        self._entries[name] = Entry(name, factory, " ".join(description.split()))
        return factory

    def get(self, name: str) -> F:
        """The factory registered as ``name``; an unknown name is a :class:`ConfigError` with suggestions."""
        self._load()
        try:
            return self._entries[name].factory
        except (KeyError, TypeError):
            from soundsort.suggest import unknown

            raise ConfigError(unknown(self.kind, str(name), self.names())) from None

    def names(self) -> list[str]:
        """Registered names, sorted."""
        self._load()
        return sorted(self._entries)

    def describe(self, name: str) -> str:
        """The one-line description of ``name`` (empty when none was given)."""
        self._load()
        entry = self._entries.get(name)
        if entry is None:
            self.get(name)  # raises the standard unknown-name error
        return entry.description if entry else ""

    def __contains__(self, name: object) -> bool:
        self._load()
        return name in self._entries

    def __iter__(self) -> Iterator[Entry[F]]:
        self._load()
        return iter([self._entries[n] for n in sorted(self._entries)])

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, {len(self._entries)} entries)"
