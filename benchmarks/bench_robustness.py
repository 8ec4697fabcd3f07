"""Robustness of music vs non-music models to the audio users really bring.

Models trained on clean clips and on augmented clips (telephone band, gain, 1-2 s crops, ESC-10 noise at
0-10 dB SNR) are tested on held-out clips degraded in each of those ways. Data: music =
gtzan_music_speech/music; non-music = gtzan_music_speech/speech + esc10; 5-fold CV grouped by recording
(ESC-10 by fold prefix).

Training copies are made exactly as ``soundsort train --augment N --augment-noise <esc10>`` makes them
(:func:`soundsort.features.augmented.build_augmented_table`, noise from any ESC-10 clip). No leakage: a copy
whose noise clip is on a fold's test side is left out of that fold's training, and the noise in a degraded
test clip comes only from ESC-10 clips of its own (test) fold, so a model never trains on a noise recording
it is tested with.

Usage:  python benchmarks/bench_robustness.py [--pipelines 'yamnet?segment_seconds=0.48:logreg?C=0.1,handcrafted:svm']
            [--copies 3] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import sys
import time
from pathlib import Path

import numpy as np

from soundsort.audio import load
from soundsort.audio.augment import augment_config, gain, mix_noise, random_crop, telephone
from soundsort.cache import FeatureCache
from soundsort.dataset.splits import grouped_kfold
from soundsort.dataset.tasks import get_task
from soundsort.evaluation.crossval import fit_on_files
from soundsort.evaluation.metrics import classification_metrics
from soundsort.features.augmented import build_augmented_table
from soundsort.features import featurize_array, get_featurizer
from soundsort.features.table import build_feature_table
from soundsort.models.registry import make_model
from soundsort.models.segments import aggregate, proba_matrix
from soundsort.workflows import index_dataset
from common import DATA, emit, machine, parse_spec

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
    ap.add_argument("--pipelines", default="yamnet:logreg,handcrafted:svm",
                    help="FEATURES:MODEL pairs, comma-separated; either may carry ?key=value&... parameters")
    ap.add_argument("--copies", type=int, default=2, help="augmented copies of each training clip")
    ap.add_argument("--augment-params", default="{}",
                    help='AugmentConfig overrides as JSON, e.g. \'{"p_telephone": 0, "p_crop": 0, "p_noise": 0.8}\'')
    ap.add_argument("--limit", type=int, default=0, help="use only every n-th file (quick check)")
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        print(f"shared data not found at {DATA}: nothing to benchmark", file=sys.stderr)
        return
    task = get_task("music")
    index = index_dataset([DATA / "gtzan_music_speech", DATA / "esc10"], group_pattern=r"^(\d+)-", jobs=args.jobs)
    items = index.items[:: args.limit] if args.limit else index.items
    paths = [str(index.abs_path(it)) for it in items]
    labels = ["music", "non-music"]
    y_file = np.array([labels.index(task.class_of(it.label)) for it in items])
    groups = np.array([it.group for it in items])
    fold_of = np.zeros(len(items), int)
    splits = grouped_kfold(y_file, groups, 5, random_state=0)
    for k, (_, te) in enumerate(splits):
        fold_of[te] = k
    is_esc = np.array(["esc10" in index.abs_path(it).parts for it in items])
    esc_paths = [p for p, e in zip(paths, is_esc) if e]
    t_start = time.perf_counter()
    lines = [f"| pipeline | training | {' | '.join(VARIANTS)} |", "|---|---|" + "---|" * len(VARIANTS)]
    computed: dict[str, tuple] = {}  # features of each feature set, shared by its pipelines
    for spec in args.pipelines.split(","):
        feat_spec, head_spec = spec.split(":")
        if feat_spec not in computed:
            name, params = parse_spec(feat_spec)
            fz = get_featurizer(name, **params)
            sr = fz.sr
            cache = FeatureCache()
            # training data exactly as `soundsort train --augment N --augment-noise <esc10>` builds it:
            # copies seeded by content; a copy whose noise clip is on the test side is left out of that fold
            clean = build_feature_table(paths, fz, cache=cache, jobs=args.jobs)
            aug = build_augmented_table(paths, fz, copies=args.copies, noises=esc_paths, seed=0, cache=cache,
                                        cfg=augment_config(json.loads(args.augment_params)), jobs=args.jobs)
            # degraded test versions: noise only from ESC-10 clips of the clip's own (test) fold
            audio = [load(p, sr)[0] for p in paths]
            noise_pool = {k: [audio[i] for i in np.flatnonzero(is_esc & (fold_of == k))] for k in range(5)}
            tests = {v: [] for v in VARIANTS}
            for i, a in enumerate(audio):
                noises = noise_pool[fold_of[i]]
                for v in VARIANTS:
                    got = degrade(v, a, sr, np.random.default_rng(1000 + i), noises)
                    tests[v].append(featurize_array(fz, got).values)
            computed[feat_spec] = (clean, aug, tests)
            del audio, noise_pool
            print(f"{feat_spec}: features done ({time.perf_counter() - t_start:.0f}s)", file=sys.stderr, flush=True)
        clean, aug, tests = computed[feat_spec]
        head, head_params = parse_spec(head_spec)
        for training in ("clean", "augmented"):
            scores: dict[str, list[float]] = {v: [] for v in VARIANTS}
            for tr, te in splits:
                est = fit_on_files(make_model(head, random_state=0, n_jobs=args.jobs, **head_params), clean.values,
                                   clean.file_index, y_file, tr, groups, aug if training == "augmented" else None)
                for v in VARIANTS:
                    feats = [tests[v][i] for i in te]
                    seg_p = proba_matrix(est, np.concatenate(feats), 2)
                    idx = np.concatenate([np.full(len(f), j) for j, f in enumerate(feats)])
                    p = aggregate(seg_p, idx, len(te))
                    scores[v].append(classification_metrics(y_file[te], p, labels, positive=0)["f1"])
            lines.append(f"| {feat_spec} + {head_spec} | {training} | "
                         + " | ".join(f"{np.mean(scores[v]):.3f} ± {np.std(scores[v]):.3f}" for v in VARIANTS) + " |")
            print(lines[-1], file=sys.stderr, flush=True)
    doc = [f"### Robustness: music F1 on degraded held-out clips ({dt.date.today().isoformat()})", "",
           f"Command: `python benchmarks/bench_robustness.py --pipelines '{args.pipelines}' --copies {args.copies}"
           + (f" --augment-params '{args.augment_params}'" if args.augment_params != "{}" else "") + "`; "
           f"machine: {machine()}; {time.perf_counter() - t_start:.0f} s. Music-class F1 (mean ± std over 5 "
           f"grouped folds); training on clean clips vs clean + {args.copies} augmented copies per clip.", ""] + lines + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
