"""Inference speed of each feature set + head, end to end from the file, on a quiet machine.

For every feature set: decode, featurize (no cache) and run a head over the same files, one process with
the backends' default threads (2 cores), models and sessions loaded first (as a long-running job has
them). Heads: logistic regression for vectors; the attention head on YAMNet sequences; the CNN on
spectrogram images; YAMNet fine-tuned on its patches. The heads are fitted on the timed files themselves
for a couple of epochs only: their weights do not change their speed.

Usage:  python benchmarks/bench_speed.py [--files 20] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import sys
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsort.features import featurize_file, get_featurizer
from soundsort.models.registry import make_model
from common import DATA, emit, machine

SETS = [("handcrafted", "logreg", {}), ("mfcc", "logreg", {}), ("yamnet", "logreg", {}), ("yamnet-q", "logreg", {}),
        ("musicnn-msd", "logreg", {}), ("musicnn-mtt", "logreg", {}), ("yamnet+musicnn-msd", "logreg", {}),
        ("yamnet+musicnn-msd+handcrafted", "logreg", {}), ("yamnet-seq", "attention", {"max_epochs": 2}),
        ("mel", "cnn", {"max_epochs": 2}), ("multi_stft", "cnn", {"max_epochs": 2}),
        ("yamnet-patches", "yamnet-finetune", {"max_epochs": 2, "finetune_epochs": 0})]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--files", type=int, default=20)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return
    music = sorted((DATA / "gtzan_mini").rglob("*.flac"))[:: max(1, 100 // args.files)][: args.files]
    audio = sum(sf.info(f).duration for f in music)
    lines = ["| feature set | head | seconds | × real time |", "|---|---|---:|---:|"]
    for name, head, params in SETS:
        fz = get_featurizer(name)
        feats = [featurize_file(fz, f) for f in music]  # warm-up: sessions, lazy imports; also fit data
        X = np.concatenate([s.values for s in feats])
        y = np.concatenate([np.full(len(s.values), i % 2) for i, s in enumerate(feats)])
        est = make_model(head, random_state=0, n_jobs=2, **params).fit(X, y)
        t0 = time.perf_counter()
        for f in music:
            est.predict_proba(featurize_file(fz, f).values).mean(axis=0)
        secs = time.perf_counter() - t0
        lines.append(f"| {name} | {head} | {secs:.2f} | {audio / secs:,.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    doc = [f"### Inference speed per feature set, quiet machine ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_speed.py --files {args.files}`; machine: {machine()}; "
           f"{len(music)} GTZAN clips (22.05 kHz FLAC), {audio:.0f} s of audio, decode + features + head, no cache.",
           ""] + lines + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
