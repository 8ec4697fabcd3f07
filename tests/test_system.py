"""soundsort.system: library versions and the CPU's instruction-set level, recorded in every model card."""

from __future__ import annotations

import json
import platform
import subprocess
import sys
from importlib import metadata
from pathlib import Path

import numpy as np
import pytest

from soundsort import system


def _cpuinfo_flags() -> set[str]:
    """The first processor's flags (x86) or features (ARM) as Linux lists them; empty elsewhere."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip().lower() in ("flags", "features"):
            return set(value.lower().split())
    return set()


def test_environment_names_the_libraries_and_the_cpu() -> None:
    import onnxruntime
    import sklearn

    import soundsort

    env = system.environment()
    assert all(isinstance(k, str) and isinstance(v, str) and v for k, v in env.items())
    assert env["python"] == platform.python_version()
    assert env["numpy"] == np.__version__
    assert env["scikit-learn"] == sklearn.__version__
    assert env["onnxruntime"] == onnxruntime.__version__
    assert env["soundsort"] == metadata.version("soundsort") == soundsort.__version__
    try:
        assert env["torch"] == metadata.version("torch")
    except metadata.PackageNotFoundError:
        assert "torch" not in env
    assert env["cpu"] == system.cpu_level() and env["cpu"].startswith(system.architecture())
    assert env["cpu_model"].strip()
    line = system.environment_line(env)
    assert env["cpu"] in line and f"numpy {np.__version__}" in line and f"Python {platform.python_version()}" in line


def test_environment_does_not_import_torch() -> None:
    code = ("import sys, soundsort.system as s; env = s.environment(); "
            "print('torch' in sys.modules, 'torch' in env)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    imported, listed = out.stdout.split()
    assert imported == "False"
    try:
        metadata.version("torch")
        assert listed == "True"
    except metadata.PackageNotFoundError:
        assert listed == "False"


def test_cpu_level_matches_this_machine() -> None:
    level, arch, flags = system.cpu_level(), system.architecture(), _cpuinfo_flags()
    assert level.startswith(arch)
    if arch in ("x86-64", "x86") and flags:
        for flag, label in (("avx2", "AVX2"), ("avx512f", "AVX-512F"), ("avx512_vnni", "AVX512-VNNI"),
                            ("avx_vnni", "AVX-VNNI")):
            assert (label in level.split()) == (flag in flags), (flag, level)
    elif arch == "aarch64" and flags:
        assert ("NEON" in level) == bool(flags & {"asimd", "neon"}), level
        assert ("dotprod" in level) == ("asimddp" in flags), level
    # what numpy itself detected is never contradicted
    if arch == "x86-64":
        from numpy._core._multiarray_umath import __cpu_features__ as np_features

        if np_features.get("AVX2"):
            assert "AVX2" in level.split()
        if np_features.get("AVX512F"):
            assert "AVX-512F" in level.split()


@pytest.mark.parametrize(("machine", "features", "expected"), [
    ("x86_64", {"sse4_2", "avx", "avx2", "fma"}, "x86-64 AVX2"),
    ("AMD64", {"avx2", "avx512f", "avx512_vnni"}, "x86-64 AVX2 AVX-512F AVX512-VNNI"),
    ("x86_64", {"avx2", "avx_vnni"}, "x86-64 AVX2 AVX-VNNI"),
    ("x86_64", {"sse4_2", "avx"}, "x86-64 AVX"),
    ("x86_64", set(), "x86-64"),
    ("aarch64", {"fp", "asimd", "asimddp"}, "aarch64 (NEON, dotprod)"),
    ("arm64", {"asimd", "asimddp", "i8mm", "sve", "sve2"}, "aarch64 (NEON, dotprod, i8mm, SVE, SVE2)"),
    ("aarch64", set(), "aarch64"),
    ("riscv64", {"rvv"}, "riscv64"),
    ("", set(), "unknown"),
])
def test_cpu_level_names(machine: str, features: set[str], expected: str) -> None:
    assert system.format_cpu_level(machine, features) == expected


def test_a_saved_model_card_records_the_environment(tmp_path: Path) -> None:
    from soundsort.models.registry import make_model
    from soundsort.models.io import ModelCard, load_model, save_model

    rng = np.random.default_rng(0)
    y = np.arange(40) % 2
    X = rng.normal(0, 1, (40, 4)) + 3 * y[:, None]
    est = make_model("logreg", random_state=0).fit(X, y)
    card = ModelCard(task="music", labels=["music", "non-music"], featurizer="mfcc", featurizer_params={},
                     model="logreg")
    save_model(tmp_path / "m", est, card)
    saved = json.loads((tmp_path / "m" / "model.json").read_text())["versions"]
    env = system.environment()
    for key in ("numpy", "scikit-learn", "onnxruntime", "soundsort", "cpu", "cpu_model"):
        assert saved[key] == env[key], key
    assert saved.get("torch") == env.get("torch")
    assert saved["cpu"].startswith(system.architecture())
    _, loaded = load_model(tmp_path / "m")
    assert loaded.versions == saved
