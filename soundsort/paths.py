"""Where soundsort keeps files of its own (converted models, feature cache)."""

from __future__ import annotations

import os
from pathlib import Path


def cache_root() -> Path:
    """The user cache folder: ``$SOUNDSORT_CACHE_DIR``, else the config file's ``cache_dir``, else
    ``$XDG_CACHE_HOME/soundsort``, else ``~/.cache/soundsort``."""
    env = os.environ.get("SOUNDSORT_CACHE_DIR")
    if env:
        return Path(env).expanduser()
    from soundsort.settings import current  # cache_dir of the config file (soundsort/settings.py)

    configured = current().cache_dir
    if configured:
        return Path(configured)
    xdg = os.environ.get("XDG_CACHE_HOME")
    base = Path(xdg).expanduser() if xdg else Path.home() / ".cache"
    return base / "soundsort"


def models_dir() -> Path:
    """Converted backbone models (built once from the installed wheels)."""
    return cache_root() / "models"


def features_dir() -> Path:
    """Default on-disk feature / embedding cache."""
    return cache_root() / "features"
