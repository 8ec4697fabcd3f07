"""What the benchmark scripts share: where the real data is, the machine line (hardware and library
versions, the header of every result), and writing a result."""

from __future__ import annotations

import os
import platform
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:  # run as a script from anywhere
    sys.path.insert(0, str(REPO))

#: ../shared/data beside the repository (never copied into it).
DATA = REPO.parent / "shared" / "data"


def machine() -> str:
    """The machine line of every benchmark header: architecture, cores, CPU model and instruction-set level,
    Python and the versions of soundsort, numpy, scikit-learn, onnxruntime and torch (when installed)::

        x86_64, 2 cores, AMD EPYC (x86-64 AVX2 AVX-512F AVX512-VNNI); Python 3.11.7, soundsort 0.1.0, ...
    """
    from soundsort.system import environment_line

    return f"{platform.machine()}, {os.cpu_count()} cores, {environment_line()}"


def emit(doc: list[str], out: Path | None) -> None:
    """Print the Markdown result and, with ``--out``, append it to that file."""
    text = "\n".join(doc)
    print(text)
    if out:
        with open(out, "a", encoding="utf-8") as fh:
            fh.write(text + "\n")


def parse_spec(spec: str) -> tuple[str, dict]:
    """``name`` or ``name?key=value&key=value`` (values as JSON when they parse) → ``(name, params)``."""
    import json

    name, _, query = spec.partition("?")
    params = {}
    for part in filter(None, query.split("&")):
        k, v = part.split("=", 1)
        try:
            params[k] = json.loads(v)
        except json.JSONDecodeError:
            params[k] = v
    return name, params
