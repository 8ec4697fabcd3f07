"""``soundsort list`` shows every registry (tasks, feature sets, backbones, models, CNN bodies, presets, tune
spaces, formats) through the generic :class:`~soundsort.registry.Registry` API: each name with its description."""

from __future__ import annotations

import json
import subprocess
import sys

from tests.conftest import run_cli

#: the registries as a fresh process sees them (this test process may hold plug-ins other tests registered)
_CATALOGUE = """
import json
from soundsort.cli.components import catalogue
from soundsort.registry import Registry
assert all(isinstance(r, Registry) for _, r in catalogue())
print(json.dumps([[h, {n: r.describe(n) for n in r.names()}] for h, r in catalogue()]))
"""


def test_list_shows_every_registered_name_with_its_description() -> None:
    fresh = subprocess.run([sys.executable, "-c", _CATALOGUE], capture_output=True, text=True, timeout=300)
    assert fresh.returncode == 0, fresh.stderr
    kinds = json.loads(fresh.stdout)
    done = run_cli("list")
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert [h for h, _ in kinds] == ["tasks", "features", "backbones", "models", "CNN bodies (--model cnn-backbone)",
                                     "presets", "tune spaces", "classify formats"]
    for heading, entries in kinds:
        start = lines.index(f"{heading}:")
        assert len(entries) >= 2, heading  # every kind has built-ins
        shown = lines[start + 1:start + 1 + len(entries)]
        for (name, what), line in zip(entries.items(), shown):
            assert line.split()[0] == name
            assert line.strip()[len(name):].strip() == what
    assert set(kinds[-1][1]) == {"json", "jsonl", "csv", "segments", "audacity", "textgrid", "table"}


def test_a_registered_plugin_appears_in_list() -> None:
    """A model registered from outside (as a plug-in would) is listed with its description, by the same code."""
    code = ("import sys; from soundsort.models.registry import MODELS\n"
            "from sklearn.dummy import DummyClassifier\n"
            "MODELS.register('always-first', lambda random_state=0, n_jobs=1: DummyClassifier(), 'test plug-in')\n"
            "sys.argv = ['soundsort', 'list']\n"
            "from soundsort.cli import main; main()\n")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    assert any(line.split() == ["always-first", "test", "plug-in"] for line in done.stdout.splitlines())
