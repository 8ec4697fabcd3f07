"""``soundsort serve`` under load: concurrent clients on loopback against ``soundsort classify``'s batch.

What it measures, in one run on generated 30 s clips (speech, music, noise and mixtures of them):

1. the CLI batch: ``soundsort classify DIR -f jsonl -o OUT -j W`` as a whole process, audio seconds per
   second (before and after the server part, so drift from other load shows);
2. a real ``soundsort serve --workers W`` on a free loopback port, with 1, 8 and 32 concurrent clients
   (asyncio + httpx) posting clips to ``POST /v1/classify``: throughput (audio s / s, and its ratio to the
   CLI's), p50 / p95 latency, failed requests, lost or wrong results (every answer must be the record of the
   clip sent, named as sent, equal to the CLI's record of that clip; the server's own file counter must
   grow by exactly the number of requests), and the server's RSS (the whole process tree) over the first
   and the last 100 requests;
3. a burst of bad uploads (empty, text, a PNG, truncated WAVs, an oversized body), then good requests: the
   server must still answer them all.

    python benchmarks/bench_serve.py [--requests 1000] [--workers 0] [--out BENCHMARKS.md]
"""

from __future__ import annotations

import argparse
import asyncio
import datetime as dt
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import emit, machine  # noqa: E402

CLIP_SECONDS = 30.0
LAYOUTS = [[("music", 30.0)], [("speech", 30.0)], [("speech", 10.0), ("music", 20.0)],
           [("music", 15.0), ("speech", 15.0)], [("noise", 10.0), ("speech", 10.0), ("music", 10.0)]]


def make_clips(folder: Path, n: int) -> list[Path]:
    from soundsort.examples import make_mixed_recording

    folder.mkdir(parents=True, exist_ok=True)
    clips = []
    for i in range(n):
        path = folder / f"clip{i:03d}.wav"
        make_mixed_recording(path, LAYOUTS[i % len(LAYOUTS)], seed=100 + i)
        clips.append(path)
    return clips


def tree_rss(pid: int) -> int:
    """RSS in bytes of ``pid`` and all its descendants (the server and its worker processes)."""
    total, todo = 0, [pid]
    while todo:
        p = todo.pop()
        try:
            status = Path(f"/proc/{p}/status").read_text()
            total += int(re.search(r"VmRSS:\s+(\d+) kB", status).group(1)) * 1024
            for task in Path(f"/proc/{p}/task").iterdir():
                todo += [int(c) for c in (task / "children").read_text().split()]
        except (OSError, AttributeError):
            continue
    return total


def cli_batch(clips: list[Path], workers: int, tmp: Path) -> tuple[float, dict[str, dict]]:
    """Seconds of audio per second of ``soundsort classify`` over ``clips``, and its records by clip name."""
    out = tmp / f"cli-{time.monotonic_ns()}.jsonl"
    t = time.perf_counter()
    subprocess.run([sys.executable, "-m", "soundsort", "-q", "classify", *map(str, clips), "-f", "jsonl",
                    "-o", str(out), "-j", str(workers)], check=True)
    wall = time.perf_counter() - t
    records = {Path(r["path"]).name: r for r in map(json.loads, out.read_text().splitlines())}
    audio = sum(r["duration"] for r in records.values())
    return audio / wall, records


def start_server(workers: int, threads: int = 0) -> tuple[subprocess.Popen, str]:
    proc = subprocess.Popen([sys.executable, "-m", "soundsort", "serve", "--port", "0", "--workers", str(workers),
                             "--worker-threads", str(threads),
                             "--max-queue", "1024", "--max-upload", "20MB"], stderr=subprocess.PIPE, text=True)
    found: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            m = re.search(r"ready at (http://\S+/)", line)
            if m:
                found.append(m.group(1))
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(300):
        proc.kill()
        raise SystemExit("soundsort serve did not become ready")
    return proc, found[0]


async def load(url: str, clips: list[Path], data: dict[str, bytes], clients: int, n: int, start: int,
               expected: dict[str, dict], pid: int, rss: list[int]) -> dict:
    """``n`` requests from ``clients`` concurrent clients; every answer checked against the CLI's record."""
    import httpx

    latencies: list[float] = []
    failed = lost = wrong = 0
    audio = 0.0
    counter = iter(range(n))
    errors: list[str] = []

    async def client(http: httpx.AsyncClient) -> None:
        nonlocal failed, lost, wrong, audio
        for i in counter:
            clip = clips[(start + i) % len(clips)]
            name = f"req{start + i:05d}-{clip.name}"
            t = time.perf_counter()
            try:
                resp = await http.post(url + "v1/classify", content=data[clip.name], headers={"X-Filename": name})
            except httpx.HTTPError as exc:
                failed += 1
                errors.append(f"{type(exc).__name__}: {exc}")
                continue
            latencies.append(time.perf_counter() - t)
            rss.append(tree_rss(pid))
            if resp.status_code != 200:
                failed += 1
                errors.append(f"{resp.status_code}: {resp.text[:200]}")
                continue
            rec = resp.json()
            if rec.get("path") != name:
                lost += 1
                continue
            want = dict(expected[clip.name], path=name)
            if rec != want:
                wrong += 1
            audio += rec["duration"]

    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(timeout=600, limits=limits) as http:
        t = time.perf_counter()
        await asyncio.gather(*(client(http) for _ in range(clients)))
        wall = time.perf_counter() - t
    lat = sorted(latencies)
    pct = (lambda q: lat[min(len(lat) - 1, int(q * len(lat)))]) if lat else (lambda q: float("nan"))
    return {"clients": clients, "requests": n, "wall": wall, "throughput": audio / wall, "p50": pct(0.50),
            "p95": pct(0.95), "failed": failed, "lost": lost, "wrong": wrong, "errors": errors[:3]}


async def bad_burst(url: str, good: bytes, n_bad: int = 200, n_good: int = 20) -> dict:
    import httpx

    bad = [b"", b"this is not audio\n" * 100, b"\x89PNG\r\n\x1a\n" + bytes(4000), good[: len(good) // 3],
           b"RIFF\x00\x00\x00\x00WAVE" + os.urandom(2000), bytes(21_000_000)]
    codes: dict[int, int] = {}
    async with httpx.AsyncClient(timeout=600) as http:
        sem = asyncio.Semaphore(16)

        async def one(i: int) -> None:
            async with sem:
                try:
                    r = await http.post(url + "v1/classify", content=bad[i % len(bad)],
                                        headers={"X-Filename": f"bad{i}.wav"})
                    codes[r.status_code] = codes.get(r.status_code, 0) + 1
                except httpx.HTTPError:
                    codes[0] = codes.get(0, 0) + 1

        await asyncio.gather(*(one(i) for i in range(n_bad)))
        ok = 0
        for i in range(n_good):
            r = await http.post(url + "v1/classify", content=good, headers={"X-Filename": f"after{i}.wav"})
            ok += r.status_code == 200 and r.json()["status"] == "ok"
    return {"codes": dict(sorted(codes.items())), "good_after": ok, "n_good": n_good}


def files_ok(url: str) -> int:
    import httpx

    text = httpx.get(url + "metrics", timeout=30).text
    return int(float(re.search(r'soundsort_files_total\{status="ok"\} (\S+)', text).group(1)))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--requests", type=int, default=1000, help="requests in all, over the three client levels")
    ap.add_argument("--clients", default="1,8,32")
    ap.add_argument("--clips", type=int, default=40, help="distinct 30 s clips")
    ap.add_argument("--cli-files", type=int, default=80, help="files in each CLI batch run")
    ap.add_argument("--workers", type=int, default=0, help="server workers and CLI -j (0: one per core)")
    ap.add_argument("--worker-threads", type=int, default=0,
                    help="the server's --worker-threads (0: its default)")
    ap.add_argument("--out", type=Path)
    args = ap.parse_args()
    workers = args.workers or os.cpu_count() or 1
    levels = [int(c) for c in args.clients.split(",")]
    shares = [0.15, 0.35, 0.50] if len(levels) == 3 else [1 / len(levels)] * len(levels)
    counts = [max(1, round(args.requests * s)) for s in shares]
    counts[-1] = args.requests - sum(counts[:-1])
    load_before = os.getloadavg()
    tmp = Path(tempfile.mkdtemp(prefix="bench-serve-"))
    try:
        clips = make_clips(tmp / "clips", args.clips)
        batch = [clips[i % len(clips)] for i in range(args.cli_files)]
        linked = []
        for i, c in enumerate(batch):  # distinct names, so the CLI classifies every one
            p = tmp / "batch" / f"{i:04d}-{c.name}"
            p.parent.mkdir(exist_ok=True)
            os.link(c, p)
            linked.append(p)
        cli_before, cli_records = cli_batch(linked, workers, tmp)
        expected = {}
        for name, rec in cli_records.items():
            expected[name.split("-", 1)[1]] = rec
        data = {c.name: c.read_bytes() for c in clips}
        proc, url = start_server(workers, args.worker_threads)
        try:
            ok0 = files_ok(url)
            rss: list[int] = []
            results = []
            start = 0
            for clients, n in zip(levels, counts):
                results.append(asyncio.run(load(url, clips, data, clients, n, start, expected, proc.pid, rss)))
                start += n
            counted = files_ok(url) - ok0
            burst = asyncio.run(bad_burst(url, data[clips[0].name]))
        finally:
            proc.terminate()
            proc.wait(60)
        cli_after, _ = cli_batch(linked, workers, tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    load_after = os.getloadavg()
    cli = (cli_before + cli_after) / 2
    total = sum(r["requests"] for r in results)
    answered = sum(r["requests"] - r["failed"] - r["lost"] for r in results)
    rss_first = statistics.mean(rss[:100]) / 2**20 if rss else float("nan")
    rss_last = statistics.mean(rss[-100:]) / 2**20 if rss else float("nan")
    now = dt.datetime.now(dt.timezone.utc)
    doc = [f"### soundsort serve under load ({now.date()})", "",
           f"Command: `python benchmarks/bench_serve.py --requests {args.requests} --workers {args.workers} --worker-threads {args.worker_threads}`; "
           f"date: {now.isoformat(timespec='seconds')}; machine: {machine()}; "
           f"server: {workers} worker processes; CLI: `soundsort classify FILES -f jsonl -o OUT -j {workers}` "
           f"on {args.cli_files} files; load average (1 min) {load_before[0]:.2f} before, {load_after[0]:.2f} "
           "after.", "",
           f"{args.clips} generated {CLIP_SECONDS:g} s clips (music, speech, noise and mixtures), posted raw to "
           "`POST /v1/classify` over loopback by asyncio + httpx clients, each answer checked: named as sent and "
           "equal to the CLI's record of the same clip.", "",
           f"CLI batch: {cli_before:.1f} audio s/s before the server part, {cli_after:.1f} after "
           f"(mean {cli:.1f}).", "",
           "| clients | requests | audio s / s | vs CLI batch | p50 latency | p95 latency | failed | lost | wrong |",
           "|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        doc.append(f"| {r['clients']} | {r['requests']} | {r['throughput']:.1f} | {100 * r['throughput'] / cli:.0f} % "
                   f"| {r['p50']:.2f} s | {r['p95']:.2f} s | {r['failed']} | {r['lost']} | {r['wrong']} |")
    doc += ["", f"- {total} requests: {answered} answered with their own record, "
                f"{sum(r['failed'] for r in results)} failed, {sum(r['lost'] for r in results)} lost, "
                f"{sum(r['wrong'] for r in results)} different from the CLI's record; the server's "
                f"`soundsort_files_total{{status=\"ok\"}}` grew by {counted}.",
            f"- Server RSS (server + workers): {rss_first:.0f} MiB over the first 100 requests, {rss_last:.0f} MiB "
            f"over the last 100.",
            f"- Burst of {sum(burst['codes'].values())} bad uploads, 16 at a time (empty, text, PNG, truncated WAV, "
            f"junk RIFF, 21 MB over the 20 MB limit): status codes {burst['codes']}; then "
            f"{burst['good_after']} of {burst['n_good']} good requests answered 200 with their record."]
    for r in results:
        if r["errors"]:
            doc.append(f"- first errors at {r['clients']} clients: {r['errors']}")
    emit(doc, args.out)


if __name__ == "__main__":
    main()
