"""Do the bundled default models reproduce? Retrain each preset from ../shared/data and compare.

For each preset (`soundsort train --preset NAME`): retrain into a temporary folder, then compare its
cross-validated figures with the ones in the shipped model card, and its predictions with the shipped
model's on every 10th training file (max absolute difference of class probabilities). Both predict through
their numpy heads (``model.head.json``, what ``classify`` uses); the retrained folder must have one too, and
the retrained head must give its own skops estimator's probabilities exactly.

Usage:  python benchmarks/bench_presets.py [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from soundsort.features import featurize_file
from soundsort.models.io import load_model
from soundsort.models.linear_head import LinearHead, ScoreThresholdHead
from soundsort.presets import PRESETS
from soundsort.inference.predict import Predictor
from soundsort.workflows import TrainConfig, index_dataset, train
from common import emit, machine


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    lines = ["| preset | metric | shipped (CV mean ± std) | retrained | max abs Δ probability (files) | numpy head "
             "written, = its skops model | retrain s |", "|---|---|---|---|---|---|---:|"]
    for name, ps in PRESETS.items():
        if not all(p.is_dir() for p in ps.data_dirs()):
            print(f"{name}: data not found, skipped", file=sys.stderr)
            continue
        shipped = json.loads((ps.output() / "model.json").read_text())
        with tempfile.TemporaryDirectory() as tmp:
            cfg = TrainConfig(**ps.train_fields(), learning_curve=False, embedding_map=False, profile=False, jobs=2)
            t0 = time.perf_counter()
            res = train(ps.data_paths(), cfg, model_dir=Path(tmp) / "m", runs_dir=Path(tmp) / "runs")
            secs = time.perf_counter() - t0
            index = index_dataset(ps.data_paths(), group_pattern=ps.group_pattern)
            files = [index.abs_path(it) for it in index.items][::10]
            a, b = Predictor(ps.output()), Predictor(Path(tmp) / "m")
            diff = max(float(np.max(np.abs(a.segment_proba(f)[1] - b.segment_proba(f)[1]))) for f in files)
            slow, _ = load_model(Path(tmp) / "m")
            head_ok = isinstance(b.estimator, (LinearHead, ScoreThresholdHead)) and all(
                np.array_equal(b.estimator.predict_proba(v), slow.predict_proba(v))
                for v in (featurize_file(b.featurizer, f).values for f in files[:5]))
        key = "f1" if ps.task == "music" else "accuracy"
        for metric in (key, "f1_macro"):
            s, r = shipped["metrics"]["cv"][metric], res.cv[metric]
            lines.append(f"| {name} | {metric} | {s['mean']:.4f} ± {s['std']:.4f} | {r['mean']:.4f} ± {r['std']:.4f} "
                         f"| {diff:.2e} ({len(files)}) | {'yes' if head_ok else 'NO'} | {secs:.0f} |")
        print(lines[-1], file=sys.stderr, flush=True)
    doc = [f"### Bundled models reproduce ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_presets.py`; machine: {machine()}.",
           ""] + lines + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
