"""Classify and featurize on a real local Ray cluster (issue 14): same records as the local classify, bad
inputs as error records, a worker killed mid-run, exactly once, resumable, atomic partitions.

One cluster (``ray.init(num_cpus=2)``, bound to loopback only) is shared by the module; it lives in a temporary folder
of its own and picks free ports, so two pytest-xdist workers each run their own side by side.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import tempfile
import threading
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st

# On Linux Ray binds the address of the default route even when told 127.0.0.1 (ray.init(_node_ip_address=...)
# resolves a loopback address away); read when ray is imported, this makes the test cluster loopback only
LOOPBACK_ENV = {"RAY_ENABLE_WINDOWS_OR_OSX_CLUSTER": "0"}
_saved = {k: os.environ.get(k) for k in LOOPBACK_ENV}
os.environ.update(LOOPBACK_ENV)
try:
    ray = pytest.importorskip("ray", reason="Ray is an optional extra: pip install 'soundsort[ray]'")
finally:
    for _k, _v in _saved.items():
        if _v is None:
            os.environ.pop(_k, None)
        else:
            os.environ[_k] = _v

from soundsort.distributed import RayConfig, classify, featurize, read_results  # noqa: E402
from soundsort.distributed.output import arrow_schema, partition_files  # noqa: E402
from soundsort.examples import synth_music, synth_noise, synth_speech  # noqa: E402

SR = 16000


@pytest.fixture(scope="module")
def cluster():
    """A local Ray cluster of 2 CPUs for the whole module (its own temp folder: short socket paths)."""
    os.environ.pop("RAY_ADDRESS", None)
    root = tempfile.mkdtemp(prefix="ssray-", dir="/tmp")
    ray.init(num_cpus=2, include_dashboard=False, _temp_dir=root, log_to_driver=False,
             logging_level="error", configure_logging=True)
    try:
        yield ray
    finally:
        ray.shutdown()
        shutil.rmtree(root, ignore_errors=True)


def test_the_test_cluster_is_on_loopback(cluster):
    import subprocess

    assert [n["NodeManagerAddress"] for n in ray.nodes()] == ["127.0.0.1"]
    assert ray.get(ray.remote(lambda: ray.util.get_node_ip_address()).remote()) == "127.0.0.1"
    # every socket this cluster's processes listen on is a loopback one
    pids = _descendants(os.getpid()) | {os.getpid()}
    listening = [line.split()[3].rsplit(":", 1)[0] for line in
                 subprocess.run(["ss", "-ltnpH"], capture_output=True, text=True, check=True).stdout.splitlines()
                 if any(f"pid={pid}," in line for pid in pids)]
    assert listening and set(listening) <= {"127.0.0.1", "[::ffff:127.0.0.1]", "[::1]"}, listening


def _write(path: Path, y: np.ndarray) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, SR)
    return path


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> dict:
    """Generated music / speech / noise (and a mix), plus bad inputs with what must be said about them."""
    root = tmp_path_factory.mktemp("ray-corpus")
    good = []
    for i in range(2):
        good.append(_write(root / "audio" / f"music_{i}.flac", synth_music(8.0, SR, seed=i)))
        good.append(_write(root / "audio" / f"speech_{i}.wav", synth_speech(6.0, SR, seed=10 + i)))
        good.append(_write(root / "audio" / f"noise_{i}.ogg", synth_noise(5.0, SR, seed=20 + i)))
    mix = np.concatenate([synth_speech(5.0, SR, seed=30), synth_music(8.0, SR, seed=31)])
    good.append(_write(root / "audio" / "sub" / "show.flac", mix))
    bad = root / "bad"
    bad.mkdir()
    (bad / "text.mp3").write_bytes(b"this is not audio, only text " * 40)
    (bad / "empty.wav").write_bytes(b"")
    blob = (root / "audio" / "music_0.flac").read_bytes()
    (bad / "truncated.flac").write_bytes(blob[:300])
    missing = root / "nowhere" / "missing.wav"
    bad_paths = [bad / "text.mp3", bad / "empty.wav", bad / "truncated.flac", missing]
    return {"root": root, "good": [str(p) for p in good], "bad": [str(p) for p in bad_paths]}


@pytest.fixture(scope="module")
def local_records(corpus: dict) -> dict[str, dict]:
    """What the local classify (one process) says about every input."""
    from soundsort.inference.batch import classify_one
    from soundsort.inference.classify import Classifier

    clf = Classifier()
    return {p: classify_one(clf, p) for p in corpus["good"] + corpus["bad"]}


def _visible(folder: Path) -> list[str]:
    """Names a reader of the folder would take for results (hidden files and the lock excluded)."""
    return sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))


def _by_path(records: list[dict]) -> dict[str, dict]:
    paths = [r["path"] for r in records]
    assert len(paths) == len(set(paths)), "an input appears more than once"
    return {r["path"]: r for r in records}


def test_records_equal_local_classify(cluster, corpus, local_records, tmp_path):
    out = tmp_path / "out"
    inputs = [str(Path(corpus["root"]) / "audio"), *corpus["bad"]]  # a folder (walked) and single files
    seen = []
    summary = classify(inputs, out, ray_config=RayConfig(num_actors=2, partition_rows=4),
                       on_result=lambda r: seen.append(r["path"]))
    assert summary.total == len(local_records) and summary.skipped == 0
    assert summary.ok == len(corpus["good"]) and summary.failed == len(corpus["bad"])
    got = _by_path(read_results(out))
    assert set(got) == set(local_records) == set(seen)
    for path, expected in local_records.items():
        assert got[path] == expected, path
    # the music file and the noise file were told apart, and the bad inputs name themselves and the reason
    assert got[corpus["good"][0]]["label"] == "music" and got[corpus["good"][2]]["label"] == "non-music"
    for path in corpus["bad"]:
        assert got[path]["status"] == "error" and got[path]["error"].startswith(path + ": ")
    assert "file not found" in got[corpus["bad"][3]]["error"]
    # partitions of at most 4 records, every one with the documented schema, nothing else visible
    parts = partition_files(out)
    assert len(parts) >= 3 and _visible(out) == sorted(p.name for p in parts)
    import pyarrow.dataset as pads

    table = pads.dataset(str(out), format="parquet").to_table()
    assert table.num_rows == len(local_records) and table.schema.equals(arrow_schema())
    assert all(pads.dataset(str(p)).count_rows() <= 4 for p in parts)


def test_jsonl_rerun_skips_and_new_inputs(cluster, corpus, local_records, tmp_path):
    out = tmp_path / "jsonl"
    first = corpus["good"][:3] + corpus["bad"][:1]
    s1 = classify(first, out, ray_config=RayConfig(num_actors=1, fmt="jsonl"))
    assert (s1.ok, s1.failed) == (3, 1)
    lines = [json.loads(line) for p in partition_files(out) for line in p.read_text().splitlines()]
    assert [p.suffix for p in partition_files(out)] == [".jsonl"] and len(lines) == 4
    assert all(r == local_records[r["path"]] for r in lines)  # the local jsonl records, line for line
    # a rerun with two more inputs: the four already there are skipped, the new ones added, once each
    s2 = classify(first + corpus["good"][3:5], out, ray_config=RayConfig(num_actors=1, fmt="jsonl"))
    assert (s2.total, s2.skipped, s2.ok, s2.failed) == (6, 4, 2, 0)
    assert set(_by_path(read_results(out))) == set(first + corpus["good"][3:5])
    # the same again: nothing to do, Ray is not even needed, no new partition
    n_parts = len(partition_files(out))
    s3 = classify(first + corpus["good"][3:5], out, ray_config=RayConfig(num_actors=1, fmt="jsonl"))
    assert (s3.skipped, s3.ok + s3.failed) == (6, 0) and len(partition_files(out)) == n_parts
    # retry_errors: the error record goes, the input is tried again and is there once more, still once
    s4 = classify(first, out, ray_config=RayConfig(num_actors=1, fmt="jsonl", retry_errors=True))
    assert (s4.skipped, s4.failed) == (3, 1)
    assert len(_by_path(read_results(out))) == 6


def test_manifest_with_relative_paths_and_a_uri(cluster, corpus, local_records, tmp_path):
    manifest = Path(corpus["root"]) / "list.txt"
    rel = [os.path.relpath(p, manifest.parent) for p in corpus["good"][:2]]
    uri = "file://" + corpus["good"][2]
    manifest.write_text(f"# two files by relative path, one by URI\n{rel[0]}\n\n{rel[1]}\n{uri}\n")
    out = tmp_path / "manifest"
    # the bundled music model, copied to a folder of its own: sent to the actors (its name kept in the records)
    from soundsort.inference.classify import DEFAULT_MUSIC_MODEL

    model = shutil.copytree(DEFAULT_MUSIC_MODEL, tmp_path / "models" / DEFAULT_MUSIC_MODEL.name)
    s = classify([str(manifest)], out, music_model=model, ray_config=RayConfig(num_actors=1))
    got = _by_path(read_results(out))
    assert s.total == 3 and s.ok == 3
    for path in corpus["good"][:2]:
        assert got[path] == local_records[path]
    expected = {**local_records[corpus["good"][2]], "path": uri}  # read by pyarrow's filesystem, named by its URI
    assert got[uri] == expected
    # a URI folder is listed (audio names only), a URI that is not there is an error record
    out2 = tmp_path / "uri-folder"
    s2 = classify(["file://" + str(Path(corpus["root"]) / "audio" / "sub"), "file:///nowhere/at/all.wav"], out2,
                  ray_config=RayConfig(num_actors=1))
    got2 = _by_path(read_results(out2))
    show = "file://" + str(Path(corpus["root"]) / "audio" / "sub" / "show.flac")
    assert (s2.ok, s2.failed) == (1, 1) and got2[show]["timeline"] == local_records[show[7:]]["timeline"]
    assert got2["file:///nowhere/at/all.wav"]["error"] == "file:///nowhere/at/all.wav: cannot read (file not found)"


def _descendants(pid: int) -> set[int]:
    """PIDs of every process below ``pid`` (this cluster's own processes: not another xdist worker's)."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        children.setdefault(int(fields[1]), []).append(int(entry))
    out, todo = set(), [pid]
    while todo:
        for c in children.get(todo.pop(), []):
            out.add(c)
            todo.append(c)
    return out


def _classify_actors() -> set[int]:
    pids = set()
    for pid in _descendants(os.getpid()):
        try:
            cmd = Path(f"/proc/{pid}/cmdline").read_bytes()
        except OSError:
            continue
        if b"MapBatches(ClassifyActor)" in cmd:
            pids.add(pid)
    return pids


def test_worker_killed_mid_run(cluster, corpus, local_records, tmp_path):
    # 16 inputs of 20-40 s (a few seconds' work each on 2 busy cores), so the run is long enough to kill into
    files = []
    for i in range(16):
        y = synth_music(20.0 + i, SR, seed=100 + i) if i % 2 else synth_noise(20.0 + i, SR, seed=100 + i)
        files.append(str(_write(tmp_path / "long" / f"long_{i:02d}.wav", y)))
    out = tmp_path / "killed"
    actors_seen: set[int] = set()
    stop = threading.Event()

    def watch() -> None:
        while not stop.is_set():
            actors_seen.update(_classify_actors())
            time.sleep(0.2)

    killed: list[tuple[int, int]] = []  # (pid, records received when it was killed)

    def on_result(rec: dict) -> None:
        if not killed:
            victims = sorted(_classify_actors())
            assert victims, "no classify actor found to kill"
            os.kill(victims[0], signal.SIGKILL)
            killed.append((victims[0], len(got)))
        got.append(rec["path"])

    got: list[str] = []
    watcher = threading.Thread(target=watch, daemon=True)
    watcher.start()
    try:
        summary = classify(files, out, config=None, ray_config=RayConfig(num_actors=2, partition_rows=3),
                           on_result=on_result)
    finally:
        stop.set()
        watcher.join()
    assert killed and killed[0][1] < len(files) - 2  # killed early, with most of the work still to do
    assert summary.ok == len(files) and summary.failed == 0
    records = read_results(out)
    assert sorted(r["path"] for r in records) == sorted(files)  # every input exactly once
    assert len(actors_seen) >= 3  # the killed actor was replaced by a new process
    assert _visible(out) == sorted(p.name for p in partition_files(out))  # no partial file
    assert not [p for p in out.iterdir() if p.name.endswith(".tmp")]
    # and the records of the files are the local classify's (two of them, to keep the test short)
    from soundsort.inference.batch import classify_one
    from soundsort.inference.classify import Classifier

    clf = Classifier()
    by = _by_path(records)
    for path in (files[0], files[-1]):
        assert by[path] == classify_one(clf, path)


def test_featurize_fills_the_normal_cache(cluster, corpus, tmp_path):
    from soundsort.cache import FeatureCache
    from soundsort.features.extract import featurize_file
    from soundsort.features.registry import get_featurizer

    cache = FeatureCache(tmp_path / "cache")
    paths = corpus["good"][:4] + corpus["bad"][:2]
    s = featurize(paths, "handcrafted", cache=cache, ray_config=RayConfig(num_actors=2))
    assert (s.total, s.cached, s.computed, len(s.failed)) == (6, 0, 4, 2)
    assert {p for p, _ in s.failed} == set(corpus["bad"][:2])
    assert all(reason.startswith(p + ": ") for p, reason in s.failed)
    # the local featurize_file now answers every good file from the cache, with what it computes itself in a
    # process of one BLAS thread (as training's worker processes and the actors run)
    from threadpoolctl import threadpool_limits

    fz = get_featurizer("handcrafted")
    cache.reset_counters()
    for p in corpus["good"][:4]:
        got = featurize_file(fz, p, cache=cache)
        with threadpool_limits(1, user_api="blas"):
            want = featurize_file(fz, p, cache=None)
        np.testing.assert_array_equal(got.values, want.values)
        np.testing.assert_array_equal(got.times, want.times)
    assert (cache.hits, cache.misses) == (4, 0)
    again = featurize(paths, "handcrafted", cache=cache, ray_config=RayConfig(num_actors=2))
    assert (again.cached, again.computed) == (4, 0)  # the bad ones are tried again, the good ones not


def test_a_second_run_on_the_same_folder_is_refused(tmp_path):
    from soundsort.distributed.output import FolderLock
    from soundsort.errors import ConfigError

    out = tmp_path / "locked"
    with FolderLock(out):
        with pytest.raises(ConfigError, match="another soundsort run is writing to this folder"):
            classify([str(tmp_path)], out)


def test_stale_temporary_partition_is_removed(tmp_path):
    from soundsort.distributed.output import remove_stale_parts

    out = tmp_path / "stale"
    out.mkdir()
    dead = ".part-x-00000.parquet.999999999.abcdefgh.tmp"
    alive = f".part-y-00000.parquet.{os.getpid()}.abcdefgh.tmp"
    (out / dead).write_bytes(b"half")
    (out / alive).write_bytes(b"half")
    assert [p.name for p in remove_stale_parts(out)] == [dead]
    assert sorted(p.name for p in out.iterdir()) == [alive]


def test_an_output_file_is_refused(tmp_path):
    from soundsort.errors import ConfigError

    target = tmp_path / "results.parquet"
    target.write_text("")
    with pytest.raises(ConfigError, match="the output of a cluster job is a folder"):
        classify([str(tmp_path)], target)


_num = st.floats(0, 1e4, allow_nan=False, allow_infinity=False)
_genres = st.one_of(st.none(), st.lists(st.fixed_dictionaries({"label": st.text(max_size=12),
                                                               "probability": st.floats(0, 1)}), max_size=3))


@st.composite
def _records(draw):
    with_genre = draw(st.booleans())
    segs = []
    for _ in range(draw(st.integers(0, 4))):
        seg = {"start": draw(_num), "end": draw(_num), "label": draw(st.sampled_from(["music", "non-music"])),
               "confidence": draw(st.floats(0, 1))}
        if with_genre:
            seg.update(genre=draw(_genres), genre_windows=draw(st.integers(0, 10)))
        segs.append(seg)
    ok = draw(st.booleans())
    path = draw(st.one_of(st.text(min_size=1, max_size=30), st.just(os.fsdecode(b"caf\xe9 \xff.wav"))))
    return {"path": path, "status": "ok" if ok else "error",
            "duration": draw(_num), "music_probability": draw(st.one_of(st.none(), st.floats(0, 1))),
            "music_share": draw(st.one_of(st.none(), st.floats(0, 1))),
            "label": draw(st.sampled_from([None, "music", "non-music", "mixed"])), "timeline": segs,
            "genre": draw(_genres), "genre_windows": draw(st.integers(0, 10)),
            "models": draw(st.dictionaries(st.text(max_size=8), st.one_of(st.integers(), st.text(max_size=8)),
                                           max_size=3)),
            "error": None if ok else draw(st.text(min_size=1, max_size=40)),
            "warnings": draw(st.lists(st.text(min_size=1, max_size=20), max_size=3))}


@settings(max_examples=40, deadline=None)
@given(st.lists(_records(), min_size=1, max_size=6), st.sampled_from(["parquet", "jsonl"]))
def test_partitions_give_back_the_records(records, fmt):
    """Whatever the records hold (genre or not, nulls, error records, any text), a partition gives them back
    as they were; a path that is not UTF-8 is stored with its bytes escaped, the name a rerun looks up."""
    from soundsort.distributed.output import PartitionWriter, done_inputs, storable_path

    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp)
        writer = PartitionWriter(out, fmt, partition_rows=4)
        for r in records:
            writer.add(r)
        writer.close()
        assert len(writer.written) == -(-len(records) // 4)
        got = read_results(out)
        if fmt == "parquet":
            expected = [{**r, "path": storable_path(r["path"])} for r in records]
        else:
            expected = [json.loads(json.dumps(r)) for r in records]
        assert got == expected
        assert set(done_inputs(out)) == {storable_path(r["path"]) for r in records}


def test_an_input_that_kills_its_worker_every_time_gets_an_error_record(cluster, corpus, local_records, tmp_path):
    """A poison input: its actor's process is SIGKILLed (as the OOM killer would) each time one starts it,
    seen in the job's attempt ledger. After two tries it gets an error record, without a third; every input is
    there once; a rerun skips it like any error record and ``retry_errors`` (``--resume``) tries it again."""
    from soundsort.distributed.ledger import WORK_DIR, died_reason, read_journal
    from soundsort.inference.classify import FileResult

    poison = str(_write(tmp_path / "poison" / "lethal.wav", synth_noise(60.0, SR, seed=7)))  # a second's work or more
    good = corpus["good"][:3]
    files = [good[0], poison, *good[1:]]
    out = tmp_path / "out"
    killed: list[tuple[int, int]] = []  # (attempt, pid) of each kill
    stop = threading.Event()

    def assassin() -> None:
        while not stop.is_set():
            for journal in (out / WORK_DIR).glob("attempts-*.jsonl"):
                for event in read_journal(journal):
                    if event["key"] == poison and not event.get("done") and len(killed) < 3 and \
                            event["pid"] not in {pid for _, pid in killed}:  # at most 3: a failure, not a hang
                        os.kill(event["pid"], signal.SIGKILL)
                        killed.append((event["attempt"], event["pid"]))
            time.sleep(0.02)

    thread = threading.Thread(target=assassin, daemon=True)
    thread.start()
    try:
        summary = classify(files, out, ray_config=RayConfig(num_actors=2))
    finally:
        stop.set()
        thread.join()
    assert [a for a, _ in killed] == [1, 2] and len({pid for _, pid in killed}) == 2  # two processes, no third try
    assert (summary.ok, summary.failed) == (3, 1)
    got = _by_path(read_results(out))  # every input exactly once
    assert set(got) == set(files)
    assert got[poison] == FileResult(poison, "error", error=died_reason(poison)).to_dict()
    assert got[poison]["error"] == (f"{poison}: the worker process classifying it died, 2 times "
                                    "(a crash in native code, or killed: out of memory?)")
    for path in good:
        assert got[path] == local_records[path]
    assert not (out / WORK_DIR).exists()  # the journal went with the job
    assert _visible(out) == sorted(p.name for p in partition_files(out))
    # a rerun skips it like any error record; retry_errors tries it again (nobody kills it now): classified
    again = classify(files, out, ray_config=RayConfig(num_actors=1))
    assert (again.skipped, again.ok + again.failed) == (4, 0)
    retried = classify(files, out, ray_config=RayConfig(num_actors=1, retry_errors=True))
    assert (retried.skipped, retried.ok, retried.failed) == (3, 1, 0)
    got = _by_path(read_results(out))
    assert set(got) == set(files) and got[poison]["status"] == "ok" and got[poison]["duration"] == 60.0


def test_the_attempt_ledger_stays_for_the_next_job(cluster, corpus, tmp_path):
    """The node's ledger actor is started by the first job and serves the next (its process start is paid
    once a cluster); each job's counts are closed when it ends."""
    from soundsort.distributed.ledger import LEDGER_NAMESPACE, ledger_name

    name = ledger_name(ray.get_runtime_context().get_node_id())
    ids = []
    for i in range(2):
        summary = classify(corpus["good"][:2], tmp_path / f"out{i}", ray_config=RayConfig(num_actors=1))
        assert (summary.ok, summary.failed) == (2, 0)
        ledger = ray.get_actor(name, namespace=LEDGER_NAMESPACE)
        ids.append(ledger._actor_id.hex())
        assert ray.get(ledger.runs.remote()) == []
    assert ids[0] == ids[1]


def test_ledger_counts_per_job_and_forgets_a_closed_one(tmp_path):
    """The ledger's own rules (the class the actor runs): counts per job, recovered from the journal by a
    new ledger (a restarted actor), nothing written past the limit, and a late message of a closed job
    reopens nothing."""
    from soundsort.distributed.ledger import MAX_ATTEMPTS, AttemptLedger, read_journal

    a, b = str(tmp_path / "a" / "attempts-a.jsonl"), str(tmp_path / "b" / "attempts-b.jsonl")
    ledger = AttemptLedger()
    assert [ledger.begin("a", a, "x.wav", 11) for _ in range(MAX_ATTEMPTS + 1)] == [1, 2, 3]
    assert ledger.begin("b", b, "x.wav", 12) == 1  # the same input in another job counts apart
    assert ledger.begin("b", b, "y.wav", 12, done="x.wav") == 1  # x.wav finished, told with the next begin
    assert ledger.begin("b", b, "x.wav", 12) == 0
    assert [e["attempt"] for e in read_journal(a)] == [1, 2]
    restarted = AttemptLedger()  # a new process: job a's counts come back from its journal
    assert restarted.begin("a", a, "x.wav", 13) == MAX_ATTEMPTS + 1
    assert restarted.begin("b", b, "x.wav", 14) == 0
    restarted.close("a")
    Path(a).unlink()
    restarted.finish("a", a, "y.wav")  # late: job a is over
    assert restarted.begin("a", a, "y.wav", 15) == 0 and not Path(a).exists()
    assert restarted.runs() == ["b"]


@given(st.integers(1, 2_000_000), st.integers(1, 4000))
def test_blocks_keep_every_actor_busy_and_stay_small(n_files, n_actors):
    """The default cut: at most 64 files a block (a killed actor repeats little), and at least 8 blocks per
    actor wherever there are files enough (short blocks at the end: none idle long), never an empty block."""
    from soundsort.distributed.classify import blocks_for

    blocks = blocks_for(n_files, n_actors, None)
    assert 1 <= blocks <= n_files
    assert -(-n_files // blocks) <= 64
    assert blocks >= min(n_files, 8 * n_actors, -(-n_files // 64))
    assert blocks_for(n_files, n_actors, 7) == -(-n_files // 7)  # an explicit size is kept
