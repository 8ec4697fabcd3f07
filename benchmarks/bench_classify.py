"""soundsort classify: speed, timeline accuracy on broadcast-like recordings, and memory on a 3-hour file.

1. Speed, end to end from files on disk (gtzan_mini: 100 clips of 30 s, 22.05 kHz FLAC): music timeline
   only, and music + genre, in seconds of audio per second; one process with 2 ONNX Runtime threads and
   two worker processes with one thread each. The time split (decode + resample, YAMNet front end,
   YAMNet network, music head, genre windows: musicnn front end + network + head) is measured on the
   same files, beside two plain baselines in the same run: YAMNet fed one patch per call (unbatched) and
   librosa's handcrafted features (the foundation pipeline's extraction).
2. Timeline accuracy: broadcast-like recordings (2-10 min) assembled from held-out clips of
   gtzan_music_speech (music, speech) and ESC-10 (environmental sound), 0.5 s cross-fades, known
   boundaries. The default-music recipe is retrained per fold on the other folds (grouped 5-fold CV, ESC-10
   by fold prefix), so no clip of a test recording was seen in training. Frame-level music F1 on 10 ms
   frames and the distance from each true music / non-music boundary to the nearest predicted one.
   With ``--copies N``, the recipe is also trained with N augmented copies per clip (as
   ``train --augment N --augment-noise esc10``) and every recording is also scored with held-out ESC-10
   sound under it at 0-10 dB SNR: clean vs augmented training on clean vs noisy recordings.
3. Memory: peak RSS of ``soundsort classify`` on a generated 3-hour file.
4. First result: how long after ``soundsort classify FILE -f jsonl`` starts its first record is printed,
   for a generated 10-minute file (the whole process: start-up, models, the file's analysis).

Usage:  python benchmarks/bench_classify.py [--recordings-per-fold 4] [--hours 3] [--minutes 10] [--copies 3]
        [--skip speed,timeline,memory,first] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsort.audio import load
from soundsort.audio.augment import augment_config, mix_noise
from soundsort.cache import FeatureCache
from soundsort.dataset.splits import grouped_kfold
from soundsort.evaluation.crossval import fit_on_files
from soundsort.features.augmented import build_augmented_table
from soundsort.features import get_featurizer
from soundsort.inference.batch import run_batch
from soundsort.inference.classify import ClassifyConfig, Classifier
from soundsort.inference.timeline import boundary_errors, frame_f1, rasterize
from soundsort.models.registry import make_model
from soundsort.models.io import ModelCard, save_model
from soundsort.presets import get_preset
from soundsort.workflows import index_dataset, prepare
from common import DATA, emit, machine

SR = 16000


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


# ----------------------------------------------------------------------------------------------- speed

def _timed(fn, *args) -> tuple[float, object]:
    t0 = time.perf_counter()
    out = fn(*args)
    return time.perf_counter() - t0, out


def speed(files: list[Path]) -> list[str]:
    from functools import partial

    from soundsort.backbones import get_backbone
    from soundsort.features import featurize_array
    from soundsort.models.io import load_model
    from soundsort.inference.predict import featurizer_for

    audio = sum(sf.info(f).duration for f in files)
    rows = []

    def rate(seconds: float) -> str:
        return f"{audio / seconds:,.0f}"

    for genre in (False, True):
        clf = Classifier(config=ClassifyConfig(genre=genre), threads=2)
        clf.classify_file(files[0])  # models loaded, sessions made: what a long batch sees
        t, _ = _timed(lambda: [clf.classify_file(f) for f in files])
        rows.append((f"classify, {'music + genre' if genre else 'music timeline only'}, 1 process × 2 threads",
                     t, rate(t)))
        factory = partial(Classifier, None, None, ClassifyConfig(genre=genre), threads=1)
        t0 = time.perf_counter()
        run_batch([str(f) for f in files], factory, jobs=2, on_result=lambda r: None)
        t = time.perf_counter() - t0
        rows.append((f"classify, {'music + genre' if genre else 'music timeline only'}, 2 processes × 1 thread "
                     "(incl. model loading)", t, rate(t)))
        log(f"speed genre={genre}: {rows[-2][2]}x / {rows[-1][2]}x")

    # the split, one process, 2 threads
    music_est, music_card = load_model(Path(__file__).resolve().parents[1] / "soundsort/assets/models/default-music",
                                       fast=True)  # the numpy head classify uses
    yam = get_backbone("yamnet", threads=2)
    t_dec, ys = _timed(lambda: [load(f, SR)[0] for f in files])
    t_fe, patches = _timed(lambda: [yam.patches(y, SR) for y in ys])
    yam.run_patches(patches[0])
    t_net, embs = _timed(lambda: [yam.run_patches(p)[1] for p in patches])
    mfz = featurizer_for(music_card)
    mfz.threads = 2
    t_mfeat, mvec = _timed(lambda: [featurize_array(mfz, y).values for y in ys])
    t_head, _ = _timed(lambda: [music_est.predict_proba(v) for v in mvec])
    genre_est, genre_card = load_model(Path(__file__).resolve().parents[1] / "soundsort/assets/models/default-genre",
                                       fast=True)
    gfz = featurizer_for(genre_card)
    gfz.threads = 2
    windows = [[y[i * 3 * SR:(i + 1) * 3 * SR] for i in range(min(10, len(y) // (3 * SR)))] for y in ys]
    featurize_array(gfz, windows[0][0])
    t_gnet, gvec = _timed(lambda: [[featurize_array(gfz, w).values for w in ws] for ws in windows])
    t_ghead, _ = _timed(lambda: [[genre_est.predict_proba(v) for v in vs] for vs in gvec])
    rows += [("split: decode + resample to 16 kHz", t_dec, rate(t_dec)),
             ("split: YAMNet front end (log-mel patches)", t_fe, rate(t_fe)),
             ("split: YAMNet network (batched, float)", t_net, rate(t_net)),
             (f"split: music features, all of it ({music_card.featurizer}: front end + network + pooling)", t_mfeat,
              rate(t_mfeat)),
             (f"split: music head ({music_card.model})", t_head, rate(t_head)),
             (f"split: genre: {genre_card.featurizer} on ≤10 windows of 3 s (front ends + networks)", t_gnet,
              rate(t_gnet)),
             ("split: genre head", t_ghead, rate(t_ghead))]
    # baselines in the same run
    yam1 = get_backbone("yamnet", threads=2, batch_size=1)
    t_unb, _ = _timed(lambda: [yam1.run_patches(p) for p in patches])
    rows.append(("baseline: YAMNet network unbatched (1 patch per call)", t_unb, rate(t_unb)))
    hc = get_featurizer("handcrafted")
    ys22 = [load(f, hc.sr)[0] for f in files]
    t_hc, _ = _timed(lambda: [hc.segment_vectors(y) for y in ys22])
    rows.append(("baseline: librosa handcrafted features (foundation pipeline), decoded input", t_hc, rate(t_hc)))
    lines = ["| what | seconds | audio s / s |", "|---|---:|---:|"]
    lines += [f"| {name} | {t:.2f} | {r} |" for name, t, r in rows]
    return [f"{len(files)} files, {audio:.0f} s of audio.", ""] + lines


# ----------------------------------------------------------------------------------------------- timeline

def _clip(path: Path, rng: np.random.Generator, kind: str) -> np.ndarray:
    y, _ = load(path, SR)
    if kind in ("music", "speech") and len(y) > 10 * SR:
        n = int(rng.uniform(8, min(30, len(y) / SR)) * SR)
        a = int(rng.integers(0, len(y) - n + 1))
        y = y[a:a + n]
    return y


def build_recording(pools: dict[str, list[Path]], rng: np.random.Generator, minutes: float,
                    fade: float = 0.5) -> tuple[np.ndarray, list[dict], list[float]]:
    """Clips end to end with linear cross-fades; truth segments and the music / non-music boundaries."""
    target = int(minutes * 60 * SR)
    fade_n = int(fade * SR)
    out = np.zeros(0, np.float32)
    parts: list[tuple[int, str]] = []  # (start sample of the part's own region, kind)
    last_kind = None
    while len(out) < target:
        kind = rng.choice(["music", "speech", "environment"], p=[0.45, 0.35, 0.2])
        if kind == last_kind and rng.random() < 0.7:
            continue
        pool = pools[kind]
        n_clips = int(rng.integers(1, 4)) if kind == "environment" else 1
        y = np.concatenate([_clip(pool[int(rng.integers(len(pool)))], rng, kind) for _ in range(n_clips)])
        y = y / max(1e-6, float(np.max(np.abs(y)))) * float(rng.uniform(0.3, 0.9))
        if len(out) == 0:
            parts.append((0, kind))
            out = y.astype(np.float32)
        else:
            ramp = np.linspace(0, 1, fade_n, dtype=np.float32)
            mid = len(out) - fade_n // 2  # the boundary: the middle of the cross-fade
            head = out[:-fade_n]
            mixed = out[-fade_n:] * (1 - ramp) + y[:fade_n] * ramp
            out = np.concatenate([head, mixed, y[fade_n:]]).astype(np.float32)
            parts.append((mid, kind))
        last_kind = kind
    duration = len(out) / SR
    truth, bounds = [], []
    for i, (start, kind) in enumerate(parts):
        end = parts[i + 1][0] if i + 1 < len(parts) else len(out)
        label = "music" if kind == "music" else "non-music"
        if truth and truth[-1]["label"] == label:
            truth[-1]["end"] = end / SR
        else:
            if truth:
                bounds.append(start / SR)
            truth.append({"start": start / SR, "end": end / SR, "label": label})
    assert abs(truth[-1]["end"] - duration) < 1e-6
    return out, truth, bounds


def noise_bed(pool: list[Path], n: int, rng: np.random.Generator) -> np.ndarray:
    """Environmental clips end to end until ``n`` samples: a changing background."""
    parts, total = [], 0
    while total < n:
        y = _clip(pool[int(rng.integers(len(pool)))], rng, "environment")
        parts.append(y)
        total += len(y)
    return np.concatenate(parts)[:n]


def timeline_accuracy(per_fold: int, seed: int = 0, copies: int = 0, augment_params: dict | None = None) -> list[str]:
    """Frame F1 and boundary errors of the default-music recipe, retrained per fold.

    With ``copies``, the recipe is also trained with that many augmented copies per clip (noise from
    ESC-10, as ``train --augment N --augment-noise esc10`` does; no copy carrying a test clip's audio joins
    a fold's training), and every recording is also scored with a bed of held-out environmental sound
    under it at 0-10 dB SNR.
    """
    preset = get_preset("default-music")
    # the recordings are made of GTZAN music / speech and ESC-10 clips, whatever else the recipe trains on
    roots = [str(DATA / "gtzan_music_speech"), str(DATA / "esc10")]
    index = index_dataset(roots, group_pattern=preset.group_pattern, jobs=2)
    fz = get_featurizer(preset.features, **preset.feature_params)
    prep = prepare(roots, "music", fz, jobs=2, cache=True, index=index)
    files = np.unique(prep.table.file_index)
    kinds = np.array(["music" if it.label == "music" else "speech" if it.label == "speech" else "environment"
                      for it in index.items])
    trainings: dict[str, object] = {"clean clips (the recipe)": None}
    if copies:
        noises = [prep.table.paths[i] for i in range(len(kinds)) if kinds[i] == "environment"]
        trainings[f"clean + {copies} augmented copies"] = build_augmented_table(
            prep.table.paths, fz, copies=copies, noises=noises, seed=0, cfg=augment_config(augment_params),
            cache=FeatureCache(), jobs=2)
    conditions = ["clean"] + (["noise 0-10 dB SNR"] if copies else [])
    rng = np.random.default_rng(seed)
    scores = {(t, c): {"f1": [], "err": [], "pred": 0} for t in trainings for c in conditions}
    n_true_bounds, minutes, n_rec = 0, 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for k, (tr, te) in enumerate(grouped_kfold(prep.y_file[files], prep.groups[files], 5, random_state=0)):
            classifiers = {}
            for name, aug in trainings.items():
                est = fit_on_files(make_model(preset.model, **preset.model_params), prep.table.values,
                                   prep.table.file_index, prep.y_file, files[tr], prep.groups, aug)
                card = ModelCard(task="music", labels=prep.labels, featurizer=fz.name,
                                 featurizer_params=fz.params(), model=preset.model, positive_label="music")
                mdir = save_model(Path(tmp) / f"fold{k}-{len(classifiers)}", est, card)
                classifiers[name] = Classifier(mdir, config=ClassifyConfig(genre=False), threads=2)
            test_files = files[te]
            pools = {c: [index.abs_path(index.items[i]) for i in test_files if kinds[i] == c]
                     for c in ("music", "speech", "environment")}
            for r in range(per_fold):
                mins = float(rng.uniform(2, 10))
                y, truth, bounds = build_recording(pools, rng, mins)
                dur = len(y) / SR
                versions = {"clean": y}
                if copies:
                    bed = noise_bed(pools["environment"], len(y), rng)
                    versions["noise 0-10 dB SNR"] = mix_noise(y, bed, float(rng.uniform(0, 10)), rng)
                for cond, audio in versions.items():
                    path = Path(tmp) / f"rec{k}_{r}_{conditions.index(cond)}.flac"
                    sf.write(path, audio, SR)
                    for name, clf in classifiers.items():
                        res = clf.classify_file(path)
                        got = scores[(name, cond)]
                        got["f1"].append(frame_f1(rasterize(truth, dur), rasterize(res.timeline, dur)))
                        pred_bounds = [s["start"] for s in res.timeline[1:]]
                        got["err"] += boundary_errors(bounds, pred_bounds)
                        got["pred"] += len(pred_bounds)
                        log(f"fold {k} rec {r} ({cond}, {name}): {dur / 60:.1f} min, F1 {got['f1'][-1]:.3f}, "
                            f"{len(bounds)} true / {len(pred_bounds)} predicted boundaries")
                n_true_bounds += len(bounds)
                minutes += dur / 60
                n_rec += 1
    lines = [f"{n_rec} recordings, {minutes:.0f} minutes, {n_true_bounds} true music/non-music boundaries.", "",
             "| training | recordings | frame-level music F1 (10 ms), mean (min) | boundary error mean / median (s) "
             "| within 0.5 s / 1 s | predicted boundaries |", "|---|---|---:|---:|---:|---:|"]
    for (name, cond), got in scores.items():
        err = np.array(got["err"])
        lines.append(f"| {name} | {cond} | {np.mean(got['f1']):.3f} ({np.min(got['f1']):.3f}) | "
                     f"{np.mean(err):.3f} / {np.median(err):.3f} | {np.mean(err <= 0.5):.1%} / "
                     f"{np.mean(err <= 1.0):.1%} | {got['pred']} |")
    return lines


# ----------------------------------------------------------------------------------------------- memory

def memory(hours: float) -> list[str]:
    clips = sorted((DATA / "gtzan_music_speech").rglob("*.flac"))
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "long.flac"
        n_target = int(hours * 3600 * SR)
        written = 0
        with sf.SoundFile(path, "w", SR, 1, format="FLAC") as fh:
            i = 0
            while written < n_target:
                y, _ = load(clips[i % len(clips)], SR)
                y = y[: n_target - written]
                fh.write(y)
                written += len(y)
                i += 1
        size = path.stat().st_size / 2**20
        log(f"memory: {hours} h file written ({size:.0f} MiB)")
        t0 = time.perf_counter()
        proc = subprocess.run([sys.executable, "-m", "soundsort", "classify", str(path), "--format", "json",
                               "--output", str(Path(tmp) / "out.json")], capture_output=True, text=True)
        wall = time.perf_counter() - t0
        if proc.returncode != 0:
            raise SystemExit(proc.stderr)
        peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
        import json

        rec = json.loads((Path(tmp) / "out.json").read_text())[0]
    return ["| file | size | wall (s) | audio s / s | peak RSS | timeline segments |", "|---|---:|---:|---:|---:|---:|",
            f"| {hours} h, 16 kHz FLAC (GTZAN music/speech clips end to end) | {size:.0f} MiB | {wall:.0f} | "
            f"{hours * 3600 / wall:.0f} | {peak_mib:.0f} MiB | {len(rec['timeline'])} |"]


def _long_file(path: Path, seconds: float) -> float:
    """GTZAN music/speech clips end to end at 16 kHz into FLAC ``path``; returns its size in MiB."""
    clips = sorted((DATA / "gtzan_music_speech").rglob("*.flac"))
    n_target = int(seconds * SR)
    written = 0
    with sf.SoundFile(path, "w", SR, 1, format="FLAC") as fh:
        i = 0
        while written < n_target:
            y, _ = load(clips[i % len(clips)], SR)
            y = y[: n_target - written]
            fh.write(y)
            written += len(y)
            i += 1
    return path.stat().st_size / 2**20


def first_result(minutes: float, runs: int = 3) -> list[str]:
    """Seconds from starting ``soundsort classify FILE -f jsonl`` to its first printed record (median of runs)."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "ten_minutes.flac"
        size = _long_file(path, minutes * 60)
        times, walls = [], []
        for _ in range(runs):
            t0 = time.perf_counter()
            proc = subprocess.Popen([sys.executable, "-m", "soundsort", "classify", str(path), "-f", "jsonl"],
                                    stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            assert proc.stdout is not None
            line = proc.stdout.readline()
            times.append(time.perf_counter() - t0)
            proc.communicate()
            walls.append(time.perf_counter() - t0)
            if proc.returncode != 0 or not line:
                raise SystemExit(f"classify failed: {proc.stderr}")
            rec = json.loads(line)
        log(f"first result: {times}")
    med = float(np.median(times))
    return ["| file | size | first record printed after (median of " f"{runs}) | whole process | timeline segments | "
            "genre windows | target |", "|---|---:|---:|---:|---:|---:|---|",
            f"| {minutes:g} min, 16 kHz FLAC (GTZAN music/speech clips end to end) | {size:.0f} MiB | {med:.2f} s "
            f"(min {min(times):.2f}, max {max(times):.2f}) | {float(np.median(walls)):.2f} s | {len(rec['timeline'])} | "
            f"{rec['genre_windows']} | ≤ 2 s: {'met' if med <= 2 else 'not met'} |"]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--recordings-per-fold", type=int, default=4)
    ap.add_argument("--hours", type=float, default=3.0)
    ap.add_argument("--minutes", type=float, default=10.0, help="length of the first-result file")
    ap.add_argument("--copies", type=int, default=0,
                    help="timeline: also train with N augmented copies per clip and score noisy recordings")
    ap.add_argument("--augment-params", default="{}", help="AugmentConfig overrides (JSON) for --copies")
    ap.add_argument("--skip", default="", help="comma list of parts to skip: speed,timeline,memory,first")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        log(f"shared data not found at {DATA}: nothing to benchmark")
        return
    skip = set(filter(None, args.skip.split(",")))
    command = (f"python benchmarks/bench_classify.py --recordings-per-fold {args.recordings_per_fold} "
               f"--hours {args.hours} --minutes {args.minutes:g}" + (f" --copies {args.copies}" if args.copies else "")
               + (f" --augment-params '{args.augment_params}'" if args.augment_params != "{}" else "")
               + (f" --skip {args.skip}" if args.skip else ""))
    doc = [f"### soundsort classify ({dt.date.today().isoformat()})", "",
           f"Command: `{command}`; machine: {machine()}.", ""]
    if "memory" not in skip:  # first, while nothing else is loaded in this process
        doc += ["**Memory** (peak resident set of the whole `soundsort classify` process):", ""] + memory(args.hours) + [""]
    if "first" not in skip:
        doc += ["**First result** (a user's wait for the first line of output):", ""] + first_result(args.minutes) + [""]
    if "speed" not in skip:
        files = sorted((DATA / "gtzan_mini").rglob("*.flac"))
        doc += ["**Speed**, end to end from files on disk:", ""] + speed(files) + [""]
    if "timeline" not in skip:
        doc += ["**Timeline accuracy** on broadcast-like recordings of held-out clips:", ""]
        doc += timeline_accuracy(args.recordings_per_fold, copies=args.copies,
                                 augment_params=json.loads(args.augment_params)) + [""]
    emit(doc, args.out)


if __name__ == "__main__":
    main()
