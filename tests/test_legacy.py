"""Model folders and feature caches written by the previous version (commit 39e03ba) still load.

The fixture ``tests/fixtures/legacy_39e03ba`` was written by that commit: three trained model folders
(classical skops + numpy head, a PyTorch MLP, a spectrogram CNN), their ``classify --format json`` output on
two clips, and a feature cache for six feature sets with each entry's key. A restructuring may move code;
it must not change what those files mean.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from soundsort.cache import FeatureCache, cache_key, content_hash
from soundsort.features import cache_params, featurize_file, get_featurizer

FIXTURE = Path(__file__).parent / "fixtures" / "legacy_39e03ba"
MODELS = ["handcrafted-logreg", "mfcc-mlp", "mel-cnn"]


@pytest.mark.parametrize("model", MODELS)
def test_old_model_folder_classifies_as_before(model: str, tmp_path: Path) -> None:
    clips = tmp_path / "clips"
    shutil.copytree(FIXTURE / "clips", clips)
    env = {**os.environ, "SOUNDSORT_CACHE_DIR": str(tmp_path / "cache")}
    done = subprocess.run([sys.executable, "-m", "soundsort", "classify", "clips", "--model",
                           str(FIXTURE / "models" / model), "--format", "json", "--no-genre"],
                          cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    got = json.loads(done.stdout)
    want = json.loads((FIXTURE / f"expected-{model}.json").read_text())
    assert [r["path"] for r in got] == [r["path"] for r in want]
    for g, w in zip(got, want):
        assert g["status"] == w["status"] == "ok"
        assert g["label"] == w["label"]
        assert g["music_probability"] == pytest.approx(w["music_probability"], abs=2e-4)
        assert [(s["start"], s["end"], s["label"]) for s in g["timeline"]] == \
               [(s["start"], s["end"], s["label"]) for s in w["timeline"]]
        assert g["models"]["music"]["features"] == w["models"]["music"]["features"]


def test_old_feature_cache_entries_are_found(tmp_path: Path) -> None:
    cache_dir = tmp_path / "cache"
    shutil.copytree(FIXTURE / "cache", cache_dir)
    before = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}
    recorded = json.loads((FIXTURE / "cache-keys.json").read_text())
    cache = FeatureCache(cache_dir)
    for entry, want in recorded.items():
        name, clip = entry.split("/")
        path = FIXTURE / "clips" / f"{clip}.flac"
        featurizer = get_featurizer(name)
        assert cache_key(content_hash(path), cache_params(featurizer)) == want["key"], entry
        got = featurize_file(featurizer, path, cache)
        assert list(got.values.shape) == want["shape"], entry
        assert float(np.float64(got.values).sum()) == pytest.approx(want["sum"], rel=1e-6), entry
    # every answer came from the old entries: nothing was rewritten and nothing added
    after = {p: p.stat().st_mtime_ns for p in cache_dir.rglob("*.npz")}
    assert after == before
