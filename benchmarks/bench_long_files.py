"""Featurizing long files for training: peak memory and time, blocks vs one pass, in one run.

`soundsort train` / `evaluate` / `predict` featurize whole files. The handcrafted features compute their
STFT in blocks of frames (`soundsort.features.handcrafted.BLOCK_FRAMES`) and the spectrogram images are
made a batch of segments at a time (`SpectrogramFeaturizer.batch_segments`); the embeddings run their
network in blocks (`embed_signal`). Each row featurizes one long file in a fresh process and reports its
peak resident memory and wall time, with the blocking as shipped and forced to one pass (the previous
behaviour), side by side.

The file: GTZAN music/speech clips (../shared/data) end to end, 22.05 kHz mono FLAC, `--minutes` long
(synthesized music when the data is absent).

Usage:  python benchmarks/bench_long_files.py [--minutes 60] [--features handcrafted,mel,multi_stft,yamnet]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from common import DATA, emit, machine

CHILD = r"""
import json, resource, sys, time
from soundsort.features import handcrafted
from soundsort.features import SpectrogramFeaturizer, featurize_file, get_featurizer
name, path, one_pass = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
fz = get_featurizer(name)
if one_pass:
    handcrafted.BLOCK_FRAMES = 10 ** 12
    SpectrogramFeaturizer.batch_segments = 10 ** 9
    if hasattr(fz, "block_seconds"):
        fz.block_seconds = None
t0 = time.perf_counter()
seg = featurize_file(fz, path)
secs = time.perf_counter() - t0
print(json.dumps({"seconds": secs, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                  "shape": list(seg.values.shape)}))
"""


def make_file(minutes: float, path: Path) -> float:
    sr = 22050
    target = int(minutes * 60 * sr)
    clips = sorted((DATA / "gtzan_music_speech").rglob("*.flac")) if DATA.is_dir() else []
    parts, n, i = [], 0, 0
    while n < target:
        if clips:
            y, rate = sf.read(clips[i % len(clips)], dtype="float32", always_2d=True)
            y = y.mean(axis=1)
            if rate != sr:
                from soundsort.audio import resample

                y = resample(y, rate, sr)
        else:
            from soundsort.examples import synth_music

            y = synth_music(30.0, sr, seed=i)
        parts.append(y)
        n += len(y)
        i += 1
    audio = np.concatenate(parts)[:target]
    sf.write(path, audio, sr, format="FLAC")
    return len(audio) / sr


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--minutes", type=float, default=60.0)
    ap.add_argument("--features", default="handcrafted,mel,multi_stft,yamnet")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = ["| features | one pass: peak MiB | one pass: s | in blocks: peak MiB | in blocks: s | peak memory, one pass ÷ blocks |",
             "|---|---:|---:|---:|---:|---:|"]
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        seconds = make_file(args.minutes, path)
        for name in args.features.split(","):
            got = {}
            for one_pass in ("1", "0"):
                res = subprocess.run([sys.executable, "-c", CHILD, name, str(path), one_pass], capture_output=True,
                                     text=True)
                if res.returncode != 0:
                    print(res.stderr, file=sys.stderr)
                    raise SystemExit(f"{name}: child failed")
                got[one_pass] = json.loads(res.stdout.strip().splitlines()[-1])
            a, b = got["1"], got["0"]
            lines.append(f"| {name} | {a['peak_mib']:,.0f} | {a['seconds']:.1f} | {b['peak_mib']:,.0f} | "
                         f"{b['seconds']:.1f} | {a['peak_mib'] / b['peak_mib']:.1f} |")
            print(lines[-1], file=sys.stderr, flush=True)
    doc = [f"### Featurizing a long file: memory, blocks vs one pass ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_long_files.py --minutes {args.minutes:g}`; machine: {machine()}. "
           f"One {seconds / 60:.0f}-minute 22.05 kHz FLAC (GTZAN music/speech clips end to end); each cell a "
           "fresh process (decode + features, no cache); peak resident memory of the whole process.", ""]
    emit(doc + lines + [""], args.out)


if __name__ == "__main__":
    main()
