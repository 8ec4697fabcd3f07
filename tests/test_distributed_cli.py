"""``--engine ray`` on the command line (issue 14): classify and train as a user runs them, each command
starting its own local Ray; and the one line a user without Ray gets."""

from __future__ import annotations

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.conftest import run_cli

#: the local Ray each command starts binds loopback only (see tests/test_distributed.py)
LOOPBACK = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}

# a Python without Ray: every import of ray fails, as where the extra is not installed
NO_RAY = """
import sys
class _NoRay:
    def find_spec(self, name, path=None, target=None):
        if name == "ray" or name.startswith("ray."):
            raise ModuleNotFoundError("No module named 'ray'", name="ray")
sys.meta_path.insert(0, _NoRay())
sys.argv = ["soundsort", *sys.argv[1:]]
from soundsort.cli import main
main()
"""


def test_without_ray_one_line(tmp_path, example_data):
    for args in (["classify", str(example_data / "music"), "--engine", "ray", "-o", str(tmp_path / "out")],
                 ["train", str(example_data), "--engine", "ray", "--no-profile"]):
        proc = subprocess.run([sys.executable, "-c", NO_RAY, *args], capture_output=True, text=True, timeout=300)
        assert proc.returncode == 3, proc.stderr
        assert proc.stderr.strip().splitlines() == [
            "soundsort: --engine ray needs Ray, which is not installed: pip install 'soundsort[ray]' "
            "(or pip install 'ray[data]')"]
    assert not (tmp_path / "out").exists()


@pytest.mark.parametrize("args, says", [
    (["--engine", "spark", "-o", "OUT"], "--engine takes local or ray, got 'spark'"),
    (["--engine", "ray"], "--engine ray writes its results into a folder: give -o OUT/"),
    (["--engine", "ray", "-o", "OUT", "-f", "csv"], "--engine ray writes parquet or jsonl partitions, not csv"),
    (["--engine", "ray", "-o", "OUT", "--write-tags"], "--write-tags does not go with --engine ray"),
    (["-o", "OUT.jsonl", "--num-actors", "2"], "--address and --num-actors go with --engine ray"),
])
def test_usage_errors(tmp_path, example_data, args, says):
    args = [a.replace("OUT", str(tmp_path / "out")) for a in args]
    proc = run_cli("classify", str(example_data / "music"), *args)
    assert proc.returncode == 2 and says in proc.stderr, proc.stderr


def test_classify_and_train_on_ray(tmp_path, example_data, monkeypatch):
    pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'soundsort[ray]'")
    # a cache of its own: the worker's shared one may already hold these files' features from other tests
    monkeypatch.setenv("SOUNDSORT_CACHE_DIR", str(tmp_path / "cache"))
    from soundsort.distributed import read_results

    out = tmp_path / "out"
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF....WAVEfmt not really")
    files = sorted(str(p) for p in (example_data / "music").glob("*.flac"))[:3]
    proc = run_cli("classify", *files, str(bad), "--engine", "ray", "--num-actors", "2", "-o", str(out),
                   env=LOOPBACK)
    assert proc.returncode == 1, proc.stderr  # one input failed
    assert f"soundsort: {bad}: " in proc.stderr and "1 of 4 inputs failed" in proc.stderr
    assert re.fullmatch(rf"3 ok, 1 failed: \d new partition\(s\) in {re.escape(str(out))}", proc.stdout.strip())
    local = run_cli("classify", *files, "-f", "jsonl")
    assert local.returncode == 0, local.stderr
    expected = {r["path"]: r for r in map(json.loads, local.stdout.splitlines())}
    got = {r["path"]: r for r in read_results(out)}
    assert {p: got[p] for p in files} == expected and got[str(bad)]["status"] == "error"
    # a rerun: nothing to do; --resume: the failed input is tried again (and is there once)
    again = run_cli("classify", *files, str(bad), "--engine", "ray", "-o", str(out), env=LOOPBACK)
    assert again.returncode == 0 and "resuming: 4 of 4 inputs already in" in again.stderr
    retried = run_cli("classify", *files, str(bad), "--engine", "ray", "-o", str(out), "--resume", env=LOOPBACK)
    assert retried.returncode == 1 and retried.stdout.startswith("0 ok, 1 failed")
    assert sorted(r["path"] for r in read_results(out)) == sorted(files + [str(bad)])

    # train --engine ray: the features computed on the cluster, then read from the cache by the training
    data = example_data
    n_files = sum(1 for p in Path(data).rglob("*.flac"))
    model = tmp_path / "model"
    proc = run_cli("train", str(data), "--engine", "ray", "--num-actors", "2", "--features", "handcrafted",
                   "--folds", "2", "--no-learning-curve", "--no-embedding-map", "--no-profile", "-o", str(model),
                   "--runs", str(tmp_path / "runs"), env=LOOPBACK)
    assert proc.returncode == 0, proc.stderr
    assert f"ray: handcrafted: {n_files} files featurized on the cluster, 0 already cached" in proc.stderr
    assert (model / "model.json").exists()
    # the same again: everything is in the cache already, nothing is sent to the cluster
    proc = run_cli("train", str(data), "--engine", "ray", "--features", "handcrafted", "--folds", "2",
                   "--no-learning-curve", "--no-embedding-map", "--no-profile", "-o", str(tmp_path / "model2"),
                   "--runs", str(tmp_path / "runs"), env=LOOPBACK)
    assert proc.returncode == 0, proc.stderr
    assert f"ray: handcrafted: 0 files featurized on the cluster, {n_files} already cached" in proc.stderr
