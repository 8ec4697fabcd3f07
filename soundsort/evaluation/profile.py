"""Inference cost of a saved model, as a user would meet it: time per second of audio and peak memory.

Measured in a fresh child process (so the model's own memory is not hidden by what the parent already
holds): load the model, predict a few files end to end (decode, features, head) without the feature
cache, report wall times and the child's peak resident set size.
"""

from __future__ import annotations

import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

_CHILD = r"""
import json, resource, sys, time
t0 = time.perf_counter()
from soundsort.inference.predict import Predictor
import soundfile as sf
model, files = sys.argv[1], sys.argv[2:]
p = Predictor(model, cache=False)
t1 = time.perf_counter()
p.predict_file(files[0])  # first call: sessions, lazy imports
t2 = time.perf_counter()
audio = 0.0
for f in files:
    p.predict_file(f)
    audio += sf.info(f).duration
t3 = time.perf_counter()
print(json.dumps({"load_seconds": t1 - t0, "first_file_seconds": t2 - t1, "audio_seconds": audio,
                  "predict_seconds": t3 - t2,
                  "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def profile_model(model_dir: str | Path, files: Sequence[str | Path], *, timeout: float = 600) -> dict[str, Any]:
    """Load ``model_dir`` in a child process and predict ``files``; times and peak memory.

    Returns ``seconds_per_audio_second`` (lower is faster), ``realtime_factor`` (audio seconds per second),
    ``load_seconds``, ``peak_rss_mib``; or ``{"error": ...}`` when the child failed.
    """
    files = [str(f) for f in files]
    if not files:
        return {"error": "no files to profile"}
    proc = subprocess.run([sys.executable, "-c", _CHILD, str(model_dir), *files], capture_output=True, text=True,
                          timeout=timeout)
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["unknown error"])[-1]
        return {"error": tail}
    raw = json.loads(proc.stdout.strip().splitlines()[-1])
    per = raw["predict_seconds"] / max(raw["audio_seconds"], 1e-9)
    return {"files": len(files), "audio_seconds": round(raw["audio_seconds"], 1),
            "seconds_per_audio_second": round(per, 5), "realtime_factor": round(1.0 / max(per, 1e-9), 1),
            "load_seconds": round(raw["load_seconds"], 2), "first_file_seconds": round(raw["first_file_seconds"], 2),
            "peak_rss_mib": round(raw["peak_rss_mib"], 1)}
