"""Make ``tests/fixtures/musicnn_reference.npz`` by running the ORIGINAL musicnn TF1 graph.

Run this in a separate virtual environment with TensorFlow -- never in soundsort's own::

    python3 -m venv /tmp/tfenv
    /tmp/tfenv/bin/pip install "tensorflow-cpu==2.15.1" "numpy<2" librosa
    /tmp/tfenv/bin/python benchmarks/make_musicnn_reference.py \
        --musicnn-dir /work/main/.venv/lib/python3.11/site-packages/musicnn

(TF 2.15 still ships Keras 2, so ``tf.compat.v1.layers`` works as the original code expects; with
TF >= 2.16 install ``tf-keras`` too; ``TF_USE_LEGACY_KERAS=1`` is then set below.)

The graph is built by the wheel's own ``musicnn/models.py`` (``define_model``), exactly as
``musicnn/extractor.py`` does it (``name_scope('model')``, placeholders, ``Saver.restore`` of the
wheel's checkpoint, ``is_training=False``). The input is two fixed log-mel patches (187 x 96) made
from a seeded synthetic signal with the original librosa call -- kept in float32 rather than the
original's float16 cast, which only rounds (and overflows on loud input) and is not part of the
network. Stored: the patches, and for MSD_musicnn and MTT_musicnn the sigmoid ``tags`` (2x50),
``penultimate`` (2x200), ``max_pool`` and ``mean_pool`` (2x753 each).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import numpy as np

if importlib.util.find_spec("tf_keras") is not None:  # TF >= 2.16: tf.compat.v1.layers needs Keras 2
    os.environ.setdefault("TF_USE_LEGACY_KERAS", "1")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

SR = 16000
N_FRAMES = 187
MODELS = ("MSD_musicnn", "MTT_musicnn")


def synthetic_signal(seed: int = 1234, seconds: float = 6.0) -> np.ndarray:
    """A seeded test signal: a note sequence with harmonics, noise-burst 'drums', a chirp and noise."""
    rng = np.random.default_rng(seed)
    n = int(seconds * SR)
    t = np.arange(n) / SR
    y = np.zeros(n)
    note_len = SR // 4
    for start in range(0, n, note_len):
        f0 = 110.0 * 2 ** (rng.integers(0, 36) / 12)
        seg = slice(start, min(n, start + note_len))
        tt = t[seg] - t[start]
        env = np.exp(-3.0 * tt)
        for h in range(1, 6):
            y[seg] += env * np.sin(2 * np.pi * f0 * h * tt + rng.uniform(0, 2 * np.pi)) / h
    for start in range(0, n, SR // 2):  # percussive bursts
        m = min(n - start, 2000)
        y[start:start + m] += rng.normal(0, 1, m) * np.exp(-np.arange(m) / 300.0)
    y += 0.3 * np.sin(2 * np.pi * (200 * t + 300 * t ** 2))  # chirp 200 Hz -> 3.8 kHz
    y[n // 2:] += rng.normal(0, 0.2, n - n // 2)  # the second patch is noisier
    return (0.3 * y / np.max(np.abs(y))).astype(np.float32)


def reference_patches(seed: int = 1234) -> np.ndarray:
    """Two consecutive 187-frame log-mel patches, float32 ``[2, 187, 96]``, original parameters."""
    import librosa

    y = synthetic_signal(seed)
    mel = librosa.feature.melspectrogram(y=y, sr=SR, hop_length=256, n_fft=512, n_mels=96).T
    logmel = np.log10(10000 * mel.astype(np.float32) + 1).astype(np.float32)
    return np.stack([logmel[0:N_FRAMES], logmel[N_FRAMES:2 * N_FRAMES]])


def import_musicnn(folder: Path) -> None:
    """Make ``import musicnn.models`` load the wheel's original code from ``folder``."""
    spec = importlib.util.spec_from_file_location("musicnn", folder / "__init__.py",
                                                  submodule_search_locations=[str(folder)])
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["musicnn"] = module
    spec.loader.exec_module(module)


def run_original(model: str, patches: np.ndarray, folder: Path) -> dict[str, np.ndarray]:
    """Run ``musicnn.models.define_model`` with the wheel's checkpoint, as ``extractor.py`` does."""
    import tensorflow as tf
    from musicnn import models

    tf.compat.v1.disable_eager_execution()
    tf.compat.v1.reset_default_graph()
    with tf.name_scope("model"):
        x = tf.compat.v1.placeholder(tf.float32, [None, N_FRAMES, 96])
        is_training = tf.compat.v1.placeholder(tf.bool)
        y, timbral, temporal, cnn1, cnn2, cnn3, mean_pool, max_pool, penultimate = models.define_model(
            x, is_training, model, 50)
        normalized_y = tf.nn.sigmoid(y)
    with tf.compat.v1.Session() as sess:
        sess.run(tf.compat.v1.global_variables_initializer())
        tf.compat.v1.train.Saver().restore(sess, str(folder / model) + "/")
        tags, pen, mx, mn = sess.run([normalized_y, penultimate, max_pool, mean_pool],
                                     feed_dict={x: patches, is_training: False})
    return {"tags": tags, "penultimate": pen, "max_pool": mx, "mean_pool": mn}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--musicnn-dir", type=Path, required=True, help="the installed wheel's musicnn/ folder")
    ap.add_argument("--out", type=Path,
                    default=Path(__file__).resolve().parents[1] / "tests" / "fixtures" / "musicnn_reference.npz")
    args = ap.parse_args()

    import librosa
    import tensorflow as tf

    import_musicnn(args.musicnn_dir.resolve())
    patches = reference_patches()
    arrays: dict[str, np.ndarray] = {"patches": patches}
    for model in MODELS:
        out = run_original(model, patches, args.musicnn_dir.resolve())
        for key, value in out.items():
            arrays[f"{model}__{key}"] = np.asarray(value, dtype=np.float32)
            print(model, key, value.shape, float(np.abs(value).max()))
    arrays["versions"] = np.array(f"tensorflow {tf.__version__}; librosa {librosa.__version__}; numpy {np.__version__}")
    args.out.parent.mkdir(parents=True, exist_ok=True)
    np.savez_compressed(args.out, **arrays)
    print("wrote", args.out, args.out.stat().st_size, "bytes")


if __name__ == "__main__":
    main()
