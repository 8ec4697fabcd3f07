"""Whole-process speed of ``soundsort classify`` from the first file, beside a classic peer in the same run.

Every speed here is a whole process as a user runs it (interpreter start, imports, model loading, worker
processes, decoding, output), timed by ``hyperfine`` (several runs, median quoted), with the default
``--jobs`` (one process per core):

1. one 2 s WAV (an excerpt of a GTZAN song, so the genre path runs too): wall time and peak resident set;
2. 20 clips of 30 s (the first two of every genre of gtzan_mini): the music timeline only (``--no-genre``)
   and music + genre, beside pyAudioAnalysis's shipped speech / music SVM (``svm_rbf_sm``, looping
   ``audioTrainTest.file_classification`` over the same files in one process, its own venv);
3. the 100 clips of gtzan_mini (3,000 s): timeline only and music + genre, in seconds of audio per second;
4. what the genre early stop changes: the records of every music file of gtzan_mini and of GTZAN
   music / speech's music folder, early stop (the default) against every window (``genre_stop_margin=None``).

The clips are decoded once into 16-bit WAV copies in a temporary folder (pyAudioAnalysis reads WAV only;
both tools read the same files); nothing of the shared data is copied into the project. The peer's venv is
``/tmp/paa-venv`` (made here, with pyAudioAnalysis and the packages it imports, when it is missing).

Usage:  python benchmarks/bench_startup.py [--runs 5] [--skip one,small,big,early] [--out FILE]
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import resource
import shlex
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from common import DATA, REPO, emit, machine

PEER_VENV = Path("/tmp/paa-venv")
#: pyAudioAnalysis declares none of what it imports; these are what audioTrainTest needs
PEER_PACKAGES = ["pyAudioAnalysis", "numpy", "scipy", "scikit-learn", "imbalanced-learn", "plotly", "matplotlib",
                 "eyed3", "pydub", "tqdm"]
PEER_SCRIPT = '''
import os, sys
from pyAudioAnalysis import audioTrainTest as aT
import pyAudioAnalysis
model = os.path.join(os.path.dirname(pyAudioAnalysis.__file__), "data", "models", "svm_rbf_sm")
for f in open(sys.argv[1]).read().split("\\n"):
    if f:
        cid, p, classes = aT.file_classification(f, model, "svm")
        print(os.path.basename(f), classes[int(cid)], round(float(max(p)), 3))
'''


#: called before each timed part: returns the load line (with --quiet-load, after waiting for a quiet machine)
QUIET: Any = None  # set in main


def log(msg: str) -> None:
    print(msg, file=sys.stderr, flush=True)


def load_line() -> str:
    a, b, c = os.getloadavg()
    return f"{a:.2f} / {b:.2f} / {c:.2f}"


# ----------------------------------------------------------------------------------------------- set-up

def gtzan_clips(per_genre: int | None) -> list[Path]:
    genres = sorted(d for d in (DATA / "gtzan_mini").iterdir() if d.is_dir())
    return [f for g in genres for f in sorted(g.glob("*.flac"))[:per_genre]]


def as_wav(files: list[Path], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    out = []
    for f in files:
        y, sr = sf.read(f, dtype="int16")
        target = folder / (f.stem + ".wav")
        sf.write(target, y, sr, subtype="PCM_16")
        out.append(target)
    return out


def peer_python() -> Path:
    py = PEER_VENV / "bin" / "python"
    ok = py.exists() and subprocess.run([str(py), "-c", "from pyAudioAnalysis import audioTrainTest"],
                                        capture_output=True).returncode == 0
    if not ok:
        log(f"making the peer's venv in {PEER_VENV} (pip install {' '.join(PEER_PACKAGES)})")
        subprocess.run([sys.executable, "-m", "venv", str(PEER_VENV)], check=True)
        subprocess.run([str(py), "-m", "pip", "install", "-q", *PEER_PACKAGES], check=True)
    return py


def soundsort_cmd(*args: str) -> str:
    return shlex.join([sys.executable, "-m", "soundsort", "classify", *args])


def hyperfine(commands: dict[str, str], runs: int, tmp: Path, warmup: int = 1) -> dict[str, dict]:
    """Median / min / max wall seconds of each command (hyperfine, output discarded).

    Paired: ``runs`` rounds, each running every command once (after ``warmup`` rounds that are not
    counted), so that a change of load on a shared machine hits all commands alike.
    """
    out = tmp / "hyperfine.json"
    times: dict[str, list[float]] = {k: [] for k in commands}
    for r in range(warmup + runs):
        args = ["hyperfine", "--runs", "1", "--export-json", str(out), "--style", "basic"]
        for name, cmd in commands.items():
            args += ["--command-name", name, cmd]
        subprocess.run(args, check=True, stdout=sys.stderr, cwd=tmp)
        if r >= warmup:
            for res in json.loads(out.read_text())["results"]:
                times[res["command"]] += res["times"]
    return {k: {"median": float(np.median(v)), "min": min(v), "max": max(v)} for k, v in times.items()}


def wait_quiet(limit: float, most: float) -> str:
    """Wait (at most ``most`` seconds) for the 1-minute load average to fall under ``limit``; the load then."""
    t0 = time.monotonic()
    while os.getloadavg()[0] >= limit and time.monotonic() - t0 < most:
        time.sleep(5)
    waited = time.monotonic() - t0
    if waited > 5:
        log(f"waited {waited:.0f} s for a load under {limit}: {load_line()}")
    return load_line()


def peak_rss_mib(cmd: str, repeat: int = 3) -> float:
    """Largest peak resident set of ``cmd`` (and of any process it waited for) over ``repeat`` runs."""
    best = 0.0
    for _ in range(repeat):
        code = (f"import resource, subprocess, sys; subprocess.run({shlex.split(cmd)!r}, stdout=subprocess.DEVNULL, "
                "check=True); print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)")
        kib = int(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
        best = max(best, kib / 1024)
    return best


# ----------------------------------------------------------------------------------------------- parts

def one_file(tmp: Path, runs: int) -> list[str]:
    src = gtzan_clips(1)[0]
    y, sr = sf.read(src, dtype="int16")
    wav = tmp / "two_second.wav"
    sf.write(wav, y[10 * sr: 12 * sr], sr, subtype="PCM_16")
    cmds = {"soundsort classify two_second.wav": soundsort_cmd(str(wav)),
            "soundsort classify two_second.wav --no-genre": soundsort_cmd(str(wav), "--no-genre")}
    before = QUIET()
    t = hyperfine(cmds, runs, tmp)
    rss = {k: peak_rss_mib(c) for k, c in cmds.items()}
    lines = [f"One 2 s WAV (seconds 10-12 of {src.name}, 22.05 kHz; music, so the genre path runs), {runs} paired "
             f"runs; load average (1 / 5 / 15 min) before: {before}, after: {load_line()}.", "",
             "| command | median s | min – max s | peak RSS | target |", "|---|---:|---:|---:|---|"]
    for k in cmds:
        lines.append(f"| `{k}` | {t[k]['median']:.2f} | {t[k]['min']:.2f} – {t[k]['max']:.2f} | {rss[k]:.0f} MiB | "
                     f"≤ 1.0 s, ≤ 250 MiB: {'met' if t[k]['median'] <= 1.0 and rss[k] <= 250 else 'not met'} |")
    return lines


def small_batch(tmp: Path, runs: int) -> list[str]:
    wavs = as_wav(gtzan_clips(2), tmp / "small")
    lst = tmp / "small.txt"
    lst.write_text("\n".join(map(str, wavs)) + "\n")
    script = tmp / "peer.py"
    script.write_text(PEER_SCRIPT)
    py = peer_python()
    check = subprocess.run([str(py), str(script), str(lst)], capture_output=True, text=True)
    if check.returncode != 0:
        raise SystemExit(f"the peer failed: {check.stderr[-2000:]}")
    peer_music = sum(line.split()[1] == "music" for line in check.stdout.splitlines())
    files = " ".join(shlex.quote(str(w)) for w in wavs)
    cmds = {"pyAudioAnalysis svm_rbf_sm (loop, one process)": shlex.join([str(py), str(script), str(lst)]),
            "soundsort classify --no-genre": f"{sys.executable} -m soundsort classify {files} --no-genre -f jsonl",
            "soundsort classify (music + genre)": f"{sys.executable} -m soundsort classify {files} -f jsonl"}
    before = QUIET()
    t = hyperfine(cmds, runs, tmp)
    peer = t["pyAudioAnalysis svm_rbf_sm (loop, one process)"]["median"]
    audio = sum(sf.info(w).duration for w in wavs)
    lines = [f"{len(wavs)} clips of 30 s ({audio:.0f} s; 16-bit WAV copies of the first two of every gtzan_mini genre), "
             f"{runs} paired rounds (each runs the three commands once); load average before: {before}, after: "
             f"{load_line()}. The peer calls {peer_music} of {len(wavs)} clips music.", "",
             "| command | median s | min – max s | × real time | peer's time / this |", "|---|---:|---:|---:|---:|"]
    for k in cmds:
        lines.append(f"| {k} | {t[k]['median']:.2f} | {t[k]['min']:.2f} – {t[k]['max']:.2f} | "
                     f"{audio / t[k]['median']:.0f} | {peer / t[k]['median']:.2f} |")
    tl = peer / t["soundsort classify --no-genre"]["median"]
    gn = peer / t["soundsort classify (music + genre)"]["median"]
    lines += ["", f"Targets: timeline only ≥ 3× faster than the peer: {tl:.2f}× ({'met' if tl >= 3 else 'not met'}); "
              f"music + genre ≥ 1.5× faster than the peer's timeline-only run: {gn:.2f}× "
              f"({'met' if gn >= 1.5 else 'not met'})."]
    return lines


def big_batch(tmp: Path, runs: int) -> list[str]:
    files = gtzan_clips(None)
    audio = sum(sf.info(f).duration for f in files)
    folder = DATA / "gtzan_mini"
    cmds = {"soundsort classify gtzan_mini --no-genre": soundsort_cmd(str(folder), "--no-genre", "-f", "jsonl"),
            "soundsort classify gtzan_mini (music + genre)": soundsort_cmd(str(folder), "-f", "jsonl")}
    before = QUIET()
    t = hyperfine(cmds, runs, tmp, warmup=0)
    lines = [f"gtzan_mini, {len(files)} clips, {audio:.0f} s of 22.05 kHz FLAC, default jobs ({os.cpu_count()} processes), "
             f"{runs} paired rounds; load average before: {before}, after: {load_line()}.", "",
             "| command | median s | min – max s | × real time (median) | target |", "|---|---:|---:|---:|---|"]
    for k, target in zip(cmds, (1200, 400)):
        rate = audio / t[k]["median"]
        lines.append(f"| `{k}` | {t[k]['median']:.2f} | {t[k]['min']:.2f} – {t[k]['max']:.2f} | {rate:,.0f} | "
                     f"≥ {target:,}×: {'met' if rate >= target else 'not met'} |")
    return lines


def early_stop() -> list[str]:
    from threadpoolctl import threadpool_limits

    from soundsort.inference.classify import ClassifyConfig, Classifier

    threadpool_limits(1)
    QUIET()
    sets = {"gtzan_mini (the genre model's training clips)": gtzan_clips(None),
            "GTZAN music/speech, music (unseen)": sorted((DATA / "gtzan_music_speech" / "music").glob("*"))}
    every = Classifier(config=ClassifyConfig(genre_stop_margin=None), threads=1)
    early = Classifier(threads=1)
    lines = ["| files | music files | top genre same | top-3 set same | top genre's probability: mean / 95th pct / max "
             "\\|Δ\\| | any reported probability: max \\|Δ\\| | genre windows per file: every / early | classify, "
             "s per file (the whole file): every / early |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
    for name, files in sets.items():
        same = same3 = n = 0
        d_top, d_any, w_all, w_early, t_all, t_early = [], [], [], [], 0.0, 0.0
        for f in files:
            t0 = time.perf_counter()
            a = every.classify_file(f)
            t1 = time.perf_counter()
            b = early.classify_file(f)
            t2 = time.perf_counter()
            if not a.genre:
                continue
            n += 1
            t_all += t1 - t0
            t_early += t2 - t1
            pa = {g["label"]: g["probability"] for g in a.genre}
            pb = {g["label"]: g["probability"] for g in b.genre}
            same += a.genre[0]["label"] == b.genre[0]["label"]
            same3 += set(pa) == set(pb)
            d_top.append(abs(pa[a.genre[0]["label"]] - pb.get(a.genre[0]["label"], 0.0)))
            d_any.append(max(abs(pa.get(k, 0.0) - pb.get(k, 0.0)) for k in set(pa) | set(pb)))
            w_all.append(a.genre_windows)
            w_early.append(b.genre_windows)
        d = np.array(d_top)
        lines.append(f"| {name} | {n} | {same}/{n} | {same3}/{n} | {d.mean():.3f} / {np.percentile(d, 95):.3f} / "
                     f"{d.max():.3f} | {max(d_any):.3f} | {np.mean(w_all):.2f} / {np.mean(w_early):.2f} | "
                     f"{t_all / n:.3f} / {t_early / n:.3f} |")
        log(f"early stop, {name}: {same}/{n} same top genre")
    return lines


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=5)
    ap.add_argument("--skip", default="", help="comma list of parts to skip: one,small,big,early")
    ap.add_argument("--quiet-load", type=float, default=0.0,
                    help="before each part, wait (up to --quiet-wait s) for a 1-minute load average under this")
    ap.add_argument("--quiet-wait", type=float, default=600.0)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    if not DATA.is_dir():
        log(f"shared data not found at {DATA}: nothing to benchmark")
        return
    if shutil.which("hyperfine") is None:
        raise SystemExit("hyperfine is needed (apt-get install hyperfine)")
    skip = set(filter(None, args.skip.split(",")))
    global QUIET
    QUIET = load_line
    if args.quiet_load > 0:
        QUIET = lambda: wait_quiet(args.quiet_load, args.quiet_wait)  # noqa: E731
    command = (f"python benchmarks/bench_startup.py --runs {args.runs}" + (f" --skip {args.skip}" if args.skip else "")
               + (f" --quiet-load {args.quiet_load:g}" if args.quiet_load > 0 else ""))
    doc = [f"### Whole processes from the first file ({dt.date.today().isoformat()})", "",
           f"Command: `{command}`; machine: {machine()}; hyperfine {_hyperfine_version()}.", ""]
    with tempfile.TemporaryDirectory(prefix="soundsort-startup-") as tmp_name:
        tmp = Path(tmp_name)
        if "one" not in skip:
            doc += ["**One file**:", ""] + one_file(tmp, args.runs) + [""]
        if "small" not in skip:
            doc += ["**A small batch, beside the peer**:", ""] + small_batch(tmp, args.runs) + [""]
        if "big" not in skip:
            doc += ["**A big batch**:", ""] + big_batch(tmp, max(1, min(args.runs, 3))) + [""]
    if "early" not in skip:
        doc += ["**The genre early stop against every window** (records of the same files, in one process):", ""]
        doc += early_stop() + [""]
    emit(doc, args.out)


def _hyperfine_version() -> str:
    return subprocess.run(["hyperfine", "--version"], capture_output=True, text=True).stdout.split()[-1]


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    main()
