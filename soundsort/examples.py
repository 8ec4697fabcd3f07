"""Example audio that soundsort makes itself: synthesized music, real synthetic speech, noise, silence.

Used by ``soundsort demo`` (the Quick start) and the test suite, so neither needs a download.
Music is additive synthesis of chord progressions, a bass line, a melody and a drum pattern at a random
tempo and key. Speech comes from ``espeak-ng`` (a real formant speech synthesizer) when it is installed,
else from a small source-filter vowel/consonant synthesizer with syllable rhythm.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsort.audio.resample import resample

SR = 22050

_SENTENCES = [
    "The weather today will be cloudy with a chance of rain in the afternoon.",
    "Good evening and welcome to the late news from our studio.",
    "Please remember to bring your documents to the meeting on Thursday.",
    "The committee discussed the budget for almost three hours without agreement.",
    "Traffic on the northern highway is moving slowly after an accident near the bridge.",
    "Scientists have found a new species of frog in the mountain forests.",
    "Our next guest has written four books about the history of the city.",
    "If you have any questions, call us after the programme.",
    "The museum will be closed on Monday for repairs to the roof.",
    "She said that the results of the election would be announced tomorrow morning.",
    "Local farmers expect a good harvest after the warm and wet spring.",
    "Thank you for listening, we will be back after a short break.",
]
_VOICES = ["en", "en-us", "en-gb", "en+f3", "en+m3", "en-us+f2", "en+m7", "en-gb+f4"]


def have_espeak() -> bool:
    """True when ``espeak-ng`` (or ``espeak``) is on the PATH."""
    return shutil.which("espeak-ng") is not None or shutil.which("espeak") is not None


# ----------------------------------------------------------------------------------------------- music

def _note(freq: float, dur: float, sr: int, rng: np.random.Generator, bright: float) -> np.ndarray:
    n = int(dur * sr)
    t = np.arange(n) / sr
    out = np.zeros(n, np.float32)
    for h in range(1, 7):
        if freq * h > sr / 2.2:
            break
        out += (bright ** (h - 1)) * np.sin(2 * np.pi * freq * h * t + rng.uniform(0, 2 * np.pi))
    attack = min(n, int(0.01 * sr))
    env = np.exp(-t * rng.uniform(1.5, 4.0))
    env[:attack] *= np.linspace(0, 1, attack)
    return (out * env).astype(np.float32)


def _drum(kind: str, sr: int, rng: np.random.Generator) -> np.ndarray:
    n = int(0.25 * sr)
    t = np.arange(n) / sr
    if kind == "kick":
        f = 120 * np.exp(-t * 25) + 45
        return (np.sin(2 * np.pi * np.cumsum(f) / sr) * np.exp(-t * 18)).astype(np.float32)
    noise = rng.standard_normal(n).astype(np.float32)
    if kind == "snare":
        return (0.6 * noise * np.exp(-t * 25) + 0.4 * np.sin(2 * np.pi * 190 * t) * np.exp(-t * 30)).astype(np.float32)
    hat = np.diff(noise, prepend=0) * np.exp(-t * 80)
    return (0.3 * hat).astype(np.float32)


def _add(y: np.ndarray, start: int, seg: np.ndarray) -> None:
    """Mix ``seg`` into ``y`` at sample ``start`` (clipped at the end of ``y``)."""
    if start >= len(y):
        return
    m = min(len(seg), len(y) - start)
    y[start:start + m] += seg[:m]


def synth_music(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """A piece of synthesized music: chords, bass, melody and drums in a random key and tempo."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    y = np.zeros(n + sr, np.float32)
    bpm = rng.uniform(70, 150)
    beat = 60.0 / bpm
    root = 110.0 * 2 ** (rng.integers(0, 12) / 12)
    major = [0, 2, 4, 5, 7, 9, 11]
    minor = [0, 2, 3, 5, 7, 8, 10]
    scale = major if rng.random() < 0.5 else minor
    progression = rng.choice([0, 3, 4, 5], size=4)
    bright = rng.uniform(0.3, 0.7)
    drums = rng.random() < 0.8
    bar = 4 * beat
    t0, bar_i = 0.0, 0
    while t0 < seconds:
        degree = int(progression[bar_i % 4])
        chord = [scale[(degree + k) % 7] + 12 * ((degree + k) // 7) for k in (0, 2, 4)]
        for semis in chord:  # chord pad
            seg = _note(root * 2 * 2 ** (semis / 12), bar, sr, rng, bright) * 0.12
            a = int(t0 * sr)
            _add(y, a, seg)
        for b in range(4):  # bass and melody
            tb = t0 + b * beat
            a = int(tb * sr)
            seg = _note(root * 2 ** (chord[0] / 12) / 2, beat, sr, rng, 0.5) * 0.25
            _add(y, a, seg)
            for half in range(2):
                if rng.random() < 0.7:
                    deg = int(rng.integers(0, 7))
                    f = root * 4 * 2 ** (scale[deg] / 12)
                    am = int((tb + half * beat / 2) * sr)
                    seg = _note(f, beat / 2, sr, rng, bright) * 0.18
                    _add(y, am, seg)
            if drums:
                for kind, when in (("kick", 0.0 if b % 2 == 0 else None), ("snare", 0.0 if b % 2 == 1 else None),
                                   ("hat", 0.0), ("hat", 0.5)):
                    if when is None:
                        continue
                    ad = int((tb + when * beat) * sr)
                    d = _drum(kind, sr, rng) * 0.5
                    _add(y, ad, d)
        t0 += bar
        bar_i += 1
    y = y[:n]
    return (0.7 * y / max(1e-6, float(np.max(np.abs(y))))).astype(np.float32)


# ----------------------------------------------------------------------------------------------- speech

def espeak_speech(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Real synthetic speech from espeak-ng: random sentences, voices and speeds, with short pauses."""
    exe = shutil.which("espeak-ng") or shutil.which("espeak")
    if exe is None:
        raise RuntimeError("espeak-ng is not installed")
    rng = np.random.default_rng(seed)
    parts: list[np.ndarray] = []
    total = 0
    with tempfile.TemporaryDirectory() as tmp:
        i = 0
        while total < seconds * sr:
            text = " ".join(rng.choice(_SENTENCES, size=2, replace=False))
            out = Path(tmp) / f"s{i}.wav"
            subprocess.run([exe, "-v", str(rng.choice(_VOICES)), "-s", str(int(rng.integers(130, 190))),
                            "-p", str(int(rng.integers(30, 70))), "-w", str(out), text],
                           check=True, capture_output=True, timeout=60)
            y, file_sr = sf.read(out, dtype="float32", always_2d=False)
            y = resample(y, file_sr, sr)
            parts.append(y)
            parts.append(np.zeros(int(rng.uniform(0.15, 0.6) * sr), np.float32))
            total += len(y) + len(parts[-1])
            i += 1
    y = np.concatenate(parts)[: int(seconds * sr)]
    return (0.6 * y / max(1e-6, float(np.max(np.abs(y))))).astype(np.float32)


def formant_speech(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Speech-like sound without espeak: glottal pulses through vowel formants, noisy consonants, pauses."""
    from scipy.signal import lfilter

    rng = np.random.default_rng(seed)
    vowels = [(730, 1090, 2440), (270, 2290, 3010), (300, 870, 2240), (530, 1840, 2480), (570, 840, 2410)]
    out: list[np.ndarray] = []
    total = 0
    f0_base = rng.uniform(95, 220)
    while total < seconds * sr:
        if rng.random() < 0.12:  # pause between phrases
            seg = np.zeros(int(rng.uniform(0.1, 0.4) * sr), np.float32)
        else:
            dur = rng.uniform(0.12, 0.3)
            n = int(dur * sr)
            f0 = f0_base * (1 + 0.15 * np.sin(np.linspace(0, rng.uniform(1, 3), n))) * rng.uniform(0.9, 1.1)
            phase = np.cumsum(f0 / sr)
            src = (np.diff(np.floor(phase), prepend=0) > 0).astype(np.float32)
            seg = src
            for f in vowels[rng.integers(len(vowels))]:
                r = np.exp(-np.pi * 90 / sr)
                a = [1, -2 * r * np.cos(2 * np.pi * f / sr), r * r]
                seg = lfilter([1.0], a, seg)
            seg = seg * np.hanning(n)
            cons = rng.standard_normal(int(0.05 * sr)) * 0.05 * (rng.random() < 0.5)
            seg = np.concatenate([cons, seg]).astype(np.float32)
        out.append(seg.astype(np.float32))
        total += len(seg)
    y = np.concatenate(out)[: int(seconds * sr)]
    return (0.6 * y / max(1e-6, float(np.max(np.abs(y))))).astype(np.float32)


def synth_speech(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """espeak-ng speech when available, else the formant synthesizer."""
    return espeak_speech(seconds, sr, seed) if have_espeak() else formant_speech(seconds, sr, seed)


def synth_noise(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    """Environmental-like noise: coloured noise with random bursts (rain, traffic, wind)."""
    rng = np.random.default_rng(seed)
    n = int(seconds * sr)
    white = rng.standard_normal(n)
    spec = np.fft.rfft(white)
    freqs = np.fft.rfftfreq(n, 1 / sr)
    spec /= np.maximum(freqs, 20.0) ** rng.uniform(0.3, 1.0)
    y = np.fft.irfft(spec, n)
    env = np.ones(n)
    for _ in range(int(seconds * rng.uniform(0.5, 3))):
        a = int(rng.integers(0, n))
        length = int(rng.uniform(0.05, 0.5) * sr)
        env[a:a + length] += rng.uniform(1, 4)
    y *= env
    return (0.5 * y / max(1e-6, float(np.max(np.abs(y))))).astype(np.float32)


def make_example_dataset(root: str | Path, *, n_per_class: int = 8, seconds: float = 6.0, sr: int = SR,
                         seed: int = 0) -> Path:
    """Write ``root/music``, ``root/speech`` and ``root/noise`` folders of generated clips (FLAC)."""
    root = Path(root)
    makers = {"music": synth_music, "speech": synth_speech, "noise": synth_noise}
    for c, (label, fn) in enumerate(makers.items()):
        folder = root / label
        folder.mkdir(parents=True, exist_ok=True)
        for i in range(n_per_class):
            path = folder / f"{label}_{i:02d}.flac"
            if not path.exists():
                sf.write(path, fn(seconds, sr, seed=seed * 1000 + c * 100 + i), sr)
    return root


def make_mixed_recording(path: str | Path, layout: list[tuple[str, float]], *, sr: int = SR, seed: int = 0) -> list[dict]:
    """Write one file made of consecutive parts, e.g. ``[("speech", 5), ("music", 8), ("silence", 2)]``.

    Returns the true segments ``[{"start", "end", "kind"}]`` (seconds).
    """
    makers = {"music": synth_music, "speech": synth_speech, "noise": synth_noise,
              "silence": lambda s, r, seed=0: np.zeros(int(s * r), np.float32)}
    parts, truth, t = [], [], 0.0
    for i, (kind, secs) in enumerate(layout):
        y = makers[kind](secs, sr, seed=seed * 1000 + i)
        parts.append(y)
        truth.append({"start": round(t, 3), "end": round(t + len(y) / sr, 3), "kind": kind})
        t += len(y) / sr
    sf.write(path, np.concatenate(parts), sr)
    return truth
