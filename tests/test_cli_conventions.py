"""The command line as users of inaSpeechSegmenter, beets and scikit-learn expect it (issue 16): timeline
exports read back, a genre per music segment, formats from -o's extension, exit codes, fail-fast paths that
load no model, a config file, paths from stdin, tags dry runs, training without --output, reports."""

from __future__ import annotations

import csv
import io
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.examples import synth_music, synth_speech
from soundsort.inference.exports import read_audacity, read_segments, read_textgrid
from soundsort.inference.schema import CSV_COLUMNS, RECORD_SCHEMA
from tests.conftest import run_cli

SR = 22050
#: two synthesized pieces the bundled genre model hears as different genres (reggae, classical)
PIECE_A, PIECE_B = 0, 4


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """A broadcast (speech, piece A, speech, piece B), the two pieces alone, and a broken file."""
    root = tmp_path_factory.mktemp("conventions")
    a, b = synth_music(20.0, SR, seed=PIECE_A), synth_music(20.0, SR, seed=PIECE_B)
    (root / "pieces").mkdir()
    sf.write(root / "pieces" / "a.wav", a, SR)
    sf.write(root / "pieces" / "b.wav", b, SR)
    (root / "show").mkdir()
    broadcast = np.concatenate([synth_speech(8.0, SR, seed=1), a, synth_speech(8.0, SR, seed=2), b])
    sf.write(root / "show" / "broadcast.flac", broadcast, SR)
    (root / "bad").mkdir()
    (root / "bad" / "broken.wav").write_bytes(b"RIFF" + b"\x00" * 40)
    return {"root": root, "a": root / "pieces" / "a.wav", "b": root / "pieces" / "b.wav",
            "broadcast": root / "show" / "broadcast.flac", "broken": root / "bad" / "broken.wav"}


@pytest.fixture(scope="module")
def records(audio: dict[str, Path]) -> dict[str, dict]:
    res = run_cli("classify", str(audio["broadcast"]), str(audio["a"]), str(audio["b"]), "-f", "json", "-j", "1")
    assert res.returncode == 0, res.stderr
    return {Path(r["path"]).name: r for r in json.loads(res.stdout)}


# ---------------------------------------------------------------------------------------------- genre per segment

def test_each_music_segment_gets_its_own_genre(records: dict[str, dict]) -> None:
    jsonschema = pytest.importorskip("jsonschema")
    show = records["broadcast.flac"]
    for r in records.values():
        jsonschema.validate(r, RECORD_SCHEMA)
    genre_a, genre_b = records["a.wav"]["genre"][0]["label"], records["b.wav"]["genre"][0]["label"]
    assert genre_a != genre_b  # the two pieces really are heard as two genres
    assert [s["label"] for s in show["timeline"]] == ["non-music", "music", "non-music", "music"]
    music = [s for s in show["timeline"] if s["label"] == "music"]
    assert [s["genre"][0]["label"] for s in music] == [genre_a, genre_b]  # the broadcast names both
    assert all(s["genre"] is None and s["genre_windows"] == 0 for s in show["timeline"] if s["label"] != "music")
    assert all(s["genre_windows"] >= 3 and len(s["genre"]) == 3 for s in music)
    # the file keeps its genre from all of its music, at most ten windows
    assert show["genre"] and show["genre_windows"] <= 10
    assert sum(s["genre_windows"] for s in music) >= show["genre_windows"]
    assert show["genre"][0]["label"] in {genre_a, genre_b} | {g["label"] for s in music for g in s["genre"]}


# ---------------------------------------------------------------------------------------------- exports

def test_segments_audacity_and_textgrid_read_back_as_the_timeline(audio: dict[str, Path], records: dict[str, dict],
                                                                  tmp_path: Path) -> None:
    show = records["broadcast.flac"]
    path = str(audio["broadcast"])
    labels, grid, segs, plots = tmp_path / "show.txt", tmp_path / "show.TextGrid", tmp_path / "s.csv", tmp_path / "p"
    for out, extra in ((labels, ()), (grid, ()), (segs, ("-f", "segments", "--plot", str(plots)))):
        res = run_cli("classify", path, "-o", str(out), "-j", "1", *extra)
        assert res.returncode == 0, res.stderr
    timeline = show["timeline"]
    track = read_audacity(labels.read_text())
    assert [(t["start"], t["end"], t["label"]) for t in track] == [
        (pytest.approx(s["start"], abs=1e-6), pytest.approx(s["end"], abs=1e-6), s["label"]) for s in timeline]
    assert [t["genre"] for t in track] == [s["genre"][0]["label"] if s["genre"] else None for s in timeline]
    tiers = read_textgrid(grid.read_text())
    assert [iv["text"] for iv in tiers["music"]] == [s["label"] for s in timeline]
    assert [(iv["start"], iv["end"]) for iv in tiers["music"]] == [
        pytest.approx((s["start"], s["end"]), abs=1e-6) for s in timeline]
    assert tiers["music"][-1]["end"] == pytest.approx(show["duration"], abs=1e-3)
    assert [iv["text"] for iv in tiers["genre"]] == [s["genre"][0]["label"] if s["genre"] else "" for s in timeline]
    rows = read_segments(segs.read_text())[path]
    assert [(r["start"], r["end"], r["label"], r["genre"]) for r in rows] == [
        (pytest.approx(s["start"], abs=1e-3), pytest.approx(s["end"], abs=1e-3), s["label"],
         s["genre"][0]["label"] if s["genre"] else None) for s in timeline]
    png = plots / "broadcast.flac.png"
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_one_label_file_per_input_in_a_folder(audio: dict[str, Path], tmp_path: Path) -> None:
    out = tmp_path / "labels"
    args = ("classify", str(audio["root"] / "pieces"), str(audio["root"] / "show"), "-f", "audacity", "-o", str(out),
            "--no-genre", "-j", "1")
    res = run_cli(*args)
    assert res.returncode == 0, res.stderr
    made = sorted(str(p.relative_to(out)) for p in out.rglob("*.txt"))
    assert made == ["pieces/a.wav.txt", "pieces/b.wav.txt", "show/broadcast.flac.txt"]
    assert read_audacity((out / "pieces" / "a.wav.txt").read_text())[0]["label"] == "music"
    again = run_cli(*args)
    assert again.returncode == 2 and "exists" in again.stderr  # nothing overwritten without --overwrite
    assert run_cli(*args, "--resume").returncode == 0
    one = run_cli("classify", str(audio["a"]), str(audio["b"]), "-f", "textgrid", "--no-genre")
    assert one.returncode == 2 and "-o FOLDER" in one.stderr  # stdout holds one file's labels


def test_output_format_from_the_extension(audio: dict[str, Path], tmp_path: Path) -> None:
    song = str(audio["a"])
    res = run_cli("classify", song, "-o", str(tmp_path / "r.csv"), "--no-genre")
    assert res.returncode == 0, res.stderr
    assert next(csv.reader(io.StringIO((tmp_path / "r.csv").read_text()))) == CSV_COLUMNS
    assert run_cli("classify", song, "-o", str(tmp_path / "r.json"), "--no-genre").returncode == 0
    assert json.loads((tmp_path / "r.json").read_text())[0]["label"] == "music"
    assert run_cli("classify", song, "-o", str(tmp_path / "r.jsonl"), "--no-genre").returncode == 0
    assert json.loads((tmp_path / "r.jsonl").read_text().splitlines()[0])["status"] == "ok"
    # --format wins over the extension; the table can be saved too
    saved = run_cli("classify", "pieces/a.wav", "-f", "table", "-o", str(tmp_path / "t.txt"), "--no-genre",
                    cwd=audio["root"])
    assert saved.returncode == 0 and saved.stdout == "", saved.stderr
    table = (tmp_path / "t.txt").read_text()
    assert "soundsort classify" in table and "pieces/a.wav" in table and "\x1b[" not in table
    bad = run_cli("classify", song, "-o", str(tmp_path / "r.yaml"))
    assert bad.returncode == 2 and "give --format" in bad.stderr and not (tmp_path / "r.yaml").exists()
    folder = run_cli("classify", song, "-o", str(tmp_path))
    assert folder.returncode == 2 and "is a folder" in folder.stderr
    pred = run_cli("predict", song, "-m", str(_bundled("default-music")), "-o", str(tmp_path / "p.csv"))
    assert pred.returncode == 0, pred.stderr
    assert (tmp_path / "p.csv").read_text().startswith("path,label,p_music,p_non-music")


# ---------------------------------------------------------------------------------------------- exit codes

def test_exit_codes(audio: dict[str, Path], tmp_path: Path) -> None:
    song, broken = str(audio["a"]), str(audio["broken"])
    ok = run_cli("classify", song, "-f", "jsonl", "--no-genre")
    assert ok.returncode == 0 and ok.stderr == ""
    some = run_cli("classify", song, broken, "-f", "jsonl", "--no-genre")
    assert some.returncode == 1 and "1 of 2 files failed" in some.stderr
    assert sorted(json.loads(line)["status"] for line in some.stdout.splitlines()) == ["error", "ok"]
    for usage in (("classify", song, "-f", "yaml"), ("classify", song, "--mixed", "0.7"),
                  ("classify", song, "--dry-run"), ("classify", song, "--bogus-option"), ("classify",),
                  ("predict", song)):
        res = run_cli(*usage)
        assert res.returncode == 2, (usage, res.stderr)
        assert "Traceback" not in res.stderr
    nothing = run_cli("classify", str(tmp_path / "nosuch.wav"))
    assert nothing.returncode == 3
    assert nothing.stderr.splitlines()[0] == f"soundsort: {tmp_path / 'nosuch.wav'}: file not found"
    assert run_cli("classify", str(tmp_path)).returncode == 3  # a folder without audio
    assert run_cli("classify", song, "--genre-model", str(_bundled("default-music"))).returncode == 3
    ver = run_cli("--version")
    assert ver.returncode == 0 and ver.stdout.startswith("soundsort ")


def test_a_closed_stdout_ends_quietly(tmp_path: Path) -> None:
    for i in range(6):
        sf.write(tmp_path / f"clip{i}.wav", synth_music(3.0, 16000, seed=60 + i), 16000)
    for fmt in ("jsonl", "segments"):
        proc = subprocess.Popen([sys.executable, "-m", "soundsort", "classify", str(tmp_path), "-f", fmt,
                                 "--no-genre", "-j", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env={**os.environ})
        first = proc.stdout.readline()
        proc.stdout.close()  # as `| head -1` does
        stderr = proc.stderr.read().decode()
        assert proc.wait(timeout=300) == 141 and stderr == "", stderr
        assert first


def test_ctrl_c_says_how_far_it_got(tmp_path: Path) -> None:
    import signal
    import time

    many = tmp_path / "many"
    many.mkdir()
    for i in range(30):
        sf.write(many / f"clip{i:02d}.wav", synth_music(4.0, 16000, seed=200 + i), 16000)
    out = tmp_path / "out.jsonl"
    proc = subprocess.Popen([sys.executable, "-m", "soundsort", "classify", str(many), "-o", str(out), "--no-genre",
                             "-j", "1"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env={**os.environ})
    deadline = time.time() + 120
    while time.time() < deadline and not (out.exists() and len(out.read_text().splitlines()) >= 3):
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, stderr = proc.communicate(timeout=120)
    done = len([line for line in out.read_text().splitlines() if line.strip()])
    assert proc.returncode == 130
    lines = stderr.decode().strip().splitlines()
    assert lines == [f"soundsort: interrupted after {done} of 30 files (run the same command with --resume to "
                     "continue)"], lines
    assert 3 <= done < 30


# ---------------------------------------------------------------------------------------------- fail fast

_PROBE = """
import sys
from soundsort.cli import main
sys.argv = ["soundsort"] + sys.argv[1:]
try:
    main()
except SystemExit as exc:
    code = exc.code
heavy = ("soundsort.inference.classify", "soundsort.inference.predict", "soundsort.workflows", "soundsort.models.io",
         "sklearn", "skops", "onnxruntime", "torch", "librosa", "matplotlib")
loaded = sorted(m for m in sys.modules if m in heavy or m.split(".")[0] in heavy)
print("RESULT", code, ",".join(loaded))
"""


def _probe(*args: str) -> tuple[int, list[str], str]:
    res = subprocess.run([sys.executable, "-c", _PROBE, *args], capture_output=True, text=True, timeout=120,
                         env={**os.environ})
    line = [ln for ln in res.stdout.splitlines() if ln.startswith("RESULT")][-1].split(" ")
    return int(line[1]), [m for m in (line[2] if len(line) > 2 else "").split(",") if m], res.stderr


def test_fail_fast_loads_no_model(audio: dict[str, Path], tmp_path: Path) -> None:
    song = str(audio["a"])
    existing = tmp_path / "results.json"
    existing.write_text("[]\n")
    cases = [(("classify", str(tmp_path / "nosuch.wav")), 3, "file not found"),
             (("classify", song, "--model", str(tmp_path / "no-model")), 3, "model folder not found"),
             (("classify", song, "--genre-model", str(tmp_path / "no-genre")), 3, "model folder not found"),
             (("predict", song, "-m", str(tmp_path / "nope")), 3, "model folder not found"),
             (("predict", str(tmp_path / "nosuch.wav"), "-m", str(_bundled("default-genre"))), 3, "file not found"),
             (("classify", song, "-o", str(existing)), 2, "output file exists"),
             (("classify", song, "-f", "jsnl"), 2, "did you mean 'jsonl'"),
             (("tags", str(tmp_path / "nosuch.wav")), 3, "file not found")]
    for args, code, message in cases:
        got, loaded, stderr = _probe(*args)
        assert got == code and message in stderr, (args, got, stderr)
        assert loaded == [], (args, loaded)  # nothing of a model was even imported
    assert existing.read_text() == "[]\n"


def test_did_you_mean_on_the_command_line(tmp_path: Path, example_data: Path) -> None:
    for args, hint in ((("train", str(example_data), "--task", "musik"), "did you mean 'music'?"),
                       (("train", str(example_data), "--features", "yamnet-msuic"), "did you mean 'yamnet-music'"),
                       (("train", str(example_data), "--model", "logrg"), "did you mean 'logreg'?"),
                       (("train", "--preset", "default-musc"), "did you mean 'default-music'"),
                       (("tune", str(example_data), "--space", "music-classical", "--task", "genr"),
                        "did you mean 'genre'?"),
                       (("tags", str(tmp_path), "--tagger", "yamnett"), "did you mean 'yamnet'"),
                       (("classify", str(tmp_path), "-f", "textgird"), "did you mean 'textgrid'?")):
        res = run_cli(*args, "--runs", str(tmp_path / "runs")) if args[0] == "train" else run_cli(*args)
        assert res.returncode == 2 and hint in res.stderr, (args, res.stderr)
        assert len(res.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "runs").exists()  # nothing trained under a typo


# ---------------------------------------------------------------------------------------------- conventions

def test_config_file_and_environment_defaults(audio: dict[str, Path], tmp_path: Path) -> None:
    cfg = tmp_path / "soundsort" / "config.toml"
    cfg.parent.mkdir()
    cfg.write_text('format = "jsonl"\njobs = 1\n')
    env = {"SOUNDSORT_CONFIG": str(cfg)}
    res = run_cli("classify", str(audio["a"]), "--no-genre", env=env)
    assert res.returncode == 0, res.stderr
    assert json.loads(res.stdout)["label"] == "music"  # jsonl, from the file
    res = run_cli("classify", str(audio["a"]), "--no-genre", env={**env, "SOUNDSORT_FORMAT": "csv"})
    assert res.stdout.startswith("path,status,")  # the environment overrides the file
    res = run_cli("classify", str(audio["a"]), "--no-genre", "-f", "segments", env={**env, "SOUNDSORT_FORMAT": "csv"})
    assert res.stdout.startswith("path,start,end,label")  # and the option overrides both
    shown = run_cli("config", env={**env, "SOUNDSORT_JOBS": "2"})
    assert shown.returncode == 0 and str(cfg) in shown.stdout
    rows = {line.split("│")[1].strip(): line for line in shown.stdout.splitlines() if line.count("│") >= 3}
    assert "config file" in rows["format"] and "SOUNDSORT_JOBS" in rows["jobs"] and "built-in" in rows["music_model"]
    # the XDG location, found without SOUNDSORT_CONFIG
    xdg = {k: v for k, v in os.environ.items() if k != "SOUNDSORT_CONFIG"}
    xdg["XDG_CONFIG_HOME"] = str(tmp_path)
    res = subprocess.run([sys.executable, "-m", "soundsort", "config", "--path"], capture_output=True, text=True,
                         env=xdg, timeout=120)
    assert res.stdout.strip() == str(cfg)
    cfg.write_text('jbos = 2\n')
    bad = run_cli("classify", str(audio["a"]), env=env)
    assert bad.returncode == 2 and "did you mean 'jobs'" in bad.stderr and str(cfg) in bad.stderr


def test_stdin_paths_and_names_relative_to_the_argument(tmp_path: Path) -> None:
    for folder in ("a", "b"):
        (tmp_path / "x" / folder).mkdir(parents=True)
        sf.write(tmp_path / "x" / folder / "mingus.wav", synth_music(4.0, 16000, seed=ord(folder)), 16000)
    table = run_cli("classify", str(tmp_path / "x" / "a"), str(tmp_path / "x" / "b"), "--no-genre")
    assert table.returncode == 0, table.stderr
    assert "a/mingus.wav" in table.stdout and "b/mingus.wav" in table.stdout  # two files, told apart
    listing = "".join(f"{p}\n" for p in sorted((tmp_path / "x").rglob("*.wav")))
    res = subprocess.run([sys.executable, "-m", "soundsort", "classify", "-", "-f", "jsonl", "--no-genre"],
                         input=listing, capture_output=True, text=True, timeout=300, env={**os.environ})
    assert res.returncode == 0, res.stderr
    assert sorted(json.loads(line)["path"] for line in res.stdout.splitlines()) == sorted(listing.split())


def test_write_tags_dry_run_and_what_was_written(tmp_path: Path) -> None:
    from soundsort.inference.filetags import read_genre

    song = tmp_path / "song.flac"
    sf.write(song, synth_music(8.0, SR, seed=PIECE_B), SR)
    before = song.read_bytes()
    dry = run_cli("classify", str(song), "--write-tags", "--dry-run", "-f", "jsonl", "-j", "1")
    assert dry.returncode == 0, dry.stderr
    genre = json.loads(dry.stdout)["genre"][0]["label"]
    assert f"tags (dry run): {song}: would set genre to {genre!r}" in dry.stderr
    assert song.read_bytes() == before and read_genre(song) is None
    quiet = run_cli("classify", str(song), "--write-tags", "--dry-run", "-q", "-f", "jsonl", "-j", "1")
    assert quiet.returncode == 0 and quiet.stderr == ""
    real = run_cli("classify", str(song), "--write-tags", "-f", "jsonl", "-j", "1")
    assert real.returncode == 0 and f"tags: {song}: genre set to {genre!r}" in real.stderr
    assert read_genre(song) == genre


def test_predict_table_names_the_top_classes(audio: dict[str, Path]) -> None:
    res = run_cli("predict", str(audio["b"]), "-m", str(_bundled("default-genre")))
    assert res.returncode == 0, res.stderr
    assert "top classes" in res.stdout and "p(blues)" not in res.stdout
    js = run_cli("predict", str(audio["b"]), "-m", str(_bundled("default-genre")), "-f", "json")
    probs = json.loads(js.stdout)[0]["probabilities"]
    assert len(probs) == 10 and all(round(v, 4) == v for v in probs.values())


def test_train_without_output_saves_in_the_run_folder_and_reports_results_first(example_data: Path,
                                                                                 tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    res = run_cli("train", str(example_data), "--runs", str(runs), "--no-learning-curve", "--no-profile",
                  "--folds", "3", "-j", "1")
    assert res.returncode == 0, res.stderr
    for stage in ("cross-validating: 3 folds", "fitting the final model", "t-SNE map", "writing the report"):
        assert stage in res.stderr, stage
    saved = [line for line in res.stdout.splitlines() if line.startswith("model saved: ")]
    assert len(saved) == 1
    model = Path(saved[0].split(": ", 1)[1])
    assert (model / "model.json").is_file() and runs in model.parents
    card = json.loads((model / "model.json").read_text())
    assert len(card["training_data"]["file_hashes"]) == card["training_data"]["files"]
    run = model.parent
    report = (run / "report.md").read_text()
    sections = [line for line in report.splitlines() if line.startswith("## ")]
    assert sections[-1] == "## Configuration" and any(s.startswith("## Misclassified files") for s in sections)
    assert report.index("## Cross-validation") < report.index("## Configuration")
    with open(run / "predictions.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert rows and {r["fold"] for r in rows} <= {"0", "1", "2"} and len({r["fold"] for r in rows}) == 3
    wrong = [r for r in rows if r["true"] != r["predicted"]]
    assert f"## Misclassified files ({len(wrong)} of {len(rows)})" in report
    # evaluating on its own training files says so
    ev = run_cli("evaluate", str(model), str(example_data), "--runs", str(runs), "--no-profile", "-j", "1")
    assert ev.returncode == 0, ev.stderr
    assert f"warning: {len(rows)} of {len(rows)} files are in the model's training data" in ev.stderr
    ev_report = next(p for p in runs.glob("*evaluate*/report.md")).read_text()
    assert "## Warnings" in ev_report and "## Files the model was trained on" in ev_report
    quiet = run_cli("-q", "train", str(example_data), "--runs", str(runs), "--no-learning-curve", "--no-profile",
                    "--no-embedding-map", "--folds", "2", "-j", "1")
    assert quiet.returncode == 0 and quiet.stderr == "", quiet.stderr


def test_organize_says_when_nothing_was_copied(tmp_path: Path) -> None:
    src, dest = tmp_path / "src", tmp_path / "dest"
    src.mkdir()
    for i in range(2):
        sf.write(src / f"song{i}.flac", synth_music(6.0, 16000, seed=70 + i), 16000)
    first = run_cli("organize", str(src), str(dest), "-j", "1")
    assert first.returncode == 0 and "done: 2 copied" in first.stderr, first.stderr
    second = run_cli("organize", str(src), str(dest), "-j", "1")
    assert second.returncode == 0 and "done: nothing copied, 2 already there" in second.stderr, second.stderr


def _bundled(name: str) -> Path:
    from soundsort.inference.classify import ASSETS

    return ASSETS / name
