"""organize: genre folders, dry runs, collisions, confidence, non-music, and a move killed mid-run."""

from __future__ import annotations

import hashlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.examples import synth_music, synth_speech
from soundsort.inference.filetags import read_genre, write_genre
from soundsort.inference.organize import Action, execute, plan
from tests.conftest import run_cli

SR = 16000


def digest(p: Path) -> str:
    return hashlib.sha256(p.read_bytes()).hexdigest()


def make_collection(root: Path, n_music: int = 3, n_speech: int = 2, seconds: float = 4.0) -> dict[str, str]:
    """Files under root (some in sub-folders); returns {digest: name}."""
    (root / "a").mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(n_music):
        p = root / ("a" if i % 2 else ".") / f"song{i:02d}.flac"
        sf.write(p, synth_music(seconds, SR, seed=300 + i), SR)
        out[digest(p)] = p.name
    for i in range(n_speech):
        p = root / f"talk{i:02d}.wav"
        sf.write(p, synth_speech(seconds, SR, seed=400 + i), SR)
        out[digest(p)] = p.name
    return out


def all_files(*roots: Path) -> list[Path]:
    return [p for r in roots if r.exists() for p in r.rglob("*") if p.is_file() and not p.name.startswith(".")]


def test_copy_dry_run_and_real(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    before = make_collection(src)
    dry = run_cli("organize", str(src), str(dest), "--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert not dest.exists()  # a dry run touches nothing
    assert sum(line.startswith("copy") for line in dry.stdout.splitlines()) == 3
    assert sum(line.startswith("leave") for line in dry.stdout.splitlines()) == 2
    res = run_cli("organize", str(src), str(dest))
    assert res.returncode == 0, res.stderr
    copied = all_files(dest)
    assert len(copied) == 3 and all(p.parent.parent == dest for p in copied)
    assert {digest(p) for p in copied} <= set(before)
    assert {digest(p) for p in all_files(src)} == set(before)  # copy: the sources are untouched
    # a second run finds the identical copies in place and makes no duplicates
    again = run_cli("organize", str(src), str(dest))
    assert again.returncode == 0 and len(all_files(dest)) == 3


def test_unsure_and_non_music_aside(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    make_collection(src, n_music=2, n_speech=1)
    res = run_cli("organize", str(src), str(dest), "--min-confidence", "1.01", "--non-music", "aside", "--mode", "link")
    assert res.returncode == 0, res.stderr
    assert sorted(p.name for p in (dest / "unsure").iterdir()) == ["song00.flac", "song01.flac"]
    assert [p.name for p in (dest / "non-music").iterdir()] == ["talk00.wav"]
    assert os.path.samefile(dest / "non-music" / "talk00.wav", src / "talk00.wav")  # hard link


def test_collisions_never_overwrite(tmp_path: Path) -> None:
    src = tmp_path / "src"
    src.mkdir()
    a = src / "x.wav"
    sf.write(a, np.ones(1000, np.float32) * 0.1, SR)
    folder = tmp_path / "dest" / "jazz"
    folder.mkdir(parents=True)
    (folder / "x.wav").write_bytes(b"someone else's file")
    (folder / "x (1).wav").write_bytes(b"another one")
    final = execute(Action(a, folder, "copy", "test"))
    assert final == folder / "x (2).wav" and digest(final) == digest(a)
    assert (folder / "x.wav").read_bytes() == b"someone else's file"
    assert (folder / "x (1).wav").read_bytes() == b"another one"
    moved = execute(Action(a, folder, "move", "test"))  # identical copy there: source just removed
    assert moved == folder / "x (2).wav" and not a.exists()


def test_plan_rules() -> None:
    recs = [{"path": "/m.mp3", "status": "ok", "label": "music", "music_share": 0.9,
             "genre": [{"label": "rock/pop?", "probability": 0.8}]},
            {"path": "/u.mp3", "status": "ok", "label": "music", "music_share": 0.9,
             "genre": [{"label": "jazz", "probability": 0.3}]},
            {"path": "/s.mp3", "status": "ok", "label": "non-music", "music_share": 0.1, "genre": None},
            {"path": "/e.mp3", "status": "error", "error": "bad"}]
    acts = plan(recs, "/d", mode="move", min_confidence=0.5)
    assert [(a.kind, a.folder) for a in acts] == [("move", Path("/d/rock_pop_")), ("move", Path("/d/unsure")),
                                                  ("leave", None), ("leave", None)]


def test_move_killed_mid_run_loses_nothing(tmp_path: Path) -> None:
    # sources on another file system when one is at hand, so moves are copy + fsync + unlink (slower,
    # and the riskier path); otherwise hard link + unlink
    shm = Path("/dev/shm")
    base = Path(tempfile.mkdtemp(dir=shm)) if shm.is_dir() and os.access(shm, os.W_OK) else tmp_path
    try:
        src, dest = base / "src", tmp_path / "dest"
        before = make_collection(src, n_music=24, n_speech=2, seconds=6.0)
        # classify first (resumable state in DEST), so the kill lands in the moving phase
        proc = subprocess.Popen([sys.executable, "-m", "soundsort", "organize", str(src), str(dest), "--mode", "move"],
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert proc.stdout is not None
        seen = 0
        deadline = time.time() + 300
        for line in proc.stdout:
            if line.startswith("move"):
                seen += 1
                if seen == 3:
                    proc.send_signal(signal.SIGKILL)
                    break
            if time.time() > deadline:
                break
        proc.wait()
        assert seen == 3
        # nothing lost: every original file's content is somewhere, and some music was not moved yet
        survivors = {digest(p) for p in all_files(src, dest)}
        assert set(before) <= survivors
        assert any(p.name.startswith("song") for p in all_files(src))
        # a rerun finishes the job: every song moved exactly once, speech left in place
        res = run_cli("organize", str(src), str(dest), "--mode", "move")
        assert res.returncode == 0, res.stderr
        moved = all_files(dest)
        assert sorted(p.name for p in moved) == sorted(n for n in before.values() if n.startswith("song"))
        assert {digest(p) for p in moved} | {digest(p) for p in all_files(src)} == set(before)
        assert sorted(p.name for p in all_files(src)) == ["talk00.wav", "talk01.wav"]
        assert not [p for p in dest.rglob(".*soundsort-tmp*")]
    finally:
        if base != tmp_path:
            shutil.rmtree(base, ignore_errors=True)


@pytest.mark.parametrize("name,writer", [
    ("a.mp3", lambda p: sf.write(p, synth_music(2.0, SR, seed=1), SR, format="MP3")),
    ("a.flac", lambda p: sf.write(p, synth_music(2.0, SR, seed=1), SR)),
    ("a.ogg", lambda p: sf.write(p, synth_music(2.0, SR, seed=1), SR, format="OGG")),
    ("a.wav", lambda p: sf.write(p, synth_music(2.0, SR, seed=1), SR)),
])
def test_write_genre_keeps_other_tags(tmp_path: Path, name: str, writer) -> None:
    import mutagen

    path = tmp_path / name
    writer(path)
    if not name.endswith(".wav"):
        f = mutagen.File(path, easy=True)
        if f.tags is None:
            f.add_tags()
        f["artist"] = ["Some Artist"]
        f["title"] = ["A Title"]
        f.save()
    write_genre(path, "jazz")
    assert read_genre(path) == "jazz"
    if not name.endswith(".wav"):
        f = mutagen.File(path, easy=True)
        assert f["artist"] == ["Some Artist"] and f["title"] == ["A Title"]
    y, _ = sf.read(path)
    assert len(y) > 0  # still audio


def test_write_genre_m4a(tmp_path: Path) -> None:
    import mutagen

    from tests.test_audio import encode_with_pyav

    path = tmp_path / "a.m4a"
    encode_with_pyav(path, synth_music(2.0, 22050, seed=2), 22050, "aac", "mp4")
    f = mutagen.File(path, easy=True)
    f["artist"] = ["X"]
    f.save()
    write_genre(path, "blues")
    assert read_genre(path) == "blues" and mutagen.File(path, easy=True)["artist"] == ["X"]


def test_classify_write_tags_cli(tmp_path: Path) -> None:
    path = tmp_path / "song.flac"
    sf.write(path, synth_music(8.0, 22050, seed=31), 22050)
    res = run_cli("classify", str(path), "--format", "jsonl")
    assert res.returncode == 0 and read_genre(path) is None  # only when asked
    res = run_cli("classify", str(path), "--format", "jsonl", "--write-tags")
    assert res.returncode == 0, res.stderr
    import json

    assert read_genre(path) == json.loads(res.stdout)["genre"][0]["label"]
