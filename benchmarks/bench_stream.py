"""``soundsort stream``: decision latency, CPU while following a real-time stream, and a long soak run.

1. **Latency** — a broadcast-like recording of real clips (../shared/data: GTZAN music of every genre, GTZAN
   radio speech, Speech Commands noise, ESC-10 sounds; 12-25 s parts, alternating music / non-music, 50 ms
   fades) is fed through the live classifier in 0.1 s blocks at ``--latency`` 1, 2 and 4 s. For every true
   change, the delay from the change to the ``segment_start`` event of the new label (seconds of audio: the
   position when it was emitted minus the true boundary; found when its start lies within 3 s of the change),
   p50 / p95, and how many changes got one; plus the compute time of one block (wall, p95), which a live
   source adds on top.
2. **CPU** — ``soundsort stream FILE --realtime`` (a whole process, paced like a live source) over
   ``--cpu-seconds`` of that recording, with and without genre: CPU time (user + system of the process, from
   ``wait4``, not wall) less a start-up run's (the same command on a 1 s file), as % of one core.
3. **Soak** — ``--soak-hours`` of audio (the recording looped) fed faster than real time: resident memory
   each minute of audio (max over the first hour vs the last hour), and every event checked: segments tile the
   stream with no gap, each start has its end, and every loop of the recording gives the same segments.

Usage:  python benchmarks/bench_stream.py [--parts 40] [--cpu-seconds 120] [--soak-hours 24] [--soak-step 0.48]
                                          [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import soundfile as sf

from common import DATA, REPO, emit, machine

SR = 22050


def broadcast(parts: int, seed: int = 0) -> tuple[np.ndarray, list[tuple[float, float, str]]]:
    """Alternating music / non-music parts of real clips; ``(y, [(start, end, label)])``."""
    from soundsort.audio.decode import load

    rng = np.random.default_rng(seed)
    music = sorted((DATA / "gtzan_mini").glob("*/*.flac"))
    speech = sorted((DATA / "gtzan_music_speech" / "speech").glob("*"))
    noise = sorted((DATA / "speech_commands_noise").glob("*/*")) + sorted((DATA / "esc10").glob("*/*"))
    if not music or not speech or not noise:
        sys.exit(f"bench_stream needs the shared data at {DATA}")
    fade = int(0.05 * SR)
    ramp = np.linspace(0, 1, fade, dtype=np.float32)
    ys, truth, t = [], [], 0.0
    for i in range(parts):
        label = "music" if i % 2 else "non-music"
        want = rng.uniform(12, 25)
        if label == "music":
            pool = [music[rng.integers(len(music))]]
        elif rng.random() < 0.5:
            pool = [speech[rng.integers(len(speech))]]
        else:  # noise / environmental sounds, several clips back to back
            pool = [noise[k] for k in rng.integers(len(noise), size=6)]
        y = np.concatenate([load(p, SR)[0] for p in pool])[: int(want * SR)]
        y = y.copy()
        y[:fade] *= ramp
        y[-fade:] *= ramp[::-1]
        ys.append(y)
        truth.append((t, t + len(y) / SR, label))
        t += len(y) / SR
    y = np.concatenate(ys)
    y = y[: len(y) - len(y) % int(0.48 * SR)]  # whole 0.48 s hops: every loop of the soak sees the same frames
    truth[-1] = (truth[-1][0], len(y) / SR, truth[-1][2])
    return y, truth


def pct(x: list[float], q: float) -> float:
    return float(np.percentile(x, q)) if x else float("nan")


def latency_part(clf, y: np.ndarray, truth: list, latencies: list[float]) -> list[str]:
    from soundsort.inference.online import LiveClassifier

    rows = ["| --latency | changes with an event | delay p50 | delay p95 | max | boundary error p50 | block "
            "compute p95 |", "| ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    changes = [(a, lab) for (a, _, lab), (_, _, prev) in zip(truth[1:], truth[:-1]) if lab != prev]
    block = int(0.1 * SR)
    for lat in latencies:
        live = LiveClassifier(clf, SR, latency=lat, heartbeat_seconds=None)
        starts, compute = [], []
        for i in range(0, len(y), block):
            t = time.perf_counter()
            evs = live.feed(y[i:i + block])
            compute.append(time.perf_counter() - t)
            starts += [e for e in evs if e["event"] == "segment_start"]
        starts += [e for e in live.finish() if e["event"] == "segment_start"]
        delays, errors = [], []
        for b, lab in changes:
            hit = [e for e in starts if e["label"] == lab and abs(e["start"] - b) <= 3.0]
            if hit:
                delays.append(hit[0]["position"] - b)
                errors.append(abs(hit[0]["start"] - b))
        rows.append(f"| {lat:g} s | {len(delays)} / {len(changes)} | {pct(delays, 50):.2f} s | "
                    f"{pct(delays, 95):.2f} s | {max(delays):.2f} s | {pct(errors, 50):.2f} s | "
                    f"{pct(compute, 95) * 1000:.1f} ms |")
    return rows


def cpu_of(args: list[str]) -> tuple[float, float]:
    """(CPU seconds user + system, wall seconds) of one whole process."""
    t = time.perf_counter()
    proc = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=REPO)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - t
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"{' '.join(args)} failed: {proc.stderr.read().decode()[-500:]}")
    return usage.ru_utime + usage.ru_stime, wall


def cpu_part(y: np.ndarray, seconds: float, tmp: Path) -> list[str]:
    path, one = tmp / "cpu.wav", tmp / "one.wav"
    sf.write(path, y[: int(seconds * SR)], SR, subtype="PCM_16")
    sf.write(one, y[:SR], SR, subtype="PCM_16")
    base = [sys.executable, "-m", "soundsort", "stream", "--realtime", "--heartbeat", "0"]
    rows = ["| genre | audio | wall | CPU (process) | start-up CPU (1 s file) | CPU % of one core | target |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for genre, target in ((False, 5), (True, 15)):
        flag = "--genre" if genre else "--no-genre"
        start, _ = cpu_of([*base, str(one), flag])
        cpu, wall = cpu_of([*base, str(path), flag])
        share = 100 * (cpu - start) / seconds
        rows.append(f"| {'on' if genre else 'off'} | {seconds:.0f} s | {wall:.0f} s | {cpu:.2f} s | {start:.2f} s | "
                    f"{share:.2f} % | < {target} % ({'met' if share < target else 'not met'}) |")
    return rows


def rss_mib() -> float:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


def soak_part(clf, y: np.ndarray, hours: float, step: float | None) -> list[str]:
    """Events are checked as they come and not kept (the run's memory is the live classifier's)."""
    from soundsort.inference.online import LiveClassifier

    live = LiveClassifier(clf, SR, step_seconds=step)
    loop = len(y) / SR
    total = hours * 3600
    block = SR  # 1 s blocks
    hourly: dict[int, float] = {}
    check = {"expect": "segment_start", "last_end": 0.0, "segments": 0, "bad": 0, "genre": 0}
    loops: dict[int, list[tuple[str, float]]] = {}
    ref: list[tuple[str, float]] | None = None
    same, compared = True, 0

    def take(events: list[dict]) -> None:
        nonlocal ref, same, compared
        for e in events:
            kind = e["event"]
            if kind == "genre":
                check["genre"] += 1
                continue
            if kind == "heartbeat":
                continue
            if kind != check["expect"]:
                check["bad"] += 1
            check["expect"] = "segment_end" if kind == "segment_start" else "segment_start"
            if kind == "segment_end":
                check["bad"] += abs(e["start"] - check["last_end"]) > 1e-6
                check["last_end"] = e["end"]
                check["segments"] += 1
                k = int(e["start"] // loop)
                loops.setdefault(k, []).append((e["label"], round(e["start"] - k * loop, 2)))
                for done in [j for j in loops if j < k]:  # loop `done` is complete: compare it, forget it
                    segs = loops.pop(done)
                    if done == 1:
                        ref = segs
                    elif done > 1 and ref is not None:
                        same &= segs == ref
                        compared += 1

    fed = 0
    t0, c0 = time.perf_counter(), time.process_time()
    while fed < total * SR:
        i = fed % len(y)
        n = min(block, len(y) - i, int(total * SR) - fed)
        take(live.feed(y[i:i + n]))
        fed += n
        if fed % (60 * SR) < n:
            hour = int((fed - 1) / SR // 3600)
            hourly[hour] = max(hourly.get(hour, 0.0), rss_mib())
    take(live.finish())
    wall, cpu = time.perf_counter() - t0, time.process_time() - c0
    tiled = check["bad"] == 0 and abs(check["last_end"] - total) < 1e-3 and check["expect"] == "segment_start"
    first, last = hourly[min(hourly)], hourly[max(hourly)]
    hwm = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return [
        f"{hours:g} h of audio ({total / loop:.0f} loops of a {loop / 60:.1f}-minute recording) in {wall / 60:.1f} "
        f"min wall, {cpu / 60:.1f} min CPU ({total / wall:.0f}x real time), step "
        f"{step or clf.music_feat.hop_seconds:g} s, genre on; events checked as they came, none kept:",
        "",
        "| resident memory, first hour (max) | last hour (max) | growth | process peak (ru_maxrss) | segments | "
        "genre updates | every start has its end, segments tile the stream | every loop the same segments |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |",
        f"| {first:.0f} MiB | {last:.0f} MiB | {last - first:+.1f} MiB | {hwm:.0f} MiB | {check['segments']} | "
        f"{check['genre']} | {'yes' if tiled else 'NO'} | {'yes' if same and compared else 'NO'} ({compared} loops "
        f"against loop 2, {len(ref or [])} segments each) |",
        "",
        "Resident memory, max of each hour (MiB): " + ", ".join(f"{hourly[h]:.0f}" for h in sorted(hourly)) + ".",
    ]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--parts", type=int, default=40)
    ap.add_argument("--latencies", default="1,2,4")
    ap.add_argument("--cpu-seconds", type=float, default=120.0)
    ap.add_argument("--soak-hours", type=float, default=24.0)
    ap.add_argument("--soak-step", type=float, default=None, help="scorer step for the soak (default: one hop)")
    ap.add_argument("--skip", default="", help="comma-separated parts to skip: latency,cpu,soak")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    skip = set(filter(None, args.skip.split(",")))
    from soundsort.inference.classify import Classifier

    clf = Classifier(threads=1)
    y, truth = broadcast(args.parts)
    load = os.getloadavg()
    doc = [f"### stream ({dt.date.today().isoformat()})", "", f"Machine: {machine()}; load average at the start "
           f"{load[0]:.1f} (shared with other jobs).", "",
           f"Recording: {len(truth)} parts, {len(y) / SR / 60:.1f} min, {len(truth) - 1} changes.", ""]
    if "latency" not in skip:
        doc += ["Decision delay (seconds of audio from a true change to its segment_start event):", "",
                *latency_part(clf, y, truth, [float(v) for v in args.latencies.split(",")]), ""]
    if "cpu" not in skip:
        with tempfile.TemporaryDirectory() as tmp:
            doc += ["CPU while following one real-time stream (`soundsort stream FILE --realtime`, whole "
                    "process):", "", *cpu_part(y, args.cpu_seconds, Path(tmp)), ""]
    if "soak" not in skip:
        doc += ["Soak (fed faster than real time, in one process):", "",
                *soak_part(clf, y, args.soak_hours, args.soak_step), ""]
    doc.append(f"Load average at the end {os.getloadavg()[0]:.1f}.")
    emit(doc, args.out)


if __name__ == "__main__":
    main()
