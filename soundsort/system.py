"""What a figure depends on besides the code: library versions and the CPU's instruction set.

The same model gives slightly different numbers with another onnxruntime, torch or numpy, and on a CPU
with other vector instructions (onnxruntime, numpy and the BLAS pick kernels by what the CPU offers: AVX2,
AVX-512, VNNI for 8-bit arithmetic, NEON on ARM). Model cards and benchmark headers record
:func:`environment` so that every figure can be traced to where it was made.

Nothing here imports torch: its version comes from the module when it is already imported, else from
the installed package's metadata.
"""

from __future__ import annotations

import functools
import platform
import subprocess
import sys
from collections.abc import Iterable
from importlib import metadata
from pathlib import Path

#: (distribution name, module name) of the libraries recorded, in the order they are reported.
LIBRARIES: tuple[tuple[str, str], ...] = (
    ("soundsort", "soundsort"),
    ("numpy", "numpy"),
    ("scikit-learn", "sklearn"),
    ("onnxruntime", "onnxruntime"),
    ("torch", "torch"),
)

# numpy's names for the CPU features (``__cpu_features__``) → the names Linux uses in /proc/cpuinfo
_NUMPY_TO_CPUINFO = {
    "SSE42": "sse4_2", "AVX": "avx", "FMA3": "fma", "AVX2": "avx2",
    "AVX512F": "avx512f", "AVX512VNNI": "avx512_vnni", "AVX512BF16": "avx512_bf16", "AVX512FP16": "avx512_fp16",
    "NEON": "neon", "ASIMD": "asimd", "ASIMDDP": "asimddp", "ASIMDFHM": "asimdfhm", "ASIMDHP": "asimdhp",
    "SVE": "sve",
}

# the CPU designers Linux names by number on ARM ("CPU implementer" in /proc/cpuinfo)
_ARM_IMPLEMENTERS = {"0x41": "Arm", "0x42": "Broadcom", "0x43": "Cavium", "0x46": "Fujitsu", "0x48": "HiSilicon",
                     "0x4e": "NVIDIA", "0x51": "Qualcomm", "0x61": "Apple", "0xc0": "Ampere"}

# x86 features worth naming, strongest last: (cpuinfo flag, label)
_X86_LEVELS = (("avx2", "AVX2"), ("avx512f", "AVX-512F"), ("avx512_vnni", "AVX512-VNNI"), ("avx_vnni", "AVX-VNNI"))
# ARM features worth naming: (cpuinfo flags, any of which means it; label)
_ARM_LEVELS = ((("asimd", "neon"), "NEON"), (("asimddp",), "dotprod"), (("i8mm", "svei8mm"), "i8mm"),
               (("bf16", "svebf16"), "bf16"), (("sve",), "SVE"), (("sve2",), "SVE2"))


def library_version(dist: str, module: str | None = None) -> str | None:
    """The version of ``dist``: the running module's ``__version__`` when ``module`` is already imported,
    else the installed distribution's; None when it is not installed. Never imports anything."""
    loaded = sys.modules.get(module or dist)
    version = getattr(loaded, "__version__", None) if loaded is not None else None
    if isinstance(version, str) and version:
        return version
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def architecture(machine: str | None = None) -> str:
    """The CPU architecture in one spelling: ``x86-64``, ``x86``, ``aarch64``, ``arm`` or what the OS says."""
    m = (platform.machine() if machine is None else machine).strip().lower()
    if m in ("x86_64", "amd64", "x64", "x86-64"):
        return "x86-64"
    if m in ("i386", "i486", "i586", "i686", "x86"):
        return "x86"
    if m in ("aarch64", "arm64", "armv8", "armv8l", "aarch64_be"):
        return "aarch64"
    if m.startswith("arm"):
        return "arm"
    return m or "unknown"


def _cpuinfo() -> dict[str, str]:
    """The first processor's fields from /proc/cpuinfo (Linux); empty elsewhere or when unreadable."""
    try:
        text = Path("/proc/cpuinfo").read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    out: dict[str, str] = {}
    for line in text.splitlines():
        key, sep, value = line.partition(":")
        key = key.strip().lower()
        if sep and key and key not in out:
            out[key] = value.strip()
    return out


def _numpy_features() -> set[str]:
    """The CPU features numpy detected at run time, in /proc/cpuinfo spelling."""
    try:
        from numpy._core._multiarray_umath import __cpu_features__ as features  # numpy >= 2
    except ImportError:
        try:
            from numpy.core._multiarray_umath import __cpu_features__ as features  # numpy 1.x
        except ImportError:
            return set()
    return {_NUMPY_TO_CPUINFO.get(name, name.lower()) for name, present in features.items() if present}


@functools.lru_cache(maxsize=1)
def cpu_features() -> frozenset[str]:
    """The CPU's features, lower case as in /proc/cpuinfo (``avx2``, ``avx512_vnni``, ``asimddp``, ...).

    The union of what numpy detected at run time (any OS) and the Linux kernel's flags (which also name
    features numpy does not know, such as AVX-VNNI); empty when neither is available.
    """
    info = _cpuinfo()
    flags = set((info.get("flags") or info.get("features") or "").lower().split())
    return frozenset(flags | _numpy_features())


def format_cpu_level(arch: str, features: Iterable[str]) -> str:
    """A short name for an instruction-set level: ``x86-64 AVX2 AVX-512F AVX512-VNNI``, ``x86-64 AVX2``,
    ``aarch64 (NEON, dotprod)``; just the architecture when none of the features that matter is present."""
    arch = architecture(arch)
    have = {f.lower() for f in features}
    if arch in ("x86-64", "x86"):
        names = [label for flag, label in _X86_LEVELS if flag in have]
        if not names:  # older than AVX2: name the best of what is left
            names = next(([label] for flag, label in (("avx", "AVX"), ("sse4_2", "SSE4.2")) if flag in have), [])
        return " ".join([arch, *names])
    if arch in ("aarch64", "arm"):
        names = [label for flags, label in _ARM_LEVELS if have.intersection(flags)]
        return f"{arch} ({', '.join(names)})" if names else arch
    return arch


def cpu_level() -> str:
    """This machine's instruction-set level, e.g. ``x86-64 AVX2`` (see :func:`format_cpu_level`)."""
    return format_cpu_level(platform.machine(), cpu_features())


@functools.lru_cache(maxsize=1)
def cpu_model() -> str:
    """The CPU's model name (``AMD EPYC 7B13``, ``Apple M2``, ...), or the best the OS tells."""
    info = _cpuinfo()
    for key in ("model name", "hardware", "model", "cpu model", "processor"):
        value = info.get(key, "")
        if value and not value.isdigit():  # x86's "processor" field is just the core's index
            return value
    if "cpu implementer" in info:  # ARM Linux: the designer and the part number
        impl = info["cpu implementer"].lower()
        return f"{_ARM_IMPLEMENTERS.get(impl, 'implementer ' + impl)} CPU part {info.get('cpu part', '?')}"
    if sys.platform == "darwin":
        try:
            out = subprocess.run(["sysctl", "-n", "machdep.cpu.brand_string"], capture_output=True, text=True,
                                 timeout=5, check=False).stdout.strip()
        except (OSError, subprocess.SubprocessError):
            out = ""
        if out:
            return out
    return platform.processor() or platform.machine() or "unknown"


def environment() -> dict[str, str]:
    """Where a figure was made, as strings (JSON-ready, in a stable order).

    Keys: ``python``; ``soundsort``, ``numpy``, ``scikit-learn``, ``onnxruntime``, ``torch`` (each only
    when installed); ``cpu`` (the instruction-set level, :func:`cpu_level`) and ``cpu_model``.
    """
    out = {"python": platform.python_version()}
    for dist, module in LIBRARIES:
        version = library_version(dist, module)
        if version is not None:
            out[dist] = version
    out["cpu"] = cpu_level()
    out["cpu_model"] = cpu_model()
    return out


def environment_line(env: dict[str, str] | None = None) -> str:
    """:func:`environment` as one line, for a benchmark's header:
    ``AMD EPYC (x86-64 AVX2); Python 3.11.7, soundsort 0.1.0, numpy 2.4.6, ...``."""
    env = environment() if env is None else env
    libs = ", ".join(f"{'Python' if k == 'python' else k} {v}" for k, v in env.items() if k not in ("cpu", "cpu_model"))
    return f"{env.get('cpu_model', '?')} ({env.get('cpu', '?')}); {libs}"
