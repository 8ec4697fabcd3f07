"""User defaults: a TOML config file and environment variables, held in one typed :class:`Settings`.

Where a value comes from, strongest first:

1. the command line (``--model``, ``--genre-model``, ``--jobs``, ``--format``);
2. an environment variable: ``SOUNDSORT_MUSIC_MODEL``, ``SOUNDSORT_GENRE_MODEL``, ``SOUNDSORT_JOBS``,
   ``SOUNDSORT_FORMAT``, ``SOUNDSORT_CACHE_DIR``;
3. the config file: ``$SOUNDSORT_CONFIG`` when set (an empty value: no file), else
   ``$XDG_CONFIG_HOME/soundsort/config.toml``, else ``~/.config/soundsort/config.toml``; a missing default
   file is no error;
4. the built-in defaults below.

The file holds top-level keys only::

    music_model = "~/models/music"     # a model folder (relative paths are relative to this file)
    genre_model = "~/models/genre"
    jobs = 2                           # 0 = one per core
    format = "jsonl"                   # classify's output when neither --format nor -o's extension says
    cache_dir = "~/.cache/soundsort"   # converted backbones and the feature cache

An unknown key, a wrong type or a value out of range is one error line naming the file and the key. Only the
standard library is used (``tomllib``): reading the settings costs nothing on any path.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from soundsort.errors import ConfigError

#: classify's output formats (``table`` is the terminal view; the others are files or streams)
FORMATS = ("table", "json", "jsonl", "csv", "segments", "audacity", "textgrid")

ENV = {"music_model": "SOUNDSORT_MUSIC_MODEL", "genre_model": "SOUNDSORT_GENRE_MODEL", "jobs": "SOUNDSORT_JOBS",
       "format": "SOUNDSORT_FORMAT", "cache_dir": "SOUNDSORT_CACHE_DIR"}


@dataclass(frozen=True)
class Settings:
    """The defaults every command starts from (see the module's notes for where each comes from)."""

    music_model: str | None = None  # None: the bundled default-music model
    genre_model: str | None = None  # None: the bundled default-genre model
    jobs: int = 0  # parallel processes / threads; 0 = one per core
    format: str | None = None  # None: classify's table (or what -o's extension says)
    cache_dir: str | None = None  # None: $XDG_CACHE_HOME/soundsort, else ~/.cache/soundsort
    #: where each field was set: "default", "file", "env" (for ``soundsort config``)
    sources: dict[str, str] = dataclasses.field(default_factory=dict, compare=False)
    #: the config file that was read (None: none)
    file: str | None = None


_FIELDS = ("music_model", "genre_model", "jobs", "format", "cache_dir")


def config_path(environ: Mapping[str, str] | None = None) -> Path | None:
    """The config file to read (it may not exist), or None when ``SOUNDSORT_CONFIG`` is set empty."""
    environ = os.environ if environ is None else environ
    env = environ.get("SOUNDSORT_CONFIG")
    if env is not None:
        return Path(env).expanduser() if env.strip() else None
    xdg = environ.get("XDG_CONFIG_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".config"
    return base / "soundsort" / "config.toml"


def _check(key: str, value: Any, where: str, base: Path | None) -> Any:
    """A value of ``key`` from a file or the environment, typed and range-checked."""
    if key == "jobs":
        if isinstance(value, str):
            try:
                value = int(value.strip())
            except ValueError:
                raise ConfigError(f"{where}: jobs: must be an integer >= 0, got {value!r}") from None
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ConfigError(f"{where}: jobs: must be an integer >= 0, got {value!r}")
        return value
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{where}: {key}: must be a non-empty string, got {value!r}")
    if key == "format":
        fmt = value.strip().lower()
        if fmt not in FORMATS:
            from soundsort.suggest import unknown

            raise ConfigError(f"{where}: format: {unknown('format', value, FORMATS)}")
        return fmt
    path = Path(value).expanduser()
    if base is not None and not path.is_absolute():
        path = base / path
    return str(path)


def _read_file(path: Path) -> dict[str, Any]:
    import tomllib

    try:
        with open(path, "rb") as fh:
            doc = tomllib.load(fh)
    except FileNotFoundError:
        return {}
    except OSError as exc:
        raise ConfigError(f"cannot read the config file ({exc.strerror or exc})", path) from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"not valid TOML ({exc})", path) from None
    bad = [k for k in doc if k not in _FIELDS]
    if bad:
        from soundsort.suggest import unknown

        raise ConfigError(unknown("key", bad[0], _FIELDS), path)
    return doc


def load(environ: Mapping[str, str] | None = None) -> Settings:
    """The settings as the environment (default ``os.environ``) and the config file give them."""
    environ = os.environ if environ is None else environ
    values: dict[str, Any] = {}
    sources = {k: "default" for k in _FIELDS}
    path = config_path(environ)
    used = None
    if path is not None:
        if "SOUNDSORT_CONFIG" in environ and not path.exists():
            raise ConfigError("config file not found (named by SOUNDSORT_CONFIG)", path)
        doc = _read_file(path)
        if doc or path.exists():
            used = str(path)
        for key, raw in doc.items():
            values[key] = _check(key, raw, str(path), path.parent)
            sources[key] = "file"
    for key, var in ENV.items():
        raw = environ.get(var)
        if raw is not None and raw.strip():
            values[key] = _check(key, raw, f"${var}", None)
            sources[key] = "env"
    return Settings(**values, sources=sources, file=used)


_CURRENT: Settings | None = None


def current() -> Settings:
    """The settings of this process, read once (:func:`reset` forgets them)."""
    global _CURRENT
    if _CURRENT is None:
        _CURRENT = load()
    return _CURRENT


def reset() -> None:
    global _CURRENT
    _CURRENT = None


def describe(settings: Settings) -> list[tuple[str, str, str]]:
    """``(key, value, where it comes from)`` rows for ``soundsort config``."""
    shown = {"music_model": "bundled default-music", "genre_model": "bundled default-genre",
             "jobs": "0 (one per core)", "format": "table (or -o's extension)",
             "cache_dir": "$XDG_CACHE_HOME/soundsort or ~/.cache/soundsort"}
    rows = []
    for key in _FIELDS:
        value = getattr(settings, key)
        where = settings.sources.get(key, "default")
        where = {"file": f"config file {settings.file}", "env": f"${ENV[key]}"}.get(where, "built-in default")
        rows.append((key, shown[key] if value is None or (key == "jobs" and where == "built-in default")
                     else str(value), where))
    return rows
