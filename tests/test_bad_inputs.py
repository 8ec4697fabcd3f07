"""Bad input never stops a batch: the generated bad-input corpus (tests/badinput.py) through every command.

For each of classify, predict, tags, index and organize, one run over the whole corpus (bad files, odd
entries and good files side by side) must give: no traceback, no hang (every run has a timeout), exactly
one stderr line for each bad input naming it and giving the reason, and every good file still processed.
Crafted model folders give one line naming the wrong field and execute nothing. Killing ``classify -j 2``
with SIGKILL leaves no worker behind, and temporary files a killed run left are removed by the next one.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.examples import synth_music
from soundsort.inference.classify import DEFAULT_GENRE_MODEL, DEFAULT_MUSIC_MODEL
from tests.badinput import AudioCorpus, make_audio_corpus, make_model_corpus, remove_tree, shown

TIMEOUT = 240  # seconds for one command over the whole corpus: far above what it needs, far below a hang
#: stderr lines that are not about one file: summaries and notices
SUMMARY = re.compile(r"^(\d+ of \d+ files failed|\d+ files failed|(done|plan): .*|tags not written .*|resuming: .*)$")


def soundsort(*args: str | os.PathLike[str], cwd: Path | None = None,
              timeout: float = TIMEOUT) -> subprocess.CompletedProcess:
    """Run the CLI as a user would; stdout and stderr as text (undecodable bytes escaped)."""
    res = subprocess.run([sys.executable, "-m", "soundsort", *map(os.fspath, args)], capture_output=True,
                         cwd=cwd, timeout=timeout)
    return subprocess.CompletedProcess(res.args, res.returncode, res.stdout.decode("utf-8", "surrogateescape"),
                                       res.stderr.decode("utf-8", "backslashreplace"))


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("bad-corpus")
    c = make_audio_corpus(root / "c")
    yield c
    remove_tree(root)


def check_errors(c: AudioCorpus, stderr: str, *, extras: bool = True, prefix: str = "soundsort: ",
                 relative: bool = False) -> None:
    """No traceback; every stderr line is about one bad input or a summary; each bad input has exactly one
    line, naming it (relative to the corpus with ``relative``) and matching its reason; good files have none."""

    def name(p: Path) -> str:
        return shown(p.relative_to(c.root) if relative else p)

    assert "Traceback" not in stderr, stderr[-3000:]
    lines = stderr.splitlines()
    strays = [ln for ln in lines if not ln.startswith(prefix) and not SUMMARY.match(ln)]
    assert not strays, f"lines that are neither one file's error nor a summary: {strays[:5]}"
    for b in c.bad:
        if not b.in_folder and not extras:
            continue
        start = prefix + name(b.path) + ": "
        mine = [ln for ln in lines if ln.startswith(start)]
        assert len(mine) == 1, f"{b.kind}: expected one line starting {start!r}, got {mine}"
        reason = mine[0][len(start):]
        assert re.search(b.reason, reason), f"{b.kind}: reason {reason!r} does not match {b.reason!r}"
    deep = [ln for ln in lines if ln.startswith(prefix + name(c.deep_dir) + ": ")]
    assert len(deep) == 1 and "cannot list folder: file name too long" in deep[0]
    for g in c.good:
        assert not [ln for ln in lines if name(g) in ln], f"a good file has an error line: {name(g)}"


def test_the_corpus_is_big_and_real(corpus: AudioCorpus) -> None:
    kinds = corpus.kinds()
    assert len(kinds) >= 40 and len(set(kinds)) == len(kinds)
    assert all(os.path.lexists(b.path) for b in corpus.bad if b.in_folder)
    assert len(corpus.good) >= 8
    from soundsort.audio import info

    for g in corpus.good:  # the good files really are audio
        assert info(g).duration > 1.0


def test_classify_csv_and_table(corpus: AudioCorpus, tmp_path: Path) -> None:
    out = tmp_path / "out.csv"
    res = soundsort("classify", corpus.root, *corpus.extras(), "-j", "2", "-f", "csv", "-o", out)
    assert res.returncode == 1
    check_errors(corpus, res.stderr)
    import csv

    with open(out, encoding="utf-8", errors="surrogateescape", newline="") as fh:
        rows = {r["path"]: r for r in csv.DictReader(fh)}
    for g in corpus.good:
        assert rows[str(g)]["status"] == "ok", str(g)
    for b in corpus.bad:
        assert rows[str(b.path)]["status"] == "error", b.kind
    assert rows[str(corpus.root / "good" / "song.flac")]["label"] == "music"
    assert rows[str(corpus.root / "good" / "talk.wav")]["label"] == "non-music"
    # the table view lists every good file, a name that is not UTF-8 included
    table = soundsort("classify", corpus.root, "-j", "2", "--no-genre")
    assert table.returncode == 1
    check_errors(corpus, table.stderr, extras=False)
    for g in corpus.good:
        assert shown(g.name) in table.stdout, g.name


def test_predict_json_and_csv(corpus: AudioCorpus, tmp_path: Path) -> None:
    out = tmp_path / "pred.csv"
    res = soundsort("predict", corpus.root, *corpus.extras(), "-m", DEFAULT_MUSIC_MODEL, "-f", "csv", "-o", out)
    assert res.returncode == 1
    check_errors(corpus, res.stderr)
    text = out.read_bytes().decode("utf-8", "surrogateescape")
    for g in corpus.good:
        assert str(g) in text, str(g)
    assert "1e30.wav" not in text  # no probability made up from overflowing samples


def test_tags(corpus: AudioCorpus) -> None:
    res = soundsort("tags", corpus.root, *corpus.extras(), "--tagger", "yamnet", "-f", "json", "--top", "2")
    assert res.returncode == 1
    check_errors(corpus, res.stderr)
    tagged = {d["path"] for d in json.loads(res.stdout)}
    assert tagged == {str(g) for g in corpus.good}


def test_index(corpus: AudioCorpus, tmp_path: Path) -> None:
    out = tmp_path / "index.json"
    res = soundsort("index", corpus.root, "-o", out)
    assert res.returncode == 0, res.stderr  # an index was written; the bad files are listed in it
    check_errors(corpus, res.stderr, extras=False, prefix="skipped ", relative=True)
    doc = json.loads(out.read_text())
    assert sorted(it["path"] for it in doc["items"]) == sorted(
        str(g.relative_to(corpus.root)) for g in corpus.good)


def test_organize_copies_the_good_and_names_the_bad(corpus: AudioCorpus, tmp_path: Path) -> None:
    dest = tmp_path / "sorted"
    res = soundsort("organize", corpus.root, dest, "-j", "2")
    assert res.returncode == 1
    check_errors(corpus, res.stderr, extras=False)
    placed = [p for p in dest.rglob("*") if p.is_file() and not p.name.startswith(".")]
    music = [g for g in corpus.good if g.name not in ("talk.wav", "quiet.au", "u8.wav")]
    assert sorted(p.name for p in placed) == sorted(g.name for g in music)
    assert not [p for p in dest.rglob("*soundsort-tmp*")]


# ---------------------------------------------------------------------------------------------- organize


def test_organize_refuses_its_own_source_and_an_unwritable_destination(tmp_path: Path) -> None:
    inbox = tmp_path / "C" / "inbox"
    inbox.mkdir(parents=True)
    sf.write(inbox / "song.flac", synth_music(3.0, 16000, seed=1), 16000)
    (tmp_path / "a-file").write_text("not a folder")
    for dest, reason in ((inbox, "the destination is the source folder"),
                         (tmp_path / "C", "the destination holds the source folder"),
                         (inbox / "..", "the destination holds the source folder"),
                         (tmp_path / "a-file" / "dest", "cannot write the destination")):
        res = soundsort("organize", inbox, dest)
        assert res.returncode == (3 if "cannot write" in reason else 2) and "Traceback" not in res.stderr
        assert res.stderr.count("\n") == 1 and reason in res.stderr, res.stderr
    assert [p.name for p in inbox.iterdir()] == ["song.flac"]


def test_organize_odd_genre_labels_leftovers_and_identical_files(tmp_path: Path) -> None:
    import shutil

    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    for i in range(2):
        sf.write(src / f"song{i}.flac", synth_music(4.0, 16000, seed=40 + i), 16000)
    long_model, number_model = tmp_path / "long-labels", tmp_path / "number-labels"
    for folder, labels in ((long_model, lambda ls: [f"{x}/../{'é' * 300}" for x in ls]),
                           (number_model, lambda ls: list(range(len(ls))))):
        shutil.copytree(DEFAULT_GENRE_MODEL, folder)
        card = json.loads((folder / "model.json").read_text())
        card["labels"] = labels(card["labels"])
        (folder / "model.json").write_text(json.dumps(card))
    res = soundsort("organize", src, dest, "--genre-model", number_model)
    assert res.returncode == 3 and res.stderr.count("\n") == 1
    assert "number-labels: model.json: labels[0]: must be a string, not 0" in res.stderr
    # a partial copy a killed run left (its process is gone) and a user's own dotfile
    folder = dest / "jazz"
    folder.mkdir(parents=True)
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    partial = folder / f".song0.flac.soundsort-tmp-{gone.pid}"
    partial.write_bytes(b"half a song")
    mine = folder / ".notes.soundsort-tmp-mine"
    mine.write_text("mine")
    res = soundsort("organize", src, dest, "--genre-model", long_model, "--mode", "move", "-j", "1")
    assert res.returncode == 0, res.stderr
    assert "removed 1 partial copy left by an interrupted run" in res.stderr and not partial.exists()
    assert mine.read_text() == "mine"
    folders = [p for p in dest.iterdir() if p.is_dir() and p.name != "jazz"]
    assert folders and all(len(os.fsencode(p.name)) <= 100 and p.parent == dest for p in folders)
    assert sorted(p.name for f in folders for p in f.iterdir()) == ["song0.flac", "song1.flac"]
    # the same content already there under the same name: the source is removed, and that is said
    for p in [p for f in folders for p in f.iterdir()]:
        shutil.copy2(p, src / p.name)
    res = soundsort("organize", src, dest, "--genre-model", long_model, "--mode", "move", "-j", "1")
    assert res.returncode == 0, res.stderr
    assert res.stdout.count("already there: identical content, source removed") == 2
    assert not list(src.iterdir())


# ---------------------------------------------------------------------------------------------- model folders


def test_crafted_model_folders_one_line_naming_the_field(tmp_path: Path) -> None:
    from soundsort.errors import SoundsortError
    from soundsort.inference.classify import ClassifyConfig, Classifier
    from soundsort.inference.predict import Predictor

    models = make_model_corpus(tmp_path / "models", DEFAULT_MUSIC_MODEL)
    assert len(models) >= 25
    for m in models:
        for load in (lambda f: Predictor(f), lambda f: Classifier(f, config=ClassifyConfig(genre=False)),
                     lambda f: Classifier(None, f)):
            with pytest.raises(SoundsortError) as err:
                load(m.folder)
            msg = str(err.value)
            assert "\n" not in msg and msg.startswith(str(m.folder) + ": "), msg
            assert re.search(m.reason, msg), f"{m.kind}: {msg!r} does not match {m.reason!r}"
    assert not (tmp_path / "models" / "PWNED").exists()  # nothing was unpickled or run
    # and through the command line, as a user meets it
    song = tmp_path / "song.wav"
    sf.write(song, synth_music(3.0, 16000, seed=2), 16000)
    by_kind = {m.folder.name: m for m in models}
    for args, name in ((("predict", song, "-m"), "list"), (("predict", song, "-m"), "threshold-string"),
                       (("classify", song, "-m"), "ensemble-self"), (("classify", song, "--genre-model"), "nested"),
                       (("classify", song, "--genre-model"), "skops-evil")):
        m = by_kind[name]
        res = soundsort(*args, m.folder, timeout=120)
        assert res.returncode == 3 and res.stderr.count("\n") == 1 and "Traceback" not in res.stderr, res.stderr
        assert res.stderr.startswith(f"soundsort: {m.folder}: ") and re.search(m.reason, res.stderr)
    assert not (tmp_path / "models" / "PWNED").exists()


# ---------------------------------------------------------------------------------------------- kill -9


def _children(pid: int) -> set[int]:
    found: set[int] = set()
    try:
        tasks = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return found
    for task in tasks:
        try:
            found |= {int(x) for x in Path(f"/proc/{pid}/task/{task}/children").read_text().split()}
        except OSError:
            continue
    return found


def _descendants(pid: int) -> set[int]:
    found: set[int] = set()
    todo = [pid]
    while todo:
        new = _children(todo.pop()) - found
        found |= new
        todo.extend(new)
    return found


def _running(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="needs Linux /proc")
def test_sigkill_of_classify_leaves_no_worker(tmp_path: Path) -> None:
    for i in range(6):
        sf.write(tmp_path / f"clip{i}.flac", synth_music(20.0, 16000, seed=60 + i), 16000)
    proc = subprocess.Popen([sys.executable, "-m", "soundsort", "classify", str(tmp_path), "-j", "2", "-f", "jsonl",
                             "--no-genre"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    workers: set[int] = set()
    try:
        # -j 2: this process and one worker, a child of the fork server (itself a child of the command)
        deadline = time.time() + 120
        while time.time() < deadline and not (workers - _children(proc.pid)) and proc.poll() is None:
            workers = _descendants(proc.pid)
            time.sleep(0.05)
        assert workers - _children(proc.pid), "classify -j 2 did not start a worker"
        assert proc.stdout is not None and proc.stdout.readline()  # the workers are at work
        workers = _descendants(proc.pid)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=30)
        deadline = time.time() + 5
        while time.time() < deadline and any(_running(w) for w in workers):
            time.sleep(0.05)
        survivors = [w for w in workers if _running(w)]
        assert not survivors, f"workers {survivors} outlived their parent"
    finally:
        for w in workers:  # never leave one behind, even when the test fails
            if _running(w):
                os.kill(w, signal.SIGKILL)
        if proc.poll() is None:
            proc.kill()


def test_temporary_file_of_a_killed_writer_is_removed_next_run(tmp_path: Path) -> None:
    out = tmp_path / "results.json"
    song = tmp_path / "song.flac"
    sf.write(song, synth_music(3.0, 16000, seed=3), 16000)
    writer = subprocess.Popen([sys.executable, "-c", (
        "import sys, time\n"
        "from soundsort.atomic import atomic_open\n"
        f"with atomic_open({str(out)!r}, 'w') as fh:\n"
        "    fh.write('[{\"path\": \"half')\n"
        "    fh.flush()\n"
        "    print('writing', flush=True)\n"
        "    time.sleep(120)\n")], stdout=subprocess.PIPE, text=True)
    try:
        assert writer.stdout is not None and writer.stdout.readline().strip() == "writing"
        writer.send_signal(signal.SIGKILL)
        writer.wait(timeout=30)
    finally:
        if writer.poll() is None:
            writer.kill()
    left = [p for p in tmp_path.iterdir() if p.name.startswith(".results.json.")]
    assert len(left) == 1 and not out.exists()
    other = tmp_path / ".results.json.mine.tmp"  # not soundsort's naming: left alone
    other.write_text("mine")
    res = soundsort("classify", song, "-f", "json", "-o", out, "--resume", "-j", "1", "--no-genre", timeout=120)
    assert res.returncode == 0, res.stderr
    assert f"removed 1 temporary file left by an interrupted run ({left[0].name})" in res.stderr
    assert not left[0].exists() and other.read_text() == "mine"
    assert json.loads(out.read_text())[0]["status"] == "ok"


# ---------------------------------------------------------------------------------------------- small cases


def test_write_tags_on_a_format_without_tags_fails_the_run(tmp_path: Path) -> None:
    song = tmp_path / "song.au"
    sf.write(song, synth_music(4.0, 16000, seed=4), 16000, format="AU", subtype="PCM_16")
    res = soundsort("classify", song, "--write-tags", "-f", "jsonl", "-j", "1", timeout=120)
    assert res.returncode == 1 and json.loads(res.stdout)["status"] == "ok"
    assert f"soundsort: {song}: cannot write tags: no tag format known for .au files" in res.stderr
    assert "Traceback" not in res.stderr


def test_a_wav_cut_while_it_is_read_is_truncated(tmp_path: Path) -> None:
    from soundsort.audio import stream
    from soundsort.errors import AudioError

    path = tmp_path / "growing.wav"
    sf.write(path, np.tile(synth_music(2.0, 16000, seed=5), 5), 16000)
    blocks = stream(path, 16000, block_seconds=1.0)
    next(blocks)
    os.truncate(path, path.stat().st_size // 2)
    with pytest.raises(AudioError, match=r"truncated: decoded [\d.]+ s of 10\.0 s declared"):
        for _ in blocks:
            pass
