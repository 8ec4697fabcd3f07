"""Timeline exports (segments CSV, Audacity labels, Praat TextGrid) read back equal the timeline they came from;
format inference from -o's extension; "did you mean"; the settings file and environment."""

from __future__ import annotations

import csv
import io
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.errors import ConfigError
from soundsort.inference.exports import (
    SEGMENT_COLUMNS,
    audacity_text,
    format_for_output,
    is_folder_target,
    label_file_name,
    read_audacity,
    read_segments,
    read_textgrid,
    segment_rows,
    textgrid_text,
)
from soundsort.inference.timeline import to_segments

GENRES = ["blues", "classical", "country", "disco", "hiphop", "jazz", "metal", "pop", "reggae", "rock"]


@st.composite
def records(draw: st.DrawFn) -> dict:
    """A classify record whose timeline comes from the real segmenter on random frame probabilities."""
    n = draw(st.integers(1, 300))
    p = np.array(draw(st.lists(st.floats(0, 1), min_size=n, max_size=n)))
    hop = draw(st.sampled_from([0.48, 0.96, 1.0]))
    times = (np.arange(n) + 0.5) * hop
    duration = n * hop + draw(st.floats(0, hop))
    segs = [s.to_dict() for s in to_segments(p, times, hop_seconds=hop, duration=duration,
                                            min_segment_seconds=draw(st.floats(0.5, 5.0)))]
    for s in segs:
        if s["label"] == "music" and draw(st.booleans()):
            k = draw(st.integers(1, 3))
            probs = sorted(draw(st.lists(st.floats(0.0, 1.0), min_size=k, max_size=k)), reverse=True)
            names = draw(st.permutations(GENRES))[:k]
            s["genre"] = [{"label": g, "probability": round(q, 4)} for g, q in zip(names, probs)]
            s["genre_windows"] = draw(st.integers(1, 10))
        else:
            s["genre"], s["genre_windows"] = None, 0
    name = draw(st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30))
    return {"path": f"dir/{name}.flac", "status": "ok", "duration": round(duration, 3), "timeline": segs}


@settings(max_examples=60, deadline=None)
@given(records())
def test_audacity_labels_read_back_as_the_timeline(rec: dict) -> None:
    back = read_audacity(audacity_text(rec))
    assert len(back) == len(rec["timeline"])
    for got, seg in zip(back, rec["timeline"]):
        assert got["start"] == pytest.approx(seg["start"], abs=1e-6)
        assert got["end"] == pytest.approx(seg["end"], abs=1e-6)
        assert got["label"] == seg["label"]
        assert got["genre"] == (seg["genre"][0]["label"] if seg.get("genre") else None)
    for a, b in zip(back, back[1:]):  # an Audacity track that tiles the file
        assert a["end"] == pytest.approx(b["start"], abs=1e-6)


@settings(max_examples=60, deadline=None)
@given(records())
def test_textgrid_read_back_as_the_timeline(rec: dict) -> None:
    text = textgrid_text(rec)
    assert text.startswith('File type = "ooTextFile"\nObject class = "TextGrid"\n')
    tiers = read_textgrid(text)
    assert list(tiers) == ["music", "genre"]
    music, genre = tiers["music"], tiers["genre"]
    assert music[0]["start"] == 0.0 and music[-1]["end"] == pytest.approx(rec["duration"], abs=1e-6)
    for a, b in zip(music, music[1:]):  # Praat needs intervals that tile the tier
        assert a["end"] == b["start"]
    shown = [iv for iv in music if iv["text"]]
    assert [iv["text"] for iv in shown] == [s["label"] for s in rec["timeline"]]
    for iv, seg in zip(shown, rec["timeline"]):
        assert (iv["start"], iv["end"]) == pytest.approx((seg["start"], seg["end"]), abs=1e-6)
    assert [(iv["start"], iv["end"]) for iv in genre] == [(iv["start"], iv["end"]) for iv in music]
    assert [iv["text"] for iv in genre if iv["text"]] == [s["genre"][0]["label"] for s in rec["timeline"]
                                                          if s.get("genre")]


@settings(max_examples=60, deadline=None)
@given(records())
def test_segments_csv_read_back_as_the_timeline(rec: dict) -> None:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(SEGMENT_COLUMNS)
    w.writerows(segment_rows(rec))
    back = read_segments(buf.getvalue())
    assert list(back) == [rec["path"]]
    for got, seg in zip(back[rec["path"]], rec["timeline"], strict=True):
        assert (got["start"], got["end"]) == pytest.approx((seg["start"], seg["end"]), abs=1e-3)
        assert got["label"] == seg["label"] and got["confidence"] == pytest.approx(seg["confidence"], abs=1e-4)
        assert got["genre"] == (seg["genre"][0]["label"] if seg.get("genre") else None)
    assert segment_rows({**rec, "status": "error"}) == []


def test_praat_quotes_are_doubled() -> None:
    rec = {"duration": 4.0, "timeline": [{"start": 0.0, "end": 4.0, "label": "music", "confidence": 0.9,
                                          "genre": [{"label": 'say "hi"', "probability": 0.5}]}]}
    assert read_textgrid(textgrid_text(rec))["genre"][0]["text"] == 'say "hi"'


@pytest.mark.parametrize("name, fmt", [("r.csv", "csv"), ("R.JSON", "json"), ("r.jsonl", "jsonl"), ("a.txt", "audacity"),
                                       ("show.TextGrid", "textgrid"), ("show.textgrid", "textgrid"), ("r.yaml", None),
                                       ("noext", None)])
def test_format_from_the_extension(name: str, fmt: str | None) -> None:
    assert format_for_output(Path(name)) == fmt


def test_folder_targets_and_label_file_names(tmp_path: Path) -> None:
    assert is_folder_target(tmp_path) and is_folder_target(str(tmp_path / "new") + "/")
    assert is_folder_target(tmp_path / "labels", "audacity") and not is_folder_target(tmp_path / "l.txt", "audacity")
    assert not is_folder_target(tmp_path / "r.json", "json")
    assert label_file_name("a/mingus.flac", "audacity") == Path("a/mingus.flac.txt")
    assert label_file_name("../x/../song.mp3", "textgrid") == Path("x/song.mp3.TextGrid")


# ---------------------------------------------------------------------------------------------- did you mean

def _known_lists() -> list[list[str]]:
    from soundsort.dataset.tasks import task_names
    from soundsort.features.registry import featurizer_names
    from soundsort.models.registry import MODELS
    from soundsort.settings import FORMATS

    return [task_names(), featurizer_names(), MODELS.names(), list(FORMATS)]


@settings(max_examples=200, deadline=None)
@given(st.data())
def test_a_typo_suggests_the_name(data: st.DataObject) -> None:
    """One letter doubled, dropped or swapped in any task / feature set / model / format name: the name is
    among the suggestions."""
    from soundsort.suggest import close_names, did_you_mean

    known = data.draw(st.sampled_from(_known_lists()))
    name = data.draw(st.sampled_from([k for k in known if len(k) >= 4]))
    i = data.draw(st.integers(0, len(name) - 2))
    how = data.draw(st.sampled_from(["double", "drop", "swap"]))
    typo = {"double": name[:i] + name[i] + name[i:], "drop": name[:i] + name[i + 1:],
            "swap": name[:i] + name[i + 1] + name[i] + name[i + 2:]}[how]
    if typo in known:
        return
    assert name in close_names(typo, known)
    assert repr(name) in did_you_mean(typo, known)


def test_unknown_names_are_errors_that_suggest() -> None:
    from soundsort.dataset.tasks import check_task
    from soundsort.features.registry import get_featurizer
    from soundsort.models.registry import make_model

    with pytest.raises(ConfigError, match=r"unknown task 'musik' \(did you mean 'music'\?\)"):
        check_task("musik")
    assert check_task(" Genre ") == "genre"
    with pytest.raises(ConfigError, match=r"did you mean 'yamnet-music'"):
        get_featurizer("yamnet-musc")
    with pytest.raises(ConfigError, match=r"unknown model 'logrg' \(did you mean 'logreg'\?\)"):
        make_model("logrg")


# ---------------------------------------------------------------------------------------------- settings

def test_settings_file_environment_and_errors(tmp_path: Path) -> None:
    from soundsort.settings import Settings, load

    cfg = tmp_path / "config.toml"
    cfg.write_text('music_model = "models/music"\njobs = 3\nformat = "JSONL"\n')
    s = load({"SOUNDSORT_CONFIG": str(cfg)})
    assert s.music_model == str(tmp_path / "models" / "music")  # relative to the file
    assert (s.jobs, s.format, s.genre_model) == (3, "jsonl", None)
    assert s.sources["jobs"] == "file" and s.sources["genre_model"] == "default" and s.file == str(cfg)
    env = load({"SOUNDSORT_CONFIG": str(cfg), "SOUNDSORT_JOBS": "1", "SOUNDSORT_FORMAT": "csv"})
    assert (env.jobs, env.format, env.sources["jobs"]) == (1, "csv", "env")
    assert load({"SOUNDSORT_CONFIG": ""}) == Settings()
    assert load({"XDG_CONFIG_HOME": str(tmp_path / "nowhere"), "HOME": str(tmp_path)}) == Settings()
    for text, message in (('jbos = 2\n', r"unknown key 'jbos' \(did you mean 'jobs'\?\)"),
                          ('jobs = -1\n', r"jobs: must be an integer >= 0"),
                          ('jobs = "two"\n', r"jobs: must be an integer"),
                          ('format = "jsnl"\n', r"did you mean 'jsonl'"),
                          ('jobs = [\n', r"not valid TOML")):
        cfg.write_text(text)
        with pytest.raises(ConfigError, match=message):
            load({"SOUNDSORT_CONFIG": str(cfg)})
    with pytest.raises(ConfigError, match="config file not found"):
        load({"SOUNDSORT_CONFIG": str(tmp_path / "missing.toml")})


@settings(max_examples=50, deadline=None)
@given(st.integers(-5, 64))
def test_jobs_from_the_environment(jobs: int) -> None:
    from soundsort.settings import load

    if jobs < 0:
        with pytest.raises(ConfigError):
            load({"SOUNDSORT_CONFIG": "", "SOUNDSORT_JOBS": str(jobs)})
    else:
        assert load({"SOUNDSORT_CONFIG": "", "SOUNDSORT_JOBS": f" {jobs} "}).jobs == jobs


def test_macro_scores_leave_out_absent_classes() -> None:
    from soundsort.evaluation.metrics import classification_metrics

    labels = ["blues", "jazz", "rock"]
    y = np.array([0, 0, 1, 1])  # no rock file at all
    proba = np.array([[0.9, 0.1, 0.0], [0.8, 0.2, 0.0], [0.1, 0.9, 0.0], [0.2, 0.7, 0.1]])
    m = classification_metrics(y, proba, labels)
    assert m["absent_classes"] == ["rock"]
    assert m["f1_macro"] == pytest.approx(1.0) and m["recall_macro"] == pytest.approx(1.0)
    wrong = classification_metrics(y, np.array([[0.9, 0, 0.1], [0.8, 0.2, 0], [0.1, 0.9, 0], [0.1, 0.1, 0.8]]), labels)
    assert wrong["absent_classes"] == ["rock"] and wrong["recall_macro"] == pytest.approx(0.75)
