"""The collection library: embed (incremental by content hash), similar, cluster, duplicates, safe loading.

Fast: MFCC-statistics libraries (no network) on synthesized music and noise; no shared data needed.
"""

from __future__ import annotations

import json
import os
import pickle
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsort.audio.resample import resample
from soundsort.examples import synth_music, synth_noise
from soundsort.library import (
    EmbedConfig,
    Library,
    LibraryError,
    cluster_library,
    embed_collection,
    find_duplicates,
    similar,
)
from soundsort.library import fingerprint as fp
from soundsort.library.cluster import folder_name
from soundsort.library.analyse import Analyser
from soundsort.library.store import MANIFEST, _sha256
from tests.conftest import run_cli

SR = 22050
CFG = EmbedConfig(features="mfcc", describe=False)


def _music(path: Path, seed: int, seconds: float = 8.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, synth_music(seconds, SR, seed=seed), SR)
    return path


def _noise(path: Path, seed: int, seconds: float = 8.0) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, 0.3 * synth_noise(seconds, SR, seed=seed), SR)
    return path


@pytest.fixture()
def collection(tmp_path: Path) -> Path:
    root = tmp_path / "music"
    for i in range(6):
        _music(root / f"song{i}.flac", seed=100 + i)
    for i in range(2):
        _noise(root / "noise" / f"street{i}.wav", seed=200 + i)
    return root


def _count_analyses(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    seen: list[str] = []
    real = Analyser.analyse

    def counting(self, path):
        seen.append(os.path.basename(path))
        return real(self, path)

    monkeypatch.setattr(Analyser, "analyse", counting)
    return seen


def test_incremental_add_change_delete_rename(collection: Path, tmp_path: Path, monkeypatch) -> None:
    lib_dir = tmp_path / "lib"
    seen = _count_analyses(monkeypatch)
    rep = embed_collection([collection], lib_dir, CFG)
    assert rep.summary()["added"] == 8 and rep.saved and len(seen) == 8
    first = Library.load(lib_dir)
    before = {e.path: first.vectors[i].copy() for i, e in enumerate(first.files)}
    gen1 = first.generation

    seen.clear()
    rep = embed_collection([collection], lib_dir, None)  # nothing changed: nothing read, nothing written
    assert not rep.saved and rep.unchanged == 8 and seen == []

    _music(collection / "song6.flac", seed=106)  # added
    changed = collection / "song1.flac"
    _music(changed, seed=999)  # changed content, same name
    (collection / "noise" / "street1.wav").unlink()  # deleted
    os.rename(collection / "song2.flac", collection / "renamed.flac")  # moved: same content, new path
    os.utime(collection / "song3.flac", ns=(1, 1))  # touched only: same bytes
    seen.clear()
    rep = embed_collection([collection], lib_dir, None)
    s = rep.summary()
    assert (s["added"], s["changed"], s["moved"], s["unchanged"], s["files"]) == (1, 1, 1, 5, 8)
    assert sorted(Path(p).name for p in rep.removed) == ["song2.flac", "street1.wav"]
    assert sorted(seen) == ["song1.flac", "song6.flac"]  # only new content is embedded
    lib = Library.load(lib_dir)
    assert lib.generation == gen1 + 1
    assert [p.name for p in lib_dir.iterdir() if p.name.startswith("gen-")] == [f"gen-{lib.generation:06d}"]
    now = {e.path: lib.vectors[i] for i, e in enumerate(lib.files)}
    assert np.array_equal(now[str(collection / "song0.flac")], before[str(collection / "song0.flac")])
    assert np.array_equal(now[str(collection / "renamed.flac")], before[str(collection / "song2.flac")])
    assert not np.allclose(now[str(changed)], before[str(changed)])
    assert str(collection / "noise" / "street1.wav") not in now
    # every entry's hash is its file's content hash, and its vector is the one a fresh library computes
    fresh = embed_collection([collection], tmp_path / "fresh", CFG).library
    f_by_path = {e.path: (e.hash, fresh.vectors[i]) for i, e in enumerate(fresh.files)}
    for i, e in enumerate(lib.files):
        assert f_by_path[e.path][0] == e.hash
        np.testing.assert_allclose(lib.vectors[i], f_by_path[e.path][1], rtol=1e-5, atol=1e-5)


def test_other_features_need_rebuild(collection: Path, tmp_path: Path) -> None:
    embed_collection([collection], tmp_path / "lib", CFG)
    with pytest.raises(LibraryError, match="other features .* --rebuild"):
        embed_collection([collection], tmp_path / "lib", EmbedConfig(features="handcrafted", describe=False))
    rep = embed_collection([collection], tmp_path / "lib", EmbedConfig(features="handcrafted", describe=False),
                           rebuild=True)
    assert rep.summary()["added"] == 8 and rep.library.config["features"] == "handcrafted"


def _copies(src: Path, folder: Path) -> dict[str, Path]:
    """Degraded copies of ``src``: Ogg Vorbis, 8 kHz, +3 dB, and MP3 128k / Opus 48k when ffmpeg is there."""
    y, sr = sf.read(src, dtype="float32")
    folder.mkdir(parents=True, exist_ok=True)
    out = {"ogg": folder / "copy.ogg", "8khz": folder / "copy-8k.wav", "+3dB": folder / "copy-loud.flac"}
    sf.write(out["ogg"], y, sr, format="OGG", subtype="VORBIS")
    sf.write(out["8khz"], resample(y, sr, 8000), 8000)
    sf.write(out["+3dB"], np.clip(y * 10 ** (3 / 20), -1, 1), sr)
    if shutil.which("ffmpeg"):
        for name, args, ext in (("mp3", ["-b:a", "128k"], ".mp3"), ("opus", ["-c:a", "libopus", "-b:a", "48k"], ".opus")):
            out[name] = folder / f"copy{ext}"
            subprocess.run(["ffmpeg", "-loglevel", "error", "-y", "-i", str(src), *args, str(out[name])], check=True)
    return out


def test_duplicates_found_for_reencoded_copies(collection: Path, tmp_path: Path) -> None:
    original = collection / "song0.flac"
    copies = _copies(original, collection / "copies")
    lib = embed_collection([collection], tmp_path / "lib", CFG).library
    groups = find_duplicates(lib)
    assert len(groups) == 1  # one recording in several files; nothing else is grouped
    assert set(groups[0].paths) == {str(original), *map(str, copies.values())}
    for p in collection.rglob("*"):
        assert p.exists()  # listed, never deleted
    # an identical copy is found by its bytes
    shutil.copy(collection / "song1.flac", collection / "song1 (copy).flac")
    lib = embed_collection([collection], tmp_path / "lib", None).library
    hows = {how for g in find_duplicates(lib) for _, _, _, how in g.pairs}
    assert "identical bytes" in hows


def test_fingerprint_separates_recordings() -> None:
    a = synth_music(10.0, fp.SAMPLE_RATE, seed=1)
    b = synth_music(10.0, fp.SAMPLE_RATE, seed=2)
    fa, fb = fp.fingerprint_signal(a), fp.fingerprint_signal(b)
    assert fp.match(fa, fa) == 1.0
    assert fp.match(fa, fp.fingerprint_signal(a * 1.41)) > 0.98  # gain changes nothing
    assert fp.match(fa, fb) < 0.65
    shifted = fp.fingerprint_signal(np.concatenate([np.zeros(800, np.float32), a]))  # 0.1 s later
    assert fp.match(fa, shifted) > 0.8
    assert fp.match(fa, np.zeros(0, np.uint16)) == 0.0


def test_similar_ranks_and_filters(collection: Path, tmp_path: Path) -> None:
    copies = _copies(collection / "song0.flac", tmp_path / "outside")
    lib = embed_collection([collection], tmp_path / "lib", CFG).library
    # a file in the library: itself left out; the other music is nearer than the noise
    found = similar(lib, collection / "song1.flac", k=7)
    assert all(n.path != str(collection / "song1.flac") for n in found)
    names = [Path(n.path).name for n in found]
    assert set(names[:5]) == {f"song{i}.flac" for i in (0, 2, 3, 4, 5)}
    assert [n.distance for n in found] == sorted(n.distance for n in found)
    # a file outside the library (embedded on the spot): its original comes first
    nn = similar(lib, copies["ogg"], k=1)
    assert nn[0].path == str(collection / "song0.flac") and nn[0].distance < found[0].distance
    with pytest.raises(LibraryError, match="genre is not known"):
        similar(lib, collection / "song1.flac", k=3, same_genre=True)


def test_labels_table_sets_genre_and_artist_for_filters(collection: Path, tmp_path: Path) -> None:
    table = tmp_path / "meta.csv"
    table.write_text("file,genre,artist\nsong0.flac,pop,A\nsong1.flac,pop,A\nsong2.flac,pop,B\nsong3.flac,jazz,B\n"
                     "song4.flac,jazz,D\nsong5.flac,jazz,D\nnoise/street0.wav,noise,C\nnoise/street1.wav,noise,C\n")
    from soundsort.dataset.table import LabelsTable

    lt = LabelsTable(str(table), path_column="file", label_column="genre", group_column="artist")
    lib = embed_collection([collection], tmp_path / "lib", CFG, labels_table=lt).library
    assert {Path(e.path).name: (e.genre, e.artist) for e in lib.files}["song3.flac"] == ("jazz", "B")
    found = similar(lib, collection / "song0.flac", k=5, same_genre=True)
    assert {Path(n.path).name for n in found} == {"song1.flac", "song2.flac"}
    found = similar(lib, collection / "song0.flac", k=5, same_genre=True, exclude_artist=True)
    assert [Path(n.path).name for n in found] == ["song2.flac"]


def test_cluster_separates_noise_from_music(collection: Path, tmp_path: Path) -> None:
    lib = embed_collection([collection], tmp_path / "lib", CFG).library
    res = cluster_library(lib, k=3)  # the noise, and the synthesizer's two kinds of song
    by_name = {Path(e.path).name: int(c) for e, c in zip(lib.files, res.labels)}
    noise = by_name["street0.wav"]
    assert {n for n, c in by_name.items() if c == noise} == {"street0.wav", "street1.wav"}
    assert [c.size for c in res.clusters] == sorted((c.size for c in res.clusters), reverse=True)
    assert res.map2d.shape == (8, 2) and np.isfinite(res.map2d).all()
    with pytest.raises(LibraryError):
        cluster_library(lib, k=9)
    auto = cluster_library(lib, auto=True, min_cluster_size=2)
    assert auto.labels.shape == (8,)


# ------------------------------------------------------------------------------------------ safe loading


class _Bomb:
    """Unpickling this creates a marker file: proof that code ran."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


def _generation(lib_dir: Path) -> Path:
    return lib_dir / json.loads((lib_dir / MANIFEST).read_text())["generation"]


def _recheck(lib_dir: Path) -> None:
    """Update the manifest's checksums to the files as they are now (a crafted, consistent folder)."""
    m = json.loads((lib_dir / MANIFEST).read_text())
    gen = lib_dir / m["generation"]
    m["checksums"] = {name: _sha256(gen / name) for name in m["checksums"]}
    (lib_dir / MANIFEST).write_text(json.dumps(m))


@pytest.fixture()
def small_lib(tmp_path: Path) -> Path:
    root = tmp_path / "c"
    for i in range(8):  # enough files for standardization statistics (stats.npy)
        _music(root / f"s{i}.wav", seed=300 + i, seconds=3.0)
    embed_collection([root], tmp_path / "lib", CFG)
    return tmp_path / "lib"


@pytest.mark.parametrize("target", ["vectors.npy", "files.faiss", "meta.sqlite", "tags.npy"])
def test_crafted_library_cannot_run_code(small_lib: Path, tmp_path: Path, target: str) -> None:
    marker = tmp_path / "pwned"
    gen = _generation(small_lib)
    with open(gen / target, "wb") as fh:
        if target.endswith(".npy"):
            np.save(fh, np.array([_Bomb(marker)], dtype=object), allow_pickle=True)
        else:
            pickle.dump(_Bomb(marker), fh)
    _recheck(small_lib)
    with pytest.raises(LibraryError) as e:
        Library.load(small_lib)
    assert target in str(e.value) and "\n" not in str(e.value)
    assert not marker.exists()


def test_damaged_files_give_one_clear_error(small_lib: Path) -> None:
    gen = _generation(small_lib)
    data = (gen / "meta.sqlite").read_bytes()
    (gen / "meta.sqlite").write_bytes(data[: len(data) // 2])
    with pytest.raises(LibraryError, match=r"meta\.sqlite: library file damaged or replaced"):
        Library.load(small_lib)
    (small_lib / MANIFEST).write_text("{not json")
    with pytest.raises(LibraryError, match="damaged manifest"):
        Library.load(small_lib)
    (small_lib / MANIFEST).write_text(json.dumps({"format": "soundsort-library", "version": 1,
                                                  "generation": "../../etc"}))
    with pytest.raises(LibraryError, match="invalid generation"):
        Library.load(small_lib)
    with pytest.raises(LibraryError, match="library folder not found"):
        Library.load(small_lib / "nope")


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(target=st.sampled_from(["vectors.npy", "segments.npy", "tags.npy", "stats.npy", "meta.sqlite", "files.faiss"]),
       where=st.floats(0.0, 1.0), cut=st.booleans(), byte=st.integers(0, 255))
def test_corrupted_and_rechecked_files_never_crash(small_lib: Path, target: str, where: float, cut: bool,
                                                   byte: int) -> None:
    gen = _generation(small_lib)
    path = gen / target
    original = path.read_bytes()
    try:
        pos = min(len(original) - 1, int(where * len(original)))
        data = original[:pos] if cut else original[:pos] + bytes([byte]) + original[pos + 1:]
        path.write_bytes(data)
        _recheck(small_lib)
        try:
            lib = Library.load(small_lib)
        except LibraryError as exc:
            assert "\n" not in str(exc)
        else:  # a harmless change (e.g. a float's low bits): the library still answers
            assert len(lib) == 8 and lib.file_index is not None
    finally:
        path.write_bytes(original)
        _recheck(small_lib)


def test_save_is_atomic_when_interrupted(small_lib: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    lib = Library.load(small_lib)
    before = (small_lib / MANIFEST).read_text()
    import soundsort.library.store as store

    def boom(*a, **k):
        raise KeyboardInterrupt

    monkeypatch.setattr(store, "write_json", boom)  # killed after the new generation, before the switch
    lib.files[0].genre = "changed"
    with pytest.raises(KeyboardInterrupt):
        lib.save()
    assert (small_lib / MANIFEST).read_text() == before
    again = Library.load(small_lib)
    assert again.files[0].genre is None and len(again) == 8


# ------------------------------------------------------------------------------------------ CLI


def test_cli_embed_similar_cluster_duplicates(collection: Path, tmp_path: Path) -> None:
    lib = tmp_path / "lib"
    r = run_cli("embed", str(collection), "-o", str(lib), "--features", "mfcc", "--no-describe", "-j", "1")
    assert r.returncode == 0, r.stderr
    assert "8 files (added 8" in r.stdout
    r = run_cli("embed", str(collection), "-o", str(lib), "-j", "1")
    assert r.returncode == 0 and "nothing to update" in r.stdout
    r = run_cli("similar", str(collection / "song0.flac"), "--library", str(lib), "-k", "3", "-f", "json")
    assert r.returncode == 0, r.stderr
    res = json.loads(r.stdout)
    assert len(res["neighbours"]) == 3 and {Path(n["path"]).name for n in res["neighbours"]} <= \
        {f"song{i}.flac" for i in range(1, 6)}
    r = run_cli("similar", str(collection / "song0.flac"), "--library", str(lib), "-k", "2")
    assert r.returncode == 0 and "distance" in r.stdout
    out = tmp_path / "clusters"
    dest = tmp_path / "sorted"
    r = run_cli("cluster", "--library", str(lib), "--k", "3", "-o", str(out), "--organize", str(dest))
    assert r.returncode == 0, r.stderr
    assert (out / "cluster_map.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "cluster_map.html").read_text()
    assert "<svg" in page and "src=" not in page and "http" not in page.replace("http://www.w3.org", "")
    for f in collection.rglob("*.*"):
        assert f.name in page
    doc = json.loads((out / "clusters.json").read_text())
    assert sum(c["size"] for c in doc["clusters"]) == 8
    assert sorted(Path(p).name for c in doc["clusters"] if len(c["paths"]) == 2 for p in c["paths"]) == \
        ["street0.wav", "street1.wav"]
    for c in doc["clusters"]:  # each cluster's files are in its folder
        assert sorted(p.name for p in (dest / folder_name(c["name"])).iterdir()) == sorted(Path(p).name for p in c["paths"])
    copied = sorted(p.name for p in dest.rglob("*.*"))
    assert copied == sorted(p.name for p in collection.rglob("*.*"))
    assert all(p.exists() for p in collection.rglob("*.*"))  # copy mode: sources stay
    r = run_cli("cluster", "--library", str(lib), "--k", "3", "-o", str(out), "--organize", str(dest))
    assert r.returncode == 0 and sorted(p.name for p in dest.rglob("*.*")) == copied  # no second copies
    r = run_cli("duplicates", "--library", str(lib), "-f", "json")
    assert r.returncode == 0 and json.loads(r.stdout)["groups"] == []
    # one-line errors
    r = run_cli("similar", str(collection / "song0.flac"), "--library", str(tmp_path / "none"))
    assert r.returncode == 3 and r.stderr.count("\n") == 1 and "library folder not found" in r.stderr
    r = run_cli("cluster", "--library", str(lib))
    assert r.returncode == 3 and "--k N" in r.stderr


# ------------------------------------------------------------------------------------------ with the models


@pytest.mark.slow
def test_described_library_with_music_segments(tmp_path: Path) -> None:
    """The bundled models give music share, timeline segments and genre; segments are searchable."""
    from soundsort.examples import make_mixed_recording

    root = tmp_path / "c"
    root.mkdir()
    truth = make_mixed_recording(root / "show.flac", [("speech", 8.0), ("music", 12.0), ("noise", 6.0),
                                                      ("music", 9.0)], seed=3)
    _music(root / "song.flac", seed=5, seconds=12.0)
    _noise(root / "street.wav", seed=6, seconds=8.0)
    rep = embed_collection([root], tmp_path / "lib", EmbedConfig(features="yamnet", segments=True), jobs=1)
    lib = rep.library
    by_name = {Path(e.path).name: (i, e) for i, e in enumerate(lib.files)}
    show_row, show = by_name["show.flac"]
    music_truth = sum(t["end"] - t["start"] for t in truth if t["kind"] == "music") / truth[-1]["end"]
    assert abs(show.music_share - music_truth) < 0.2
    assert by_name["song.flac"][1].music_share > 0.8 and by_name["street.wav"][1].music_share < 0.3
    assert by_name["song.flac"][1].genre is not None and by_name["street.wav"][1].genre is None
    assert all(len(e.tags) == 5 for e in lib.files)  # YAMNet's AudioSet classes, from the same pass
    spans = [(s.start, s.end) for s in lib.segments if s.file == show_row]
    assert 1 <= len(spans) <= 3
    for a, b in spans:  # each music segment of the show overlaps a true music part
        assert any(min(b, t["end"]) - max(a, t["start"]) > 2.0 for t in truth if t["kind"] == "music")
    found = similar(lib, root / "song.flac", k=2, segments=True)
    assert found and all(n.start is not None and n.end > n.start for n in found)
    assert all(n.path != str(root / "song.flac") for n in found)


def test_one_update_at_a_time(collection: Path, tmp_path: Path) -> None:
    import fcntl

    lib_dir = tmp_path / "lib"
    lib_dir.mkdir()
    with open(lib_dir / ".lock", "w") as fh:
        fcntl.flock(fh.fileno(), fcntl.LOCK_EX)  # another process holds the library
        with pytest.raises(LibraryError, match="another soundsort embed is updating this library"):
            embed_collection([collection], lib_dir, CFG)
    assert embed_collection([collection], lib_dir, CFG).saved


# ------------------------------------------------------------------ a library folder written by the previous version

LEGACY = Path(__file__).parent / "fixtures" / "legacy_39e03ba"


@pytest.mark.parametrize("name, kind", [("library", "flat"), ("library-hnsw", "hnsw")])
def test_library_written_by_the_previous_version_loads_answers_and_updates(name: str, kind: str, tmp_path: Path,
                                                                           monkeypatch: pytest.MonkeyPatch) -> None:
    """``fixtures/legacy_39e03ba/library*`` were written by commit 39e03ba (``make_library_and_index.py``: MFCC
    statistics of the eight clips of ``collection/``, no descriptions, z-score statistics, a flat and an HNSW
    index). They load, give the recorded neighbours, hold the vectors today's analysis computes, and update in
    place: every file is found by its content hash, nothing is embedded again, no ``--rebuild`` asked for."""
    want = json.loads((LEGACY / "library-expected.json").read_text())
    lib_dir, coll = tmp_path / "lib", tmp_path / "collection"
    shutil.copytree(LEGACY / name, lib_dir)
    shutil.copytree(LEGACY / "collection", coll)
    lib = Library.load(lib_dir)
    assert lib.generation == 1 and lib.stats is not None and lib.file_index.kind == kind
    assert [(Path(e.path).name, e.hash, e.duration) for e in lib.files] == \
           [(f["path"], f["hash"], f["duration"]) for f in want["files"]]
    assert [float(np.float64(v).sum()) for v in lib.vectors] == pytest.approx([f["vector_sum"] for f in want["files"]],
                                                                              rel=1e-12)
    for clip, hits in want["similar" if kind == "flat" else "similar_hnsw"].items():
        got = similar(lib, coll / clip, k=7)
        assert [Path(n.path).name for n in got] == [h[0] for h in hits], clip
        assert [n.similarity for n in got] == pytest.approx([h[1] for h in hits], abs=2e-6), clip
    analyser = Analyser(lib.config, cache=False)  # today's analysis of each clip gives the stored vector
    for i, e in enumerate(lib.files):
        np.testing.assert_allclose(analyser.analyse(str(coll / Path(e.path).name))["vector"], lib.vectors[i],
                                   rtol=1e-5, atol=1e-5)

    seen = _count_analyses(monkeypatch)
    rep = embed_collection([coll], lib_dir, None)
    s = rep.summary()
    assert (s["added"], s["changed"], s["moved"], s["failed"]) == (0, 0, 8, 0) and seen == []
    again = Library.load(lib_dir)
    assert again.generation == 2 and again.config == lib.config
    old_vectors = {e.hash: lib.vectors[i] for i, e in enumerate(lib.files)}
    mine = [(i, e) for i, e in enumerate(again.files) if Path(e.path).parent == coll]
    assert len(mine) == 8
    for i, e in mine:
        assert np.array_equal(again.vectors[i], old_vectors[e.hash])
