"""Training on augmented copies: reproducible copies, cached, and cross-validation that never leaks a test file."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from hypothesis import given, settings
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression

from soundsort.audio.augment import AugmentConfig, NoisePool, augment_copy, mix_noise
from soundsort.cache import FeatureCache
from soundsort.evaluation.crossval import fit_on_files
from soundsort.examples import synth_music, synth_noise, synth_speech
from soundsort.features.augmented import AugmentedTable, augmented_rows, build_augmented_table, noise_files
from soundsort.features.registry import get_featurizer
from soundsort.inference.predict import Predictor
from soundsort.workflows import TrainConfig, train
from tests.conftest import run_cli

SR = 22050


def _write(path: Path, y: np.ndarray, sr: int = SR) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, y, sr)
    return path


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    root = tmp_path_factory.mktemp("aug")
    return [_write(root / "music" / f"m{i}.wav", synth_music(4.0, seed=i)) for i in range(3)] + \
           [_write(root / "noise" / f"n{i}.wav", synth_noise(4.0, seed=10 + i)) for i in range(3)]


def test_augment_copy_reports_the_noise_it_mixed() -> None:
    y = synth_music(3.0, seed=0)
    noises = [np.zeros(SR, np.float32), synth_noise(1.0, seed=5)]
    always = AugmentConfig(p_telephone=0, p_gain=0, p_crop=0, p_noise=1.0)
    for s in range(10):
        made = augment_copy(y, SR, np.random.default_rng(s), noises, always)
        assert made.noise_index in (0, 1)
        if made.noise_index == 1:  # the real noise changed the signal; the silent one could not
            assert not np.allclose(made.y, y)
    never = AugmentConfig(p_telephone=0, p_gain=0, p_crop=0, p_noise=0.0)
    assert augment_copy(y, SR, np.random.default_rng(0), noises, never).noise_index == -1


def test_augment_config_checks_its_settings() -> None:
    from soundsort.audio.augment import augment_config
    from soundsort.errors import ConfigError

    got = augment_config({"p_crop": 0, "snr_db": [5, 20]})
    assert got.p_crop == 0.0 and got.snr_db == (5.0, 20.0) and got.p_noise == AugmentConfig().p_noise
    assert augment_config(None) == AugmentConfig()
    for bad, match in [({"p_noise": 1.5}, "probability"), ({"snr_db": [20, 5]}, "range"),
                       ({"snr": [1, 2]}, "unknown augmentation setting 'snr'"), ({"gain_db": 3}, "range"),
                       ({"crop_seconds": [0, 1]}, "positive")]:
        with pytest.raises(ConfigError, match=match):
            augment_config(bad)
    # settings do what they say: no noise ever mixed when p_noise is 0
    y = synth_music(2.0, seed=1)
    never = augment_config({"p_noise": 0})
    assert all(augment_copy(y, SR, np.random.default_rng(s), [synth_noise(1.0)], never).noise_index == -1
               for s in range(20))


def test_noise_pool_decodes_lazily_and_bounds_memory(files: list[Path]) -> None:
    pool = NoisePool(files[3:], 16000, keep=2)
    assert len(pool) == 3
    first = pool[0]
    assert first.dtype == np.float32 and len(first) == pytest.approx(4.0 * 16000, abs=2)
    pool[1], pool[2]
    assert len(pool._decoded) == 2  # the oldest was dropped


def test_copies_are_seeded_by_content_not_position(files: list[Path]) -> None:
    fz = get_featurizer("handcrafted")
    a = build_augmented_table(files[:3], fz, copies=2, noises=files[3:], seed=7)
    b = build_augmented_table(list(reversed(files[:3])), fz, copies=2, noises=files[3:], seed=7)
    assert len(a) > 0 and a.copies == 2
    for i in range(3):  # file i of a is file 2 - i of b
        np.testing.assert_array_equal(a.values[a.source == i], b.values[b.source == 2 - i])
    c = build_augmented_table(files[:3], fz, copies=2, noises=files[3:], seed=8)
    assert not np.array_equal(a.values[: min(len(a), len(c))], c.values[: min(len(a), len(c))])
    # copies are degraded: they differ from the clean features of the same file
    clean = fz.segment_vectors(synth_music(4.0, seed=0))
    assert not np.allclose(a.values[a.source == 0][: len(clean)], clean[: len(a.values[a.source == 0])])


def test_noise_from_the_dataset_is_tracked(files: list[Path]) -> None:
    fz = get_featurizer("handcrafted")
    table = build_augmented_table(files, fz, copies=3, noises=files[3:], seed=0)
    assert set(np.unique(table.source)) == set(range(6))
    mixed = table.noise[table.noise >= 0]
    assert len(mixed) > 0 and set(np.unique(mixed)) <= {3, 4, 5}  # the noise files' own indices
    outside = build_augmented_table(files[:3], fz, copies=3, noises=files[3:], seed=0)
    assert (outside.noise == -1).all()  # noise not part of these paths: nothing to track


def test_augmented_copies_come_from_the_cache(files: list[Path], tmp_path: Path) -> None:
    fz = get_featurizer("handcrafted")
    cache = FeatureCache(tmp_path / "cache")
    first = build_augmented_table(files[:2], fz, copies=2, noises=files[3:], cache=cache)
    assert cache.misses == 4 and cache.hits == 0
    again = build_augmented_table(files[:2], fz, copies=2, noises=files[3:], cache=cache, jobs=2)
    np.testing.assert_array_equal(first.values, again.values)
    np.testing.assert_array_equal(first.noise, again.noise)
    cache2 = FeatureCache(tmp_path / "cache")
    build_augmented_table(files[:2], fz, copies=2, noises=files[3:], cache=cache2)
    assert cache2.hits == 4 and cache2.misses == 0
    # another noise set is another entry
    build_augmented_table(files[:2], fz, copies=2, noises=files[4:], cache=cache2)
    assert cache2.misses == 4


def test_unreadable_file_is_listed_and_bad_noise_is_a_clear_error(files: list[Path], tmp_path: Path) -> None:
    broken = tmp_path / "broken.wav"
    broken.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk")
    fz = get_featurizer("handcrafted")
    table = build_augmented_table([files[0], broken], fz, copies=1)
    assert [p for p, _ in table.failed] == [str(broken)]
    assert str(broken) in table.failed[0][1]
    assert set(np.unique(table.source)) == {0}
    from soundsort.errors import ConfigError

    with pytest.raises(ConfigError, match="broken.wav"):
        build_augmented_table([files[0]], fz, copies=1, noises=[broken])
    (tmp_path / "empty").mkdir()
    with pytest.raises(ConfigError, match="no audio files"):
        noise_files([tmp_path / "empty"])


@settings(max_examples=60, deadline=None)
@given(source=st.lists(st.integers(0, 9), min_size=1, max_size=40),
       noise_seed=st.integers(0, 10_000), train=st.sets(st.integers(0, 9)))
def test_augmented_rows_never_touch_files_outside_training(source: list[int], noise_seed: int,
                                                           train: set[int]) -> None:
    rng = np.random.default_rng(noise_seed)
    src = np.array(source)
    noise = rng.integers(-1, 10, len(src))
    table = AugmentedTable(np.zeros((len(src), 2)), src, noise, 1)
    files = np.array(sorted(train), dtype=int)
    rows = augmented_rows(table, files)
    assert all(src[r] in train and (noise[r] < 0 or noise[r] in train) for r in rows)
    left_out = np.setdiff1d(np.arange(len(src)), rows)
    assert all(src[r] not in train or (noise[r] >= 0 and noise[r] not in train) for r in left_out)


def test_fit_on_files_uses_exactly_the_allowed_copies() -> None:
    rng = np.random.default_rng(0)
    X = rng.standard_normal((40, 3))
    file_index = np.repeat(np.arange(8), 5)
    y_file = np.array([0, 1] * 4)
    X[:, 0] += 2.0 * y_file[file_index]
    aug_src = np.repeat(np.arange(8), 2)
    aug_noise = np.array([-1, 5] * 8)  # every second copy carries file 5's audio
    aug_vals = rng.standard_normal((16, 3)) + 3.0 * y_file[aug_src][:, None]
    table = AugmentedTable(aug_vals, aug_src, aug_noise, 2)
    train_files = np.array([0, 1, 2, 3, 4, 6])  # 5 (a noise source) and 7 held out
    got = fit_on_files(LogisticRegression(), X, file_index, y_file, train_files, augmented=table)
    allowed = np.isin(aug_src, train_files) & (aug_noise == -1)
    assert allowed.sum() == 6
    rows = np.isin(file_index, train_files)
    manual = LogisticRegression().fit(np.concatenate([X[rows], aug_vals[allowed]]),
                                      np.concatenate([y_file[file_index[rows]], y_file[aug_src[allowed]]]))
    np.testing.assert_allclose(got.coef_, manual.coef_)
    plain = fit_on_files(LogisticRegression(), X, file_index, y_file, train_files)
    assert not np.allclose(plain.coef_, got.coef_)  # the copies did change the fit


def test_augmentation_makes_a_model_robust_to_noisy_audio(tmp_path: Path) -> None:
    """Trained on clean clips, a model misjudges music and speech buried in noise; noisy copies fix that."""
    data = tmp_path / "data"
    for i in range(10):
        _write(data / "music" / f"m{i}.wav", synth_music(4.0, SR, seed=i))
        _write(data / "speech" / f"s{i}.wav", synth_speech(4.0, SR, seed=100 + i))
        _write(data / "noise" / f"n{i}.wav", synth_noise(4.0, SR, seed=200 + i))
    rng = np.random.default_rng(5)
    unseen = synth_noise(4.0, SR, seed=999)  # a noise recording no model trained with
    tests = [(mix_noise(synth_music(4.0, SR, seed=50 + i), unseen, 3.0, rng), "music") for i in range(5)]
    tests += [(mix_noise(synth_speech(4.0, SR, seed=150 + i), unseen, 3.0, rng), "non-music") for i in range(5)]
    paths = [_write(tmp_path / "test" / f"{j}.wav", y) for j, (y, _) in enumerate(tests)]
    scores = {}
    for copies in (0, 3):
        cfg = TrainConfig(features="handcrafted", model="logreg", learning_curve=False, embedding_map=False,
                          profile=False, augment=copies, augment_noise=[str(data / "noise")] if copies else [])
        res = train([data], cfg, model_dir=tmp_path / f"m{copies}", runs_dir=tmp_path / "runs")
        pred = Predictor(res.model_dir)
        scores[copies] = np.mean([pred.predict_file(p).label == want for p, (_, want) in zip(paths, tests)])
    assert scores[0] <= 0.7  # clean training: near chance in 3 dB noise
    assert scores[3] >= 0.9


def test_cli_train_with_augmentation_records_it(example_data: Path, tmp_path: Path) -> None:
    out = tmp_path / "model"
    res = run_cli("train", str(example_data), "--features", "handcrafted", "--model", "logreg", "--augment", "1",
                  "--augment-noise", str(example_data / "noise"), "--augment-param", "snr_db=[3,6]",
                  "-o", str(out), "--runs", str(tmp_path / "runs"),
                  "--no-learning-curve", "--no-embedding-map", "--no-profile", "-j", "1")
    assert res.returncode == 0, res.stderr
    assert "augmentation: 1 copies per file" in res.stderr
    card = json.loads((out / "model.json").read_text())
    assert card["training_data"]["augmentation"]["copies"] == 1
    assert card["training_data"]["augmentation"]["config"]["snr_db"] == [3.0, 6.0]
    bad = run_cli("train", str(example_data), "--augment-noise", str(example_data / "noise"), "-o",
                  str(tmp_path / "m2"), "--runs", str(tmp_path / "runs"), "-j", "1")
    assert bad.returncode != 0 and "need --augment N" in bad.stderr
    assert not (tmp_path / "m2").exists()
    missing = run_cli("train", str(example_data), "--augment", "1", "--augment-noise", str(tmp_path / "nowhere"),
                      "-o", str(tmp_path / "m3"), "--runs", str(tmp_path / "runs"), "-j", "1")
    assert missing.returncode != 0 and "nowhere" in missing.stderr and "noise folder not found" in missing.stderr
    typo = run_cli("train", str(example_data), "--augment", "1", "--augment-param", "p_nosie=0.5", "-o",
                   str(tmp_path / "m4"), "--runs", str(tmp_path / "runs"), "-j", "1")
    assert typo.returncode != 0 and "p_nosie" in typo.stderr and len(typo.stderr.strip().splitlines()) == 1
    shutil.rmtree(tmp_path / "runs", ignore_errors=True)
