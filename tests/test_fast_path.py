"""The fast classify / predict path: numpy heads equal to the skops ones, the import boundary, batched genre
windows and the early genre decision, the shared worker pool, SciPy-free front ends giving SciPy's bytes."""

from __future__ import annotations

import hashlib
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from soundsort.errors import ModelError
from soundsort.examples import synth_music, synth_speech
from soundsort.inference.classify import DEFAULT_GENRE_MODEL, DEFAULT_MUSIC_MODEL, ClassifyConfig, Classifier
from soundsort.models.io import ModelCard, load_model, save_model
from soundsort.models.linear_head import HEAD_FILE, LinearHead, ScoreThresholdHead
from tests.conftest import SHARED_DATA

SR = 22050
GTZAN = SHARED_DATA / "gtzan_mini"


def _real_music(n: int) -> list[Path]:
    """``n`` real music clips from the shared data (one per genre first), or none when it is not there."""
    if not GTZAN.is_dir():
        return []
    per_genre = [sorted(d.glob("*.flac")) for d in sorted(GTZAN.iterdir()) if d.is_dir()]
    picked = [files[i] for i in range(3) for files in per_genre if len(files) > i]
    return picked[:n]


@pytest.fixture(scope="module")
def clips(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """Generated music and speech, plus real GTZAN music where the shared data is there."""
    root = tmp_path_factory.mktemp("fast")
    made = []
    for i, (kind, secs) in enumerate([("music", 14.0), ("speech", 8.0), ("music", 7.0)]):
        y = synth_music(secs, SR, seed=40 + i) if kind == "music" else synth_speech(secs, SR, seed=40 + i)
        path = root / f"{kind}{i}.wav"
        sf.write(path, y, SR)
        made.append(path)
    return made + _real_music(4)


# ---------------------------------------------------------------------------------------------- heads


@pytest.mark.parametrize("folder", [DEFAULT_MUSIC_MODEL, DEFAULT_GENRE_MODEL], ids=["music", "genre"])
def test_bundled_heads_give_the_skops_probabilities_on_real_audio(folder: Path, clips: list[Path]) -> None:
    from soundsort.features import featurize_file
    from soundsort.inference.predict import featurizer_for

    slow, card = load_model(folder)
    fast, card2 = load_model(folder, fast=True)
    assert isinstance(fast, (LinearHead, ScoreThresholdHead)) and card2 == card
    assert fast.classes_.tolist() == slow.classes_.tolist()
    featurizer = featurizer_for(card, folder)
    for path in clips[:5]:
        X = featurize_file(featurizer, path).values
        assert X.dtype == np.float32 and len(X)
        np.testing.assert_array_equal(fast.predict_proba(X), slow.predict_proba(X))
        np.testing.assert_array_equal(fast.predict(X), slow.predict(X))
        for row in X[:3]:  # one row at a time, as classify asks for a genre window (BLAS sums it another way)
            np.testing.assert_array_equal(fast.predict_proba(row[None]), slow.predict_proba(row[None]))
    head = json.loads((folder / HEAD_FILE).read_text())
    assert head["skops_sha256"] == hashlib.sha256((folder / "model.skops").read_bytes()).hexdigest()


def test_classify_records_are_the_same_with_fast_and_skops_heads(clips: list[Path],
                                                                   monkeypatch: pytest.MonkeyPatch) -> None:
    import soundsort.models.io as model_io

    fast = Classifier()
    assert isinstance(fast.music_est, ScoreThresholdHead) and isinstance(fast.genre_est, LinearHead)
    real_load = model_io.load_model
    monkeypatch.setattr(model_io, "load_model", lambda folder, fast=False: real_load(folder))
    slow = Classifier()
    assert type(slow.genre_est).__name__ == "Pipeline"
    for path in clips:
        assert fast.classify_file(path).to_dict() == slow.classify_file(path).to_dict(), path


def test_saved_heads_stale_heads_and_damaged_heads(tmp_path: Path) -> None:
    from soundsort.models.registry import make_model

    rng = np.random.default_rng(0)
    X = rng.normal(size=(90, 5)).astype(np.float32)
    y = np.arange(90) % 3
    X[np.arange(90), y] += 3
    card = ModelCard(task="genre", labels=["a", "b", "c"], featurizer="mfcc", featurizer_params={}, model="logreg")
    est = make_model("logreg").fit(X, y)
    save_model(tmp_path / "m", est, card)
    head, _ = load_model(tmp_path / "m", fast=True)
    assert isinstance(head, LinearHead)
    np.testing.assert_array_equal(head.predict_proba(X), est.predict_proba(X))
    np.testing.assert_array_equal(head.predict_proba(X[:1]), est.predict_proba(X[:1]))
    np.testing.assert_array_equal(head.predict_proba(X.astype(np.float64)), est.predict_proba(X.astype(np.float64)))
    # binary logistic regression: one decision value, the logistic function
    binary = make_model("logreg").fit(X, y == 0)
    bcard = ModelCard(task="music", labels=["music", "non-music"], featurizer="mfcc", featurizer_params={},
                      model="logreg", positive_label="music")
    save_model(tmp_path / "b", binary, bcard)
    bhead, _ = load_model(tmp_path / "b", fast=True)
    np.testing.assert_array_equal(bhead.predict_proba(X), binary.predict_proba(X))
    # a replaced model.skops: the head no longer belongs to it, and skops loads the file
    other = make_model("random-forest", n_estimators=5).fit(X, y)
    save_model(tmp_path / "rf", other, card)
    assert not (tmp_path / "rf" / HEAD_FILE).exists()  # not a linear head: no head file
    (tmp_path / "m" / "model.skops").write_bytes((tmp_path / "rf" / "model.skops").read_bytes())
    loaded, _ = load_model(tmp_path / "m", fast=True)
    assert type(loaded).__name__ == "Pipeline" and not isinstance(loaded, LinearHead)
    # overwriting a folder with a model that has no head removes the old head
    save_model(tmp_path / "b", other, card, overwrite=True)
    assert not (tmp_path / "b" / HEAD_FILE).exists()
    # a damaged head is one line naming it
    save_model(tmp_path / "m", est, card, overwrite=True)
    doc = json.loads((tmp_path / "m" / HEAD_FILE).read_text())
    for bad, reason in (({**doc, "coef": doc["coef"][:1]}, "coef: shape"), ({**doc, "kind": "os.system"}, "kind"),
                        ({**doc, "classes": [0, 1, 7]}, "labels"), ({**doc, "version": 99}, "head format")):
        (tmp_path / "m" / HEAD_FILE).write_text(json.dumps(bad))
        with pytest.raises(ModelError, match=reason) as err:
            load_model(tmp_path / "m", fast=True)
        assert "\n" not in str(err.value) and str(tmp_path / "m") in str(err.value)
    (tmp_path / "m" / HEAD_FILE).write_text("[" * 100_000)
    with pytest.raises(ModelError, match="not valid JSON"):
        load_model(tmp_path / "m", fast=True)


# ---------------------------------------------------------------------------------------------- imports

_HEAVY = ("torch", "librosa", "matplotlib", "optuna", "sklearn", "skops", "scipy.fft", "scipy.sparse",
          "scipy.signal", "numba", "pandas")


def _modules_after(args: list[str], tmp_path: Path) -> list[str]:
    """Run the CLI in a fresh interpreter; return the heavy modules it imported."""
    code = ("import sys, json\n"
            "from soundsort.cli import main\n"
            f"sys.argv = ['soundsort'] + {args!r}\n"
            "try:\n    main()\nexcept SystemExit:\n    pass\n"
            f"heavy = {_HEAVY!r}\n"
            "sys.stderr.write('MODULES ' + json.dumps(sorted(m for m in sys.modules if m.split('.')[0] in "
            "heavy or m in heavy)) + '\\n')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300, cwd=tmp_path)
    line = [ln for ln in res.stderr.splitlines() if ln.startswith("MODULES ")]
    assert line, res.stderr
    return [m for m in json.loads(line[-1][8:]) if m in _HEAVY or m.split(".")[0] in ("torch", "librosa",
                                                                                     "matplotlib", "optuna",
                                                                                     "sklearn", "skops", "numba",
                                                                                     "pandas")]


def test_classify_and_predict_import_no_heavy_module(tmp_path: Path) -> None:
    # the first use of a backbone converts it from its wheel (musicnn's port needs torch, once): done here, so
    # that the subprocesses below see converted models whatever ran before in this test session
    from soundsort.backbones.convert.yamnet import ensure_yamnet_models
    from soundsort.backbones.musicnn import ensure_model

    ensure_yamnet_models()
    ensure_model("MSD_musicnn")
    song = tmp_path / "song.wav"
    sf.write(song, synth_music(4.0, SR, seed=3), SR)
    assert _modules_after(["classify", str(song), "-f", "json", "-j", "1"], tmp_path) == []
    assert _modules_after(["classify", str(song), "-f", "json", "--no-genre"], tmp_path) == []
    assert _modules_after(["predict", str(song), "-m", str(DEFAULT_GENRE_MODEL), "-f", "json"], tmp_path) == []


# ---------------------------------------------------------------------------------------------- genre windows


def test_batched_genre_windows_equal_one_by_one(clips: list[Path]) -> None:
    """All windows at once through the networks: the records of the reference (every window) are unchanged."""
    from soundsort.features import segment_vectors_batch
    from soundsort.inference.predict import featurizer_for
    from soundsort.models.io import load_card

    fz = featurizer_for(load_card(DEFAULT_GENRE_MODEL), DEFAULT_GENRE_MODEL)
    rng = np.random.default_rng(5)
    y = synth_music(14.0, 16000, seed=9)
    windows = [y[i * 48000:(i + 1) * 48000] for i in range(4)] + [y[:20000], rng.normal(0, 0.1, 8000).astype(np.float32)]
    batched = segment_vectors_batch(fz, windows)
    for w, b in zip(windows, batched):
        alone = fz.segment_vectors(w)
        assert b.shape == alone.shape
        np.testing.assert_allclose(b, alone, rtol=0, atol=2e-5)  # musicnn's last bits move in a batch


def test_early_genre_decision_and_its_reference(clips: list[Path]) -> None:
    every = Classifier(config=ClassifyConfig(genre_stop_margin=None))
    early = Classifier()
    songs = [p for p in clips if "speech" not in p.name]
    stopped = 0
    for path in songs:
        a, b = every.classify_file(path), early.classify_file(path)
        def plain(timeline: list[dict]) -> list[dict]:
            return [{k: v for k, v in s.items() if not k.startswith("genre")} for s in timeline]

        assert plain(a.timeline) == plain(b.timeline)
        if a.genre is None:
            assert b.genre is None
            continue
        assert b.genre_windows <= a.genre_windows
        if b.genre_windows < a.genre_windows:
            stopped += 1
            assert b.genre_windows == 3
            top = [g["probability"] for g in b.genre]
            assert top[0] - top[1] >= 0.5 - 1e-4  # decided with the margin
        assert a.genre[0]["label"] == b.genre[0]["label"]
    if _real_music(1):
        assert stopped >= 1  # real songs are decided early


# ---------------------------------------------------------------------------------------------- workers


def test_shared_pool_gives_the_single_process_records_in_order(clips: list[Path]) -> None:
    import functools

    from soundsort.inference.batch import run_batch

    files = [str(p) for p in clips] + [str(clips[0].parent / "missing.wav")]
    factory = functools.partial(Classifier, None, None, ClassifyConfig(genre=False), threads=1)
    one: list[dict] = []
    two: list[dict] = []
    seen: list[int] = []
    assert run_batch(files, factory, jobs=1, on_result=one.append) == (len(files) - 1, 1)
    assert run_batch(files, factory, jobs=2, on_result=two.append,
                     progress=lambda done, total, path: seen.append(done)) == (len(files) - 1, 1)
    assert [r["path"] for r in two] == files and seen == list(range(1, len(files) + 1))
    assert one == two


# ---------------------------------------------------------------------------------------------- front ends


def test_front_ends_give_scipys_bytes_without_importing_scipy_fft() -> None:
    code = ("import sys, numpy as np\n"
            "from soundsort.backbones import frontends as F, musicnn as M\n"
            "rng = np.random.default_rng(0)\n"
            "y = rng.normal(0, 0.3, 50000).astype(np.float32)\n"
            "a, b = F.log_mel_spectrogram(y), M.log_mel(y)\n"
            "assert 'scipy.fft' not in sys.modules and 'scipy.sparse' not in sys.modules and 'librosa' not in sys.modules\n"
            "import scipy.fft, scipy.sparse, librosa\n"
            "fr = F.frame_signal(y, 400, 160)\n"
            "mag = np.abs(scipy.fft.rfft(fr * F.hann_periodic(400), n=512, axis=1)).astype(np.float32)\n"
            "ref = np.log(mag @ scipy.sparse.csc_array(F.mel_matrix()) + np.float32(0.001))\n"
            "assert np.array_equal(a, ref), 'yamnet log-mel'\n"
            "fb = librosa.filters.mel(sr=16000, n_fft=512, n_mels=96, dtype=np.float32)\n"
            "assert np.array_equal(M._mel_filters(), np.ascontiguousarray(fb.T)), 'musicnn mel bank'\n"
            "p = np.concatenate([np.zeros(256, np.float32), y, np.zeros(256, np.float32)])\n"
            "f2 = np.lib.stride_tricks.sliding_window_view(p, 512)[::256][:1 + len(y) // 256]\n"
            "s = scipy.fft.rfft(f2 * M._WINDOW, axis=-1)\n"
            "pw = (s.real * s.real + s.imag * s.imag).astype(np.float32) @ np.ascontiguousarray(fb.T)\n"
            "assert np.array_equal(b, np.log10(pw * np.float32(10000) + np.float32(1))), 'musicnn log-mel'\n"
            "x = rng.normal(size=(7, 300))\n"
            "assert np.array_equal(F.rfft(x, n=512), scipy.fft.rfft(x, n=512, axis=-1))\n"
            "assert np.array_equal(F.rfft(x[:, :200].astype(np.float32), n=128), scipy.fft.rfft(x[:, :200].astype(np.float32), n=128, axis=-1))\n"
            "print('ok')\n")
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert res.returncode == 0 and res.stdout.strip() == "ok", res.stderr
