"""Augmentations do what they say on real signals; ensemble rules give known answers."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from soundsort.audio.augment import augment, gain, mix_noise, random_crop, telephone
from soundsort.errors import ConfigError
from soundsort.models.ensembles import combine

SR = 22050


def band_energy(y: np.ndarray, sr: int, lo: float, hi: float) -> float:
    spec = np.abs(np.fft.rfft(y)) ** 2
    f = np.fft.rfftfreq(len(y), 1 / sr)
    return float(spec[(f >= lo) & (f < hi)].sum())


def test_telephone_removes_high_band_keeps_low() -> None:
    t = np.arange(SR * 2) / SR
    y = (0.3 * np.sin(2 * np.pi * 500 * t) + 0.3 * np.sin(2 * np.pi * 7000 * t)).astype(np.float32)
    out = telephone(y, SR)
    assert len(out) == len(y)
    assert band_energy(out, SR, 5000, 11025) < 1e-4 * band_energy(y, SR, 5000, 11025)
    assert band_energy(out, SR, 400, 600) == pytest.approx(band_energy(y, SR, 400, 600), rel=0.05)


@settings(max_examples=30, deadline=None)
@given(snr=st.floats(min_value=-5, max_value=20), seed=st.integers(0, 1000))
def test_mix_noise_hits_the_snr(snr: float, seed: int) -> None:
    rng = np.random.default_rng(seed)
    y = 0.1 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR).astype(np.float32)
    noise = rng.standard_normal(SR // 3).astype(np.float32) * 0.05
    out = mix_noise(y, noise, snr, np.random.default_rng(seed))
    resid = out - y
    measured = 10 * np.log10(np.mean(y ** 2) / np.mean(resid ** 2))
    if np.max(np.abs(y + resid)) <= 1.0:  # not renormalized
        assert measured == pytest.approx(snr, abs=0.05)


def test_gain_crop_and_augment() -> None:
    y = np.full(SR * 3, 0.5, np.float32)
    assert np.allclose(gain(y, -6.0206), 0.25, atol=1e-4)
    assert gain(y, 12).max() == 1.0  # clipped like a converter
    rng = np.random.default_rng(0)
    assert len(random_crop(y, SR, 1.5, rng)) == int(1.5 * SR)
    outs = [augment(y, SR, np.random.default_rng(s), noises=[np.random.default_rng(9).standard_normal(SR)])
            for s in range(20)]
    assert all(np.isfinite(o).all() and np.abs(o).max() <= 1.0 for o in outs)
    assert len({len(o) for o in outs}) > 1  # some were cropped
    again = augment(y, SR, np.random.default_rng(3), noises=[np.random.default_rng(9).standard_normal(SR)])
    np.testing.assert_array_equal(again, outs[3])  # seeded: reproducible


def test_ensemble_rules() -> None:
    a = np.array([[0.9, 0.1], [0.4, 0.6], [0.55, 0.45]])
    b = np.array([[0.6, 0.4], [0.3, 0.7], [0.2, 0.8]])
    c = np.array([[0.2, 0.8], [0.45, 0.55], [0.51, 0.49]])
    np.testing.assert_allclose(combine([a, b, c], "mean"), (a + b + c) / 3)
    vote = combine([a, b, c], "vote")
    assert vote.argmax(1).tolist() == [0, 1, 0]  # 2 of 3 members each time
    assert vote[0, 0] == pytest.approx(2 / 3, abs=1e-5)
    mx = combine([a, b, c], "max")
    np.testing.assert_allclose(mx[0], a[0])  # 0.9 is the most confident
    np.testing.assert_allclose(mx[2], b[2])  # 0.8
    with pytest.raises(ConfigError):
        combine([a], "median")
