"""Ray engine throughput (issue 14): local ``classify -j 2`` vs ``--engine ray`` with 1 and 2 actors on the same
files, and the numbers a cluster plan needs (rate per actor, memory per actor, scaling from 1 to 2 actors).

    python benchmarks/bench_ray.py [--files 200] [--out BENCHMARKS.md] [--modes command,cluster]

Two ways to meet Ray, each beside the local ``classify -j 2`` on the same files:

* **command** (in this process, through the public APIs the CLI calls): :func:`soundsort.inference.batch.run_batch`
  with 2 jobs vs :func:`soundsort.distributed.classify`, which starts a local Ray of 2 CPUs and stops it after, as
  ``soundsort classify --engine ray`` without ``--address`` does: "total" includes Ray's start.
* **cluster** (whole ``soundsort classify`` processes, as a user runs them): a local Ray is started once
  (``ray start --head --num-cpus 2 --block``, loopback only, ports of its own; stopped at the end by ending the
  processes it started, never ``ray stop``, which would end every Ray on the machine), one untimed warm-up job
  runs on it (Ray Data's helper actors are detached: created by a cluster's first job and kept), then
  ``soundsort classify FILES --engine ray --address 127.0.0.1:PORT`` is timed from its start to its exit, beside
  ``soundsort classify FILES -j 2 -o OUT.jsonl`` timed the same way.

Each run once, local ones first and last (the mean is the reference, their spread shows the machine's drift), after
one untimed read of every file (page cache). "total" is the wall time to the last record (a whole process's: to its
exit); "steady" the rate between the first and the last record (in-process runs only; for Ray an overstatement: an
actor hands back a whole block of files at once). CPU seconds per process are sampled from /proc every 0.2 s
(a process living through a run counts by its difference); actor memory likewise (resident set and proportional
set: the actors share the read-only pages of the libraries). The machine's load average is printed before and
after: on a shared machine the figures are only as good as the quiet they were measured in.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import secrets
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
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
        #: CPU seconds of the processes alive when the run started (a cluster's): only the difference counts
        self.baseline: dict[int, float] = {}
        #: a process started after the sampler (a timed command): its tree's CPU is :meth:`job_cpu`
        self.root: int | None = None
        self.names: dict[int, str] = {}
        self.nice: set[int] = set()  # the actors' niceness
        self.job: set[int] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def __enter__(self) -> ProcessSampler:
        for pid in _descendants(os.getpid()):
            cpu = _cpu_of(pid)
            if cpu is not None:
                self.baseline[pid] = cpu
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join()

    def actor_cpu(self) -> float:
        return sum(v - self.baseline.get(p, 0.0) for p, v in self.cpu.items() if p in self.actors)

    def other_cpu(self, without: set[int] = frozenset()) -> float:
        return sum(v - self.baseline.get(p, 0.0) for p, v in self.cpu.items()
                   if p not in self.actors and p not in without)

    def by_name(self) -> dict[str, float]:
        """CPU seconds of the processes that are not actors, by what they are (the driver: ``soundsort``)."""
        out: dict[str, float] = {}
        for p, v in self.cpu.items():
            if p not in self.actors:
                name = "soundsort (driver)" if p in self.job else self.names.get(p, "?")
                out[name] = out.get(name, 0.0) + v - self.baseline.get(p, 0.0)
        return dict(sorted(out.items(), key=lambda kv: -kv[1]))

    def job_cpu(self) -> float:
        """CPU seconds of the process tree of :attr:`root` (the command timed), every process it started."""
        return sum(v - self.baseline.get(p, 0.0) for p, v in self.cpu.items() if p in self.job)

    def _run(self) -> None:
        while not self._stop.is_set():
            if self.root is not None:
                self.job |= _descendants(self.root) | {self.root}
                for pid in list(self.job):  # a child the command left (reparented here) stays its own
                    self.job |= _descendants(pid)
            for pid in _descendants(os.getpid()):
                try:
                    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                    self.cpu[pid] = (int(fields[11]) + int(fields[12])) / _TICK
                    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes()
                    self.names[pid] = _process_name(cmdline, self.names.get(pid))
                    if b"MapBatches(ClassifyActor)" not in cmdline:
                        continue
                    self.actors.add(pid)
                    self.nice.add(int(fields[16]))
                    status = Path(f"/proc/{pid}/status").read_text()
                    rss = int(next(line.split()[1] for line in status.splitlines() if line.startswith("VmRSS")))
                    rollup = Path(f"/proc/{pid}/smaps_rollup").read_text()
                    pss = int(next(line.split()[1] for line in rollup.splitlines() if line.startswith("Pss:")))
                except (OSError, StopIteration, ValueError, IndexError):
                    continue
                self.rss = max(self.rss, rss / 1024)
                self.pss = max(self.pss, pss / 1024)
            time.sleep(0.2)


def _process_name(cmdline: bytes, before: str | None) -> str:
    """What a process is, from its command line: Ray's worker titles (``ray::NAME``), else the program or
    script (a Ray worker keeps the name it had while it had a task: an actor's title is its class)."""
    args = [a.decode(errors="replace") for a in cmdline.split(b"\0") if a]
    if not args:
        return before or "?"
    if args[0].startswith("ray::"):
        name = args[0].split()[0]
        return before if name == "ray::IDLE" and before and before != "ray::IDLE" else name
    prog = Path(args[0]).name
    if prog.startswith("python") and len(args) > 1:
        rest = args[1:]
        if rest[0] == "-m" and len(rest) > 1:
            return rest[1]
        return Path(next((a for a in rest if not a.startswith("-")), rest[0])).name
    return prog


def _cpu_of(pid: int) -> float | None:
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / _TICK
    except (OSError, ValueError, IndexError):
        return None


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
                   overhead_cpu=own + procs.other_cpu(), nice=sorted(procs.nice))
        return res
    finally:
        shutil.rmtree(out, ignore_errors=True)


#: Read when ray is imported: on Linux Ray binds the default route's address even when told 127.0.0.1; with
#: this a local cluster is loopback only (as the tests' clusters, tests/test_distributed.py)
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
#: The bench's cluster uses Ray's token authentication with a token of its own (given to ``ray start`` and to
#: every command: a driver that names the cluster's address sends a token only when RAY_AUTH_MODE=token)
CLUSTER_ENV = {**LOOPBACK_ENV, "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN": secrets.token_hex(32)}
#: Ray runs its workers at nice 15 by default: on a node of its own nothing competes, but on this shared machine
#: every other session's process (nice 0) would take the actors' cores first, and the local classify's processes
#: run at nice 0. The bench's cluster runs its workers at nice 0 too (as a local Ray started by the command does)
CLUSTER_NICENESS = {"RAY_worker_niceness": "0"}
_PR_SET_CHILD_SUBREAPER = 36


def _free_ports(n: int) -> list[int]:
    socks = []
    try:
        for _ in range(n):
            s = socket.socket()
            s.bind(("127.0.0.1", 0))
            socks.append(s)
        return [s.getsockname()[1] for s in socks]
    finally:
        for s in socks:
            s.close()


def _subreaper(on: bool) -> None:
    """Processes orphaned under this one (Ray's daemons, a command's left children) stay its descendants."""
    import ctypes

    ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_CHILD_SUBREAPER, int(on), 0, 0, 0)


class RayCluster:
    """A local Ray of ``num_cpus`` CPUs started once (``ray start --head --block``), as a cluster that is up
    before any job: loopback only, ports of its own, its own temporary folder; ended by ending the processes
    it started (``ray stop`` would end every Ray on this machine)."""

    def __init__(self, num_cpus: int = 2) -> None:
        self.num_cpus = num_cpus
        self.address = ""
        self.proc: subprocess.Popen | None = None

    def __enter__(self) -> RayCluster:
        self.before = _descendants(os.getpid())  # this process's own children (a fork server): not the cluster's
        _subreaper(True)
        self.root = Path(tempfile.mkdtemp(prefix="bray-", dir="/tmp"))  # short: Ray's socket paths
        # (no Ray Client server: it starts only where ray[client] is installed, on a port given or 10001)
        (port, dash, agent, agent_grpc, rt_env, metrics, node_mgr, obj_mgr) = _free_ports(8)
        self.address = f"127.0.0.1:{port}"
        ray_bin = Path(sys.executable).with_name("ray")
        cmd = [str(ray_bin), "start", "--head", "--block", "--num-cpus", str(self.num_cpus),
               "--node-ip-address", "127.0.0.1", "--port", str(port), "--dashboard-host", "127.0.0.1",
               "--dashboard-port", str(dash),
               "--dashboard-agent-listen-port", str(agent), "--dashboard-agent-grpc-port", str(agent_grpc),
               "--runtime-env-agent-port", str(rt_env), "--metrics-export-port", str(metrics),
               "--node-manager-port", str(node_mgr), "--object-manager-port", str(obj_mgr),
               "--temp-dir", str(self.root / "ray"), "--disable-usage-stats"]
        self.log = self.root / "ray-start.log"
        env = {k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}
        with open(self.log, "wb") as fh:
            self.proc = subprocess.Popen(cmd, stdout=fh, stderr=subprocess.STDOUT, env={**env, **CLUSTER_ENV, **CLUSTER_NICENESS},
                                         start_new_session=True)
        deadline = time.monotonic() + 120
        while b"Ray runtime started" not in self.log.read_bytes():
            if self.proc.poll() is not None or time.monotonic() > deadline:
                said = self.log.read_text(errors="replace")[-3000:]
                self.__exit__()
                raise SystemExit(f"ray start failed:\n{said}")
            time.sleep(0.5)
        return self

    def __exit__(self, *exc: object) -> None:
        mine = _descendants(os.getpid()) - self.before  # what the cluster started (and what it left)
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)  # ray start --block ends the processes it started
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                pass
        for pid in mine:  # whatever is left of them, by process id
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        time.sleep(0.5)
        while True:  # reap the orphans left to this process
            try:
                if os.waitpid(-1, os.WNOHANG)[0] == 0:
                    break
            except ChildProcessError:
                break
        _subreaper(False)
        shutil.rmtree(self.root, ignore_errors=True)


def run_command(name: str, argv: list[str], *, ray: bool, count: Callable[[], tuple[int, int]]) -> dict:
    """One whole ``soundsort`` process, timed from its start to its exit. ``count()`` gives ``(ok, failed)``
    from what it wrote. CPU: the command's own process tree; for Ray also its actors and the cluster's
    other processes (their CPU during the run)."""
    env = {**{k: v for k, v in os.environ.items() if k != "RAY_ADDRESS"}, **CLUSTER_ENV}
    with ProcessSampler() as procs:
        t0 = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "soundsort", *argv], stdout=subprocess.DEVNULL,
                                stderr=subprocess.PIPE, env=env)
        procs.root = proc.pid
        _, err = proc.communicate()
        total = time.perf_counter() - t0
        time.sleep(0.3)  # one more sample of what is left
    if proc.returncode not in (0, 1):
        raise SystemExit(f"{name}: exit {proc.returncode}:\n{err.decode(errors='replace')[-3000:]}")
    ok, failed = count()
    res = {"name": name, "total": total, "first": None, "steady": None, "ok": ok, "failed": failed, "n": ok + failed}
    if ray:
        res.update(rss=procs.rss, pss=procs.pss, processes=len(procs.actors), cpu=procs.actor_cpu(),
                   overhead_cpu=procs.other_cpu(), by_name=procs.by_name(), nice=sorted(procs.nice))
    else:
        res.update(cpu=procs.job_cpu(), idle_cpu=procs.other_cpu(without=procs.job))
    return res


def run_local_command(paths: list[str], name: str) -> dict:
    out = Path(tempfile.mkdtemp(prefix="bench-local-")) / "out.jsonl"
    try:
        def count() -> tuple[int, int]:
            recs = [json.loads(line) for line in out.read_text().splitlines() if line.strip()]
            ok = sum(r["status"] == "ok" for r in recs)
            return ok, len(recs) - ok

        return run_command(name, ["classify", *paths, "-j", "2", "-f", "jsonl", "-o", str(out)], ray=False,
                           count=count)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def run_cluster_command(paths: list[str], address: str, actors: int, name: str) -> dict:
    from soundsort.distributed import read_results

    out = Path(tempfile.mkdtemp(prefix="bench-ray-")) / "out"
    try:
        def count() -> tuple[int, int]:
            recs = read_results(out)
            ok = sum(r["status"] == "ok" for r in recs)
            return ok, len(recs) - ok

        return run_command(name, ["classify", *paths, "--engine", "ray", "--address", address, "--num-actors",
                                  str(actors), "-o", str(out)], ray=True, count=count)
    finally:
        shutil.rmtree(out.parent, ignore_errors=True)


def _timing(name: str, t0: float, stamps: list[float], ok: int, failed: int) -> dict:
    total = stamps[-1] - t0
    steady = (len(stamps) - 1) / (stamps[-1] - stamps[0]) if len(stamps) > 1 and stamps[-1] > stamps[0] else 0.0
    return {"name": name, "total": total, "first": stamps[0] - t0, "steady": steady, "ok": ok, "failed": failed,
            "n": len(stamps)}


HEADER = ["| run | total s | first record s | files/s (total) | files/s (steady) | vs local mean (total) | "
          "vs local mean (steady) | CPU s per file (workers / actors) | other CPU s per file | actor RSS / PSS MiB |",
          "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]


def _rows(results: list[dict], local: dict, reference: set[int] | None = None) -> list[str]:
    """Table rows; ``local``: the mean of the local runs (total, steady, n); a row not compared: ``compare`` False."""
    rows = []
    for r in results:
        rate = r["n"] / r["total"]
        mem = f"{r['rss']:.0f} / {r['pss']:.0f}" if "rss" in r else "–"
        other = f"{r['overhead_cpu'] / r['n']:.3f}" if "overhead_cpu" in r else "–"
        first = f"{r['first']:.1f}" if r.get("first") is not None else "–"
        steady = f"{r['steady']:.2f}" if r.get("steady") is not None else "–"
        ref = r.get("ref_total", local["total"])  # a paired run: the mean of the local runs beside it
        vs_total = f"{100 * rate / (r['n'] / ref):.0f} %" if r.get("compare", True) else "–"
        vs_steady = (f"{100 * r['steady'] / local['steady']:.0f} %"
                     if r.get("steady") is not None and local.get("steady") and r.get("compare", True) else "–")
        rows.append(f"| {r['name']} | {r['total']:.1f} | {first} | {rate:.2f} | {steady} | {vs_total} | {vs_steady} | "
                    f"{r['cpu'] / r['n']:.3f} | {other} | {mem} |")
    return rows


def _local_mean(first: dict, last: dict) -> dict:
    steady = (first["steady"] + last["steady"]) / 2 if first.get("steady") is not None else None
    return {"total": (first["total"] + last["total"]) / 2, "steady": steady, "n": first["n"]}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--files", type=int, default=200)
    ap.add_argument("--warmup-files", type=int, default=8, help="files of the cluster's untimed first job")
    ap.add_argument("--modes", default="command,cluster", help="command, cluster or both (comma-separated)")
    ap.add_argument("--repeats", type=int, default=3, help="cluster mode: 2-actor runs, each between two local runs")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    modes = {m.strip() for m in args.modes.split(",") if m.strip()}
    if not modes or not modes <= {"command", "cluster"}:
        raise SystemExit("--modes takes command, cluster or command,cluster")
    paths = files(args.files)
    seconds = 30.0 * len(paths)
    for p in paths:  # the page cache holds every file before anything is timed
        Path(p).read_bytes()
    load_before = os.getloadavg()
    command: list[dict] = []
    cluster: list[dict] = []
    warm: dict | None = None
    halves: list[dict] = []
    if "command" in modes:  # local, ray 2 actors, local, ray 1 actor, (cluster mode), local
        command = [run_local(paths), run_ray(paths, 2), run_local(paths), run_ray(paths, 1)]
        command[2]["name"] += " (between)"
    if "cluster" in modes:
        with RayCluster(num_cpus=2) as up:
            warm = run_cluster_command(paths[-args.warmup_files:], up.address, 2,
                                       f"cluster's first job ({args.warmup_files} files, untimed warm-up)")
            warm["compare"] = False
            k = 1
            cluster.append(run_local_command(paths, f"local `soundsort classify -j 2` #{k}"))
            for i in range(args.repeats):  # local, ray, local, ray, ..., local: each ray run between two local ones
                cluster.append(run_cluster_command(paths, up.address, 2, f"`--engine ray --address`, 2 actors #{i + 1}"))
                k += 1
                cluster.append(run_local_command(paths, f"local `soundsort classify -j 2` #{k}"))
            cluster.append(run_cluster_command(paths, up.address, 1, "`--engine ray --address`, 1 actor"))
            k += 1
            cluster.append(run_local_command(paths, f"local `soundsort classify -j 2` #{k}"))
            half = paths[::2]  # every other file (the same mix) at half the number: what a job costs before its files
            halves = [run_local_command(half, f"local, {len(half)} files (first)"),
                      run_cluster_command(half, up.address, 2, f"ray 2 actors, {len(half)} files"),
                      run_local_command(half, f"local, {len(half)} files (last)")]
            halves[1]["ref_total"] = (halves[0]["total"] + halves[2]["total"]) / 2
        for i, r in enumerate(cluster):
            if "rss" in r:
                r["ref_total"] = (cluster[i - 1]["total"] + cluster[i + 1]["total"]) / 2
    if "command" in modes:
        command.append(run_local(paths))
        command[0]["name"] += " (first)"
        command[-1]["name"] += " (last)"
        command[1]["ref_total"] = (command[0]["total"] + command[2]["total"]) / 2
        command[3]["ref_total"] = (command[2]["total"] + command[4]["total"]) / 2
    load_after = os.getloadavg()
    for r in command + cluster + ([warm] if warm else []) + halves:
        assert r["ok"] + r["failed"] == r["n"] and r["n"] in (len(paths), len(paths[::2]), args.warmup_files), r
    doc = [f"### Ray engine: {len(paths)} files of 30 s ({seconds / 3600:.2f} h of audio)", "",
           f"Machine: {machine()}; Ray {_ray_version()}. Load average (1/5/15 min) before "
           f"{'/'.join(f'{x:.1f}' for x in load_before)}, after {'/'.join(f'{x:.1f}' for x in load_after)}.", ""]
    if command:
        nice = sorted({n for r in command for n in r.get("nice", [])})
        doc += ["Ray started by the command (`soundsort.distributed.classify` in this process, a local Ray of 2 CPUs "
                f"started and stopped per job, its workers at nice {'/'.join(map(str, nice))}) vs `run_batch(jobs=2)`:",
                "", *HEADER,
                *_rows(command, {"n": len(paths), **{k: sum(command[i][k] for i in (0, 2, 4)) / 3
                                                      for k in ("total", "steady")}}), "",
                "(Each Ray run against the mean of the local runs beside it; a local run against the mean of all "
                "three.)", ""]
    if cluster:
        local_runs = [r for r in cluster if "rss" not in r]
        local = {"total": sum(r["total"] for r in local_runs) / len(local_runs), "steady": None, "n": len(paths)}
        rows = _rows([warm] + cluster, local)
        twos = [r for r in cluster if "rss" in r and "2 actors" in r["name"]]
        ratios = sorted(r["ref_total"] / r["total"] for r in twos)
        nice = sorted({n for r in twos for n in r.get("nice", [])})
        doc += ["A cluster already up (`ray start --head --num-cpus 2` once, its workers at nice "
                f"{'/'.join(map(str, nice))}; then whole `soundsort classify` processes, start to exit, each Ray run "
                "between two local runs and compared with their mean; local runs compared with the mean of all local "
                "runs. The cluster's first job, which creates Ray Data's detached helper actors, is a warm-up, not "
                "compared):", "", *HEADER, *rows, "",
                f"Ray with 2 actors vs the local runs beside it: {', '.join(f'{100 * x:.0f} %' for x in ratios)} "
                f"(median {100 * ratios[len(ratios) // 2]:.0f} %); all 2-actor runs against all local runs: "
                f"{100 * local['total'] / (sum(r['total'] for r in twos) / len(twos)):.0f} %.", "",
                "The idle cluster's own processes used "
                f"{' / '.join(format(r['idle_cpu'], '.2f') for r in local_runs)} CPU s during the local runs.", ""]
        if halves:
            n1, n2 = halves[1]["n"], len(paths)
            ray2 = sum(r["total"] for r in twos) / len(twos)
            fits = {}
            for engine, t1, t2 in (("local", (halves[0]["total"] + halves[2]["total"]) / 2, local["total"]),
                                   ("ray", halves[1]["total"], ray2)):
                per = (t2 - t1) / (n2 - n1)
                fits[engine] = (t2 - n2 * per, per)  # (seconds before the files, seconds a file)
            doc += [f"The same at {n1} files (local, ray, local): "
                    + ", ".join(f"{r['name']} {r['total']:.1f} s" for r in halves)
                    + f" (ray {100 * halves[1]['ref_total'] / halves[1]['total']:.0f} % of the local runs beside it). "
                    "A job's time as a fixed part and a part a file (from the means at the two sizes): local "
                    f"{fits['local'][0]:.1f} s + {1000 * fits['local'][1]:.0f} ms a file, ray "
                    f"{fits['ray'][0]:.1f} s + {1000 * fits['ray'][1]:.0f} ms a file; for a job of many files ray "
                    f"tends to {100 * fits['local'][1] / fits['ray'][1]:.0f} % of local.", ""]
        for r in [twos[0], cluster[-2]]:
            doc += [f"Other CPU s of {r['name']}, by process: " + ", ".join(
                f"{name} {cpu:.2f}" for name, cpu in r["by_name"].items() if cpu >= 0.05) + ".", ""]
    # the plan's figures: the 2-actor run on the cluster when there is one (no per-job start), else the command's
    if cluster:
        twos = [r for r in cluster if "rss" in r and "2 actors" in r["name"]]
        two = sorted(twos, key=lambda r: r["cpu"])[len(twos) // 2]  # the median by the actors' CPU
        one, local_runs = cluster[-2], [r for r in cluster if "rss" not in r]
    else:
        two, one, local_runs = command[1], command[3], [command[0], command[2], command[4]]
    cpu_file = two["cpu"] / two["n"]  # an actor's CPU seconds per 30 s file
    per_core = 1 / cpu_file  # files per second an actor does on a core of its own
    local_cpu = sum(r["cpu"] for r in local_runs) / len(local_runs) / len(paths)
    mem = max(one.get("rss", 0), two.get("rss", 0))
    doc += [f"An actor spends {cpu_file:.3f} CPU s per 30 s file ({two['name']}; the local processes {local_cpu:.3f}): "
            f"on a core of its own {per_core:.2f} files/s, {per_core * 30:.0f}x real time. The driver, Ray's own "
            f"processes, the ledger and Ray Data's helper actors add {two['overhead_cpu'] / two['n']:.3f} CPU s per "
            f"file here. Peak actor memory {mem:.0f} MiB resident.", "",
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
