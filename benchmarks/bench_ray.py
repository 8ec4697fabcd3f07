"""Ray engine throughput (issue 14): local ``classify -j 2`` vs ``--engine ray`` with 1 and 2 actors on the same
files, and the numbers a cluster plan needs (rate per actor, memory per actor, scaling from 1 to 2 actors).

    python benchmarks/bench_ray.py [--files 200] [--out BENCHMARKS.md]

Each mode runs once (local twice: first and last, the mean is the reference, their spread shows the machine's
drift), after one untimed read of every file (page cache), in this process, through the public APIs the CLI calls
(:func:`soundsort.inference.batch.run_batch` with 2 jobs; :func:`soundsort.distributed.classify`, which starts
a local Ray of 2 CPUs and stops it after, as ``soundsort classify --engine ray`` does). "total" is the wall time
from the call to the last record (Ray's start, the actors' model loads included); "steady" the rate between the
first and the last record (for Ray an overstatement: an actor hands back a whole block of files at once). Actor memory is sampled from /proc every 0.2 s (resident set and proportional set:
the actors share the read-only pages of the libraries). The machine's load average is printed before and after:
on a shared machine the figures are only as good as the quiet they were measured in.
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import DATA, emit, machine  # noqa: E402


def files(n: int) -> list[str]:
    """The first ``n`` 30 s clips: GTZAN music/speech, then GTZAN genres (sorted)."""
    found = sorted(str(p) for p in (DATA / "gtzan_music_speech").rglob("*.flac"))
    found += sorted(str(p) for p in (DATA / "gtzan_mini").rglob("*.flac"))
    if len(found) < n:
        raise SystemExit(f"need {n} files under {DATA}, found {len(found)}")
    return found[:n]


_TICK = os.sysconf("SC_CLK_TCK")


class ProcessSampler:
    """Every 0.2 s, the processes under this one: peak resident / proportional set size (MiB) of the classify
    actors, and the CPU seconds (user + system) each process had used when last seen, actors apart.

    CPU seconds per file do not depend on how busy the machine is (wall time does): on a shared machine they
    are the figure a cluster plan can rest on.
    """

    def __init__(self) -> None:
        self.rss = 0.0
        self.pss = 0.0
        self.cpu: dict[int, float] = {}
        self.actors: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def actor_cpu(self) -> float:
        return sum(v for p, v in self.cpu.items() if p in self.actors)

    def other_cpu(self) -> float:
        return sum(v for p, v in self.cpu.items() if p not in self.actors)

    def _run(self) -> None:
        while not self._stop.is_set():
            for pid in _descendants(os.getpid()):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    self.cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
                    if b"MapBatches(ClassifyActor)" not in Path(f"/proc/{pid}/cmdline").read_bytes():
                        continue
                    self.actors.add(pid)
                    status = Path(f"/proc/{pid}/status").read_text()
                    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                    pss = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")))
                except (OSError, StopIteration, ValueError, IndexError):
                    continue
                self.rss = max(self.rss, rss / 1024)
                self.pss = max(self.pss, pss / 1024)
            time.sleep(0.2)


def _descendants(pid: int) -> set[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                ppid = int(Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
            children.setdefault(ppid, []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def run_local(paths: list[str]) -> dict:
    from soundsort.cli.classify import classifier_factory
    from soundsort.inference.batch import run_batch

    stamps: list[float] = []
    with ProcessSampler() as procs:
        own = time.process_time()
        t0 = time.perf_counter()
        ok, failed = run_batch(paths, classifier_factory(None, None, True, 2.0, 3, 1), jobs=2,
                               on_result=lambda r: stamps.append(time.perf_counter()))
        own = time.process_time() - own
    res = _timing("local classify -j 2", t0, stamps, ok, failed)
    res.update(cpu=own + procs.other_cpu())  # this process and its worker processes
    return res


def run_ray(paths: list[str], actors: int) -> dict:
    from soundsort.distributed import RayConfig, classify

    out = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    stamps: list[float] = []
    try:
        with ProcessSampler() as procs:
            own = time.process_time()
            t0 = time.perf_counter()
            s = classify(paths, out / "out", ray_config=RayConfig(num_actors=actors, num_cpus=2),
                         on_result=lambda r: stamps.append(time.perf_counter()))
            own = time.process_time() - own
        res = _timing(f"ray, {actors} actor{'s' if actors > 1 else ''}", t0, stamps, s.ok, s.failed)
        # actors; everything else: this driver, Ray's own processes (GCS, raylet, agents), the attempt ledger and Ray Data's helper actors
        res.update(rss=procs.rss, pss=procs.pss, processes=len(procs.actors), cpu=procs.actor_cpu(),
                   overhead_cpu=own + procs.other_cpu())
        return res
    finally:
        shutil.rmtree(out, ignore_errors=True)


def _timing(name: str, t0: float, stamps: list[float], ok: int, failed: int) -> dict:
    total = stamps[-1] - t0
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return {"name": name, "total": total, "first": stamps[0] - t0, "steady": steady, "ok": ok, "failed": failed,
            "n": len(stamps)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    paths = files(args.files)
    seconds = 30.0 * len(paths)
    for p in paths:  # the page cache holds every file before anything is timed
        Path(p).read_bytes()
    load_before = os.getloadavg()
    results = [run_local(paths), run_ray(paths, 1), run_ray(paths, 2), run_local(paths)]
    load_after = os.getloadavg()
    results[0]["name"] += " (first)"
    results[-1]["name"] += " (last)"
    local = {"total": (results[0]["total"] + results[-1]["total"]) / 2,
             "steady": (results[0]["steady"] + results[-1]["steady"]) / 2, "n": results[0]["n"]}
    doc = [f"### Ray engine: {len(paths)} files of 30 s ({seconds / 3600:.2f} h of audio)", "",
           f"Machine: {machine()}; Ray {_ray_version()}. Load average (1/5/15 min) before "
           f"{'/'.join(f'{x:.1f}' for x in load_before)}, after {'/'.join(f'{x:.1f}' for x in load_after)}.", "",
           "| run | total s | first record s | files/s (total) | files/s (steady) | vs local mean (total) | "
           "vs local mean (steady) | CPU s per file (workers / actors) | other CPU s per file | actor RSS / PSS MiB |",
           "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in results:
        rate = r["n"] / r["total"]
        mem = f"{r['rss']:.0f} / {r['pss']:.0f}" if "rss" in r else "–"
        other = f"{r['overhead_cpu'] / r['n']:.3f}" if "overhead_cpu" in r else "–"
        doc.append(f"| {r['name']} | {r['total']:.1f} | {r['first']:.1f} | {rate:.2f} | {r['steady']:.2f} | "
                   f"{100 * rate / (local['n'] / local['total']):.0f} % | {100 * r['steady'] / local['steady']:.0f} % | "
                   f"{r['cpu'] / r['n']:.3f} | {other} | {mem} |")
    one, two = results[1], results[2]
    assert all(r["ok"] + r["failed"] == len(paths) for r in results)
    cpu_file = two["cpu"] / two["n"]  # an actor's CPU seconds per 30 s file
    per_core = 1 / cpu_file  # files per second an actor does on a core of its own
    local_cpu = (results[0]["cpu"] + results[-1]["cpu"]) / 2 / len(paths)
    mem = max(one.get("rss", 0), two.get("rss", 0))
    doc += ["", f"An actor spends {cpu_file:.3f} CPU s per 30 s file (the local processes {local_cpu:.3f}): on a core "
            f"of its own {per_core:.2f} files/s, {per_core * 30:.0f}x real time. Ray's own processes, the driver, the "
            f"ledger and Ray Data's helper actors add {two['overhead_cpu'] / two['n']:.3f} CPU s per file here. Peak actor memory {mem:.0f} MiB "
            "resident.", "",
            "Hours for 1,000,000 tracks of 30 s with one actor per core, from the CPU seconds per file above "
            "(wall = CPU: an actor on a core of its own), less one core per node for Ray and the driver:", "",
            "| nodes × cores | actors | actor memory a node | hours |", "| --- | ---: | ---: | ---: |"]
    for nodes, cores in ((1, 16), (10, 16), (50, 16), (100, 32)):
        actors = nodes * (cores - 1)
        hours = 1_000_000 * cpu_file / actors / 3600
        doc.append(f"| {nodes} × {cores} | {actors} | {(cores - 1) * mem / 1024:.1f} GiB | {hours:.2f} |")
    doc.append("")
    emit(doc, args.out)


def _ray_version() -> str:
    import ray

    return ray.__version__


if __name__ == "__main__":
    main()
