"""Robustness of music vs non-music models to the audio users really bring.

Models trained on clean clips and on augmented clips (telephone band, gain, 1-2 s crops, ESC-10 noise at
0-10 dB SNR) are tested on held-out clips degraded in each of those ways. Data: music =
gtzan_music_speech/music; non-music = gtzan_music_speech/speech + esc10; 5-fold CV grouped by recording
(ESC-10 by fold prefix).

No leakage: the noise mixed into a clip (for its augmented training copies and for its degraded test
variants) comes only from ESC-10 clips of the same CV fold as the clip, so a model never trains on a noise
recording it is tested with.

Usage:  python benchmarks/bench_robustness.py [--pipelines yamnet:logreg,handcrafted:svm] [--copies 2] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np

from soundsort.audio import load
from soundsort.audio.augment import AugmentConfig, augment, gain, mix_noise, random_crop, telephone
from soundsort.dataset.splits import grouped_kfold
from soundsort.evaluation.metrics import classification_metrics
from soundsort.features.registry import featurize_array, get_featurizer
from soundsort.models.classical import make_model
from soundsort.models.segments import aggregate, proba_matrix
from soundsort.workflows import index_dataset
from soundsort.dataset.tasks import get_task
from common import DATA, emit

VARIANTS = ("clean", "telephone 8 kHz", "quiet -20 dB", "loud +12 dB (clipped)", "1.5 s snippet",
            "ESC-10 noise 0-10 dB SNR")


def degrade(kind: str, y: np.ndarray, sr: int, rng: np.random.Generator, noises: list[np.ndarray]) -> np.ndarray:
    if kind == "clean":
        return y
    if kind.startswith("telephone"):
        return telephone(y, sr)
    if kind.startswith("quiet"):
        return gain(y, -20.0)
    if kind.startswith("loud"):
        return gain(y / max(1e-6, float(np.max(np.abs(y)))), 12.0)
    if kind.endswith("snippet"):
        return random_crop(y, sr, 1.5, rng)
    if kind.startswith("ESC-10 noise"):
        return mix_noise(y, noises[int(rng.integers(len(noises)))], float(rng.uniform(0, 10)), rng)
    raise ValueError(kind)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--pipelines", default="yamnet:logreg,handcrafted:svm")
    ap.add_argument("--copies", type=int, default=2, help="augmented copies of each training clip")
    ap.add_argument("--limit", type=int, default=0, help="use only every n-th file (quick check)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return
    task = get_task("music")
    index = index_dataset([DATA / "gtzan_music_speech", DATA / "esc10"], group_pattern=r"^(\d+)-", jobs=2)
    items = index.items[:: args.limit] if args.limit else index.items
    labels = ["music", "non-music"]
    y_file = np.array([labels.index(task.class_of(it.label)) for it in items])
    groups = np.array([it.group for it in items])
    fold_of = np.zeros(len(items), int)
    splits = grouped_kfold(y_file, groups, 5, seed=0)
    for k, (_, te) in enumerate(splits):
        fold_of[te] = k
    is_esc = np.array(["esc10" in index.abs_path(it).parts for it in items])
    t_start = time.perf_counter()
    lines = [f"| pipeline | training | {' | '.join(VARIANTS)} |", "|---|---|" + "---|" * len(VARIANTS)]
    computed: dict[str, tuple] = {}  # features of each feature set, shared by its pipelines
    for spec in args.pipelines.split(","):
        feat_name, head = spec.split(":")
        if feat_name not in computed:
            fz = get_featurizer(feat_name)
            sr = fz.sample_rate
            audio = [load(index.abs_path(it), sr)[0] for it in items]
            noise_pool = {k: [audio[i] for i in np.flatnonzero(is_esc & (fold_of == k))] for k in range(5)}
            rng = np.random.default_rng(0)
            clean = [featurize_array(fz, a).values for a in audio]
            aug = [[featurize_array(fz, augment(a, sr, rng, noise_pool[fold_of[i]], AugmentConfig())).values
                    for _ in range(args.copies)] for i, a in enumerate(audio)]
            tests = {v: [featurize_array(fz, degrade(v, a, sr, np.random.default_rng(1000 + i),
                                                     noise_pool[fold_of[i]])).values for i, a in enumerate(audio)]
                     for v in VARIANTS}
            computed[feat_name] = (clean, aug, tests)
            del audio, noise_pool
            print(f"{feat_name}: features done ({time.perf_counter() - t_start:.0f}s)", file=sys.stderr, flush=True)
        clean, aug, tests = computed[feat_name]
        for training in ("clean", "augmented"):
            scores: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for tr, te in splits:
                X = [clean[i] for i in tr] + ([c for i in tr for c in aug[i]] if training == "augmented" else [])
                yy = [np.full(len(clean[i]), y_file[i]) for i in tr]
                if training == "augmented":
                    yy += [np.full(len(c), y_file[i]) for i in tr for c in aug[i]]
                est = make_model(head, seed=0, n_jobs=2).fit(np.concatenate(X), np.concatenate(yy))
                for v in VARIANTS:
                    feats = [tests[v][i] for i in te]
                    seg_p = proba_matrix(est, np.concatenate(feats), 2)
                    idx = np.concatenate([np.full(len(f), j) for j, f in enumerate(feats)])
                    p = aggregate(seg_p, idx, len(te))
                    scores[v].append(classification_metrics(y_file[te], p, labels, positive=0)["f1"])
            lines.append(f"| {feat_name} + {head} | {training} | "
                         + " | ".join(f"{np.mean(scores[v]):.3f} ± {np.std(scores[v]):.3f}" for v in VARIANTS) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    doc = [f"### Robustness: music F1 on degraded held-out clips ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_robustness.py --pipelines {args.pipelines} --copies {args.copies}`; "
           f"machine: {platform.machine()}, {os.cpu_count()} cores. Music-class F1 (mean ± std over 5 grouped "
           f"folds); training on clean clips vs clean + {args.copies} augmented copies per clip.", ""] + lines + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
