"""A corpus of bad inputs, made on the fly: broken audio files, odd paths, and crafted model folders.

Everything is generated in a temporary folder by :func:`make_audio_corpus` and :func:`make_model_corpus`;
nothing binary is committed. Each bad input comes with the reason soundsort must give for it (a regular
expression matched against the one error line that names it); the good files placed among them must
still be classified.

Layout of an audio corpus (``index`` reads the first level as labels)::

    ROOT/bad/...      broken files and odd entries (FIFOs, links to devices, symlink loops, ...)
    ROOT/good/...     valid audio, some under odd names
    ROOT/deep/...     a folder nested deeper than the system's PATH_MAX
    extras            paths given on the command line only: a name longer than NAME_MAX, a folder named .wav
"""

from __future__ import annotations

import json
import os
import shutil
import struct
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsort.examples import synth_music, synth_noise, synth_speech

SR = 16000


@dataclass(frozen=True)
class Bad:
    """One bad input: where it is, what it is, and a regex the reason in its error line must match."""

    path: Path
    kind: str
    reason: str
    in_folder: bool = True  # found by walking ROOT (else only given on the command line)


@dataclass
class AudioCorpus:
    root: Path
    bad: list[Bad] = field(default_factory=list)
    good: list[Path] = field(default_factory=list)
    deep_dir: Path | None = None  # the first folder that cannot be listed by path (reported, not crashed on)

    def extras(self) -> list[Path]:
        """Paths to give on the command line besides ROOT (they are not found by walking it)."""
        return [b.path for b in self.bad if not b.in_folder]

    def kinds(self) -> list[str]:
        return [b.kind for b in self.bad]


def shown(path: str | os.PathLike[str]) -> str:
    """How soundsort names a path in its messages (undecodable bytes and control characters escaped)."""
    from soundsort.errors import display_path

    return display_path(path)


# ---------------------------------------------------------------------------------------------- audio bytes


def wav_bytes(*, fmt_tag: int = 1, channels: int = 1, rate: int = SR, bits: int = 16, frames: int = 1600,
              data: bytes | None = None, data_len: int | None = None) -> bytes:
    """A RIFF/WAVE file with any header values, sane or not."""
    block = max(1, channels * max(bits, 8) // 8)
    if data is None:
        data = (np.sin(np.arange(frames) * 0.05) * 8000).astype("<i2").tobytes() if bits == 16 else \
            bytes(frames * block)
    fmt = struct.pack("<HHIIHH", fmt_tag, channels, rate, rate * block & 0xFFFFFFFF, block & 0xFFFF, bits)
    size = len(data) if data_len is None else data_len
    body = b"WAVE" + b"fmt " + struct.pack("<I", len(fmt)) + fmt + b"data" + struct.pack("<I", size) + data
    return b"RIFF" + struct.pack("<I", 4 + len(body)) + body


def float_wav(path: Path, y: np.ndarray, sr: int = SR) -> None:
    sf.write(path, y.astype(np.float32), sr, subtype="FLOAT")


def encode_av(path: Path, y: np.ndarray, sr: int, codec: str, container: str) -> None:
    """Encode mono audio with PyAV's FFmpeg (what libsndfile cannot write: AAC in MP4)."""
    import av

    with av.open(str(path), mode="w", format=container) as out:
        stream = out.add_stream(codec, rate=sr)
        stream.layout = "mono"
        fmt = stream.codec_context.codec.audio_formats[0].name
        for start in range(0, len(y), 1024):
            chunk = y[start:start + 1024].astype(np.float32)
            arr = (np.clip(chunk, -1, 1) * 32767).astype(np.int16) if fmt.startswith("s16") else chunk
            frame = av.AudioFrame.from_ndarray(arr.reshape(1, -1), format=fmt, layout="mono")
            frame.sample_rate = sr
            for pkt in stream.encode(frame):
                out.mux(pkt)
        for pkt in stream.encode(None):
            out.mux(pkt)


def video_only(path: Path) -> None:
    """An MP4 holding one tiny video stream and no audio."""
    import av

    with av.open(str(path), mode="w", format="mp4") as out:
        vs = out.add_stream("mpeg4", rate=5)
        vs.width, vs.height, vs.pix_fmt = 32, 32, "yuv420p"
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(np.full((32, 32, 3), i * 60, np.uint8), format="rgb24")
            for pkt in vs.encode(frame):
                out.mux(pkt)
        for pkt in vs.encode(None):
            out.mux(pkt)


def png_bytes() -> bytes:
    """A real 8x8 PNG image (PyAV's png encoder)."""
    import io

    import av

    buf = io.BytesIO()
    with av.open(buf, mode="w", format="image2pipe") as out:
        vs = out.add_stream("png", rate=1)
        vs.width, vs.height, vs.pix_fmt = 8, 8, "rgb24"
        frame = av.VideoFrame.from_ndarray(np.full((8, 8, 3), 200, np.uint8), format="rgb24")
        for pkt in list(vs.encode(frame)) + list(vs.encode(None)):
            out.mux(pkt)
    return buf.getvalue()


def _cut(path: Path, keep: float) -> None:
    raw = path.read_bytes()
    path.write_bytes(raw[: int(len(raw) * keep)])


def _make_deep(base: Path, target_len: int = 4300) -> tuple[Path, Path]:
    """Folders nested so deep that the full path exceeds PATH_MAX, with a good file at the bottom.

    Made with directory file descriptors (no path that long is ever passed to the kernel). Returns
    ``(first folder whose path is too long, the file's full path)``.
    """
    comp = "d" * 200
    base.mkdir(parents=True, exist_ok=True)
    fd = os.open(base, os.O_RDONLY | os.O_DIRECTORY)
    path, first_too_long = str(base), None
    try:
        while len(path) < target_len:
            os.mkdir(comp, dir_fd=fd)
            nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)
            os.close(fd)
            fd = nfd
            path = path + "/" + comp
            if first_too_long is None and len(path) >= 4096:
                first_too_long = path
        wav = wav_bytes(frames=SR * 2)
        f = os.open("bottom.wav", os.O_WRONLY | os.O_CREAT, 0o644, dir_fd=fd)
        os.write(f, wav)
        os.close(f)
    finally:
        os.close(fd)
    return Path(first_too_long or path), Path(path + "/bottom.wav")


def remove_tree(path: Path) -> None:
    """Remove a corpus, including its too-deep folders (``shutil.rmtree`` uses directory fds)."""
    shutil.rmtree(path, ignore_errors=True)


# ---------------------------------------------------------------------------------------------- the corpus


def make_audio_corpus(root: Path, *, sparse_gib: float = 2.0) -> AudioCorpus:
    """Write the bad-input corpus (and the good files among it) under ``root``."""
    rng = np.random.default_rng(10)
    bad_dir, good_dir = root / "bad", root / "good"
    bad_dir.mkdir(parents=True)
    good_dir.mkdir()
    c = AudioCorpus(root)

    def bad(name: str, kind: str, reason: str, content: bytes | None = None, in_folder: bool = True) -> Path:
        p = bad_dir / name
        if content is not None:
            p.write_bytes(content)
        c.bad.append(Bad(p, kind, reason, in_folder))
        return p

    not_audio = r"not (a readable )?audio|no audio stream|unsupported|unknown format"

    # -- good files (they must still be classified, whatever is next to them)
    music = synth_music(4.0, SR, seed=5)
    sf.write(good_dir / "song.flac", music, SR)
    sf.write(good_dir / "talk.wav", synth_speech(4.0, SR, seed=6), SR)
    sf.write(good_dir / "song.ogg", synth_music(4.0, SR, seed=7), SR, format="OGG", subtype="VORBIS")
    sf.write(good_dir / "song.mp3", synth_music(4.0, SR, seed=8), SR, format="MP3", subtype="MPEG_LAYER_III")
    sf.write(good_dir / "stereo24.wav", np.stack([music, music[::-1]], axis=1), 44100, subtype="PCM_24")
    sf.write(good_dir / "u8.wav", synth_noise(3.0, 8000, seed=9), 8000, subtype="PCM_U8")
    sf.write(good_dir / "quiet.au", np.zeros(SR * 3, np.float32), SR, format="AU", subtype="PCM_16")
    sf.write(good_dir / "actually-flac.mp3", synth_music(3.0, SR, seed=11), SR, format="FLAC")
    encode_av(good_dir / "song.m4a", synth_music(3.0, SR, seed=12), SR, "aac", "mp4")
    odd = bytes(good_dir) + b"/caf\xe9 \xff\xfe.flac"  # not UTF-8: Latin-1 and stray bytes
    sf.write(odd, synth_music(3.0, SR, seed=13), SR, format="FLAC")  # soundfile takes such a name as bytes
    c.good = sorted(p for p in good_dir.iterdir())

    # -- empty, not audio, random bytes under every audio name
    bad("empty.wav", "empty file", r"empty file", b"")
    bad("shopping.mp3", "text named .mp3", not_audio, b"milk, eggs, bread\n" * 80)
    for ext in ("mp3", "wav", "flac", "ogg", "m4a", "opus", "aiff", "caf", "wma"):
        bad(f"random.{ext}", f"random bytes .{ext}", not_audio + r"|corrupt|truncated",
            rng.integers(0, 256, 48_000, dtype=np.uint8).tobytes())
    bad("riff-zeros.wav", "RIFF then zeros", not_audio, b"RIFF" + bytes(40))
    bad("id3-only.mp3", "ID3 tag, no frames", not_audio, b"ID3\x04\x00\x00\x00\x00\x00\x10" + bytes(400))
    bad("flac-magic.flac", "fLaC then garbage", not_audio + r"|corrupt",
        b"fLaC" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    bad("oggs-garbage.ogg", "OggS then garbage", not_audio + r"|corrupt",
        b"OggS" + rng.integers(0, 256, 4000, dtype=np.uint8).tobytes())
    bad("image.m4a", "a PNG image named .m4a", not_audio, png_bytes())
    video_only(bad("video-only.m4a", "MP4 with video, no audio", r"no audio stream"))

    # -- damaged headers
    bad("header-only.wav", "WAV header, no frames", r"zero duration", wav_bytes(data=b""))
    bad("zero-bits.wav", "WAV with 0 bits per sample", r"unsupported|not a readable audio|bits",
        wav_bytes(bits=0, data=bytes(3200)))
    bad("format-9999.wav", "WAV with format tag 9999", r"unsupported|not a readable audio",
        wav_bytes(fmt_tag=9999))
    bad("rate-1hz.wav", "WAV at 1 Hz", r"sample rate", wav_bytes(rate=1))
    bad("rate-50mhz.wav", "WAV at 50 MHz", r"sample rate", wav_bytes(rate=50_000_000))
    bad("no-channels.wav", "WAV with 0 channels", r"no audio channels", wav_bytes(channels=0))
    bad("65535-channels.wav", "WAV with 65535 channels", r"absurd number of channels 65535",
        wav_bytes(channels=65535, bits=16, data=bytes(65535 * 2 * 4)))
    bad("head-cut.wav", "first 30 bytes of a WAV", not_audio + r"|truncated", wav_bytes()[:30])
    bad("huge-data-chunk.wav", "WAV declaring 4 GB of data", r"truncated", wav_bytes(data_len=0xFFFFFFF0))

    # -- cut short
    for ext, fmt, sub, rate in (("wav", "WAV", "PCM_16", SR), ("flac", "FLAC", "PCM_16", SR),
                                ("mp3", "MP3", "MPEG_LAYER_III", SR), ("ogg", "OGG", "VORBIS", SR),
                                ("opus", "OGG", "OPUS", 48000), ("aiff", "AIFF", "PCM_16", SR)):
        p = bad(f"cut.{ext}", f"truncated .{ext}", r"truncated|corrupt")
        sf.write(p, synth_music(6.0, rate, seed=21), rate, format=fmt, subtype=sub)
        _cut(p, 0.5)
    p = bad("cut.m4a", "truncated .m4a (no index)", not_audio + r"|truncated|corrupt")
    encode_av(p, synth_music(4.0, SR, seed=22), SR, "aac", "mp4")
    _cut(p, 0.5)

    # -- bad samples
    y = synth_music(3.0, SR, seed=23)
    for name, value, reason in (("nan.wav", np.nan, r"NaN or Inf"), ("inf.wav", np.inf, r"NaN or Inf"),
                                ("1e30.wav", 1e30, r"samples out of range")):
        z = y.copy()
        z[SR: SR + 50] = value
        float_wav(bad(name, f"float WAV with {value} samples", reason), z)

    # -- not regular files, odd links, odd names
    os.mkfifo(bad("fifo.wav", "a FIFO", r"not a regular file: named pipe"))
    os.symlink("/dev/zero", bad("dev-zero.wav", "link to /dev/zero", r"not a regular file: character device"))
    os.symlink("/proc/self/mem", bad("proc-mem.wav", "link to /proc/self/mem", r"not a regular file"))
    os.symlink(bad_dir / "loop-b.wav", bad("loop-a.wav", "symlink loop", r"symlink loop"))
    os.symlink(bad_dir / "loop-a.wav", bad("loop-b.wav", "symlink loop (other end)", r"symlink loop"))
    os.symlink(bad_dir / "gone.wav", bad("broken-link.wav", "broken symlink", r"broken symlink"))
    bad("line\nbreak.wav", "newline in the name", not_audio, b"not audio\n" * 30)
    bad(os.fsdecode(b"\xff\xfe-bad.wav"), "non-UTF-8 name, bad content", not_audio, b"\x00\x01" * 500)
    if os.geteuid() != 0:  # root reads anything
        p = bad("locked.wav", "no read permission", r"permission denied", wav_bytes())
        p.chmod(0)
    with open(bad("sparse-zeros.mp3", f"{sparse_gib:g} GiB sparse file of zeros", not_audio + r"|no audio"),
              "wb") as fh:
        fh.truncate(int(sparse_gib * (1 << 30)))

    # -- paths only given on the command line
    bad("x" * 300 + ".wav", "name longer than NAME_MAX", r"file name too long", in_folder=False)
    bad("missing.wav", "file that does not exist", r"file not found", in_folder=False)

    # -- a folder nested deeper than PATH_MAX (its good file cannot be opened by path: say so)
    c.deep_dir, _ = _make_deep(root / "deep")
    return c


# ---------------------------------------------------------------------------------------------- model folders


@dataclass(frozen=True)
class BadModel:
    folder: Path
    kind: str
    reason: str  # regex: must name the wrong field (or the file) and what is wrong


def _card(base: Path) -> dict:
    return json.loads((base / "model.json").read_text())


def make_model_corpus(root: Path, base: Path) -> list[BadModel]:
    """Model folders crafted from the real model at ``base`` (a binary music model), each wrong in one way.

    Markers: a folder's ``model.skops`` may be replaced by a pickle that would create ``root/PWNED`` if
    anything unpickled it, and ``model.json`` fields try to name code to import.
    """
    root.mkdir(parents=True, exist_ok=True)
    good = _card(base)
    out: list[BadModel] = []

    def folder(name: str, kind: str, reason: str, card: object = None, raw: bytes | None = None,
               weights: bool = True) -> Path:
        d = root / name
        d.mkdir()
        if raw is not None:
            (d / "model.json").write_bytes(raw)
        elif card is not None:
            (d / "model.json").write_text(json.dumps(card))
        if weights:
            shutil.copy(base / "model.skops", d / "model.skops")
        out.append(BadModel(d, kind, reason))
        return d

    def changed(**kw: object) -> dict:
        return {**good, **kw}

    def without(key: str) -> dict:
        return {k: v for k, v in good.items() if k != key}

    folder("list", "model.json is a list", r"model\.json.*(object|dict)", card=[good])
    folder("string", "model.json is a string", r"model\.json.*(object|dict)", card="a model")
    folder("nested", "deeply nested JSON", r"model\.json.*(nested|unreadable|too deep)",
           raw=b"[" * 200_000 + b"]" * 200_000)
    folder("latin1", "model.json not UTF-8", r"model\.json.*UTF-8",
           raw=json.dumps(changed(notes="caf\u00e9"), ensure_ascii=False).encode("latin-1"))
    folder("broken-json", "model.json not JSON", r"model\.json.*(JSON|unreadable)", raw=b'{"task": "music",')
    folder("empty-json", "model.json empty", r"model\.json.*(JSON|unreadable|empty)", raw=b"")
    folder("no-json", "model.json missing", r"model\.json missing", weights=True)
    folder("version-string", "format_version a string", r"format_version", card=changed(format_version="1"))
    folder("version-future", "format_version from the future", r"format.*newer", card=changed(format_version=99))
    folder("labels-null", "labels null", r"labels", card=changed(labels=None))
    folder("labels-numbers", "labels numbers", r"labels", card=changed(labels=[0, 1]))
    folder("labels-dup", "duplicate labels", r"labels", card=changed(labels=["music", "music"]))
    folder("labels-missing", "no labels field", r"labels", card=without("labels"))
    folder("params-list", "featurizer_params a list", r"featurizer_params", card=changed(featurizer_params=[1, 2]))
    folder("params-unknown-set", "unknown feature set", r"feature", card=changed(
        featurizer="os.system", featurizer_params={**good["featurizer_params"], "name": "os.system"}))
    folder("positive-unknown", "positive label not a label", r"positive_label",
           card=changed(positive_label="jazz"))
    folder("threshold-string", "threshold a string", r"threshold", card=changed(threshold="0.5"))
    folder("threshold-nan", "threshold out of range", r"threshold", card=changed(threshold=7.5))
    folder("task-number", "task a number", r"task", card=changed(task=3))
    folder("fewer-labels", "fewer labels than the model's classes", r"labels.*class",
           card=changed(labels=["music"], positive_label=None))
    folder("more-labels", "three labels for a binary model", r"labels",
           card=changed(labels=["music", "non-music", "other"]))
    folder("ensemble-no-method", "ensemble without method", r"model_params.*method",
           card=changed(model="ensemble-mean", model_params={"members": ["a"]}), weights=False)
    folder("ensemble-self", "ensemble listing itself", r"member", card=changed(
        model="ensemble-mean", model_params={"method": "mean", "members": ["."]}), weights=False)
    folder("ensemble-escape", "ensemble member outside its folder", r"member", card=changed(
        model="ensemble-mean", model_params={"method": "mean", "members": ["../list"]}), weights=False)
    folder("ensemble-members-string", "ensemble members a string", r"members", card=changed(
        model="ensemble-mean", model_params={"method": "mean", "members": "a"}), weights=False)
    d = folder("pickle", "model.skops replaced by a pickle", r"model\.skops", card=good, weights=False)
    (d / "model.skops").write_bytes(_evil_pickle(root / "PWNED"))
    d = folder("skops-evil", "skops naming os.system", r"model\.skops.*(trust|damaged|loaded)", card=good,
               weights=False)
    (d / "model.skops").write_bytes(_evil_skops(root / "PWNED"))
    folder("no-weights", "model.skops missing", r"model\.skops missing", card=good, weights=False)
    return out


def _evil_pickle(marker: Path) -> bytes:
    import pickle

    class Boom:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    return pickle.dumps(Boom())


def _evil_skops(marker: Path) -> bytes:
    """A skops archive whose schema says: call ``os.system('touch MARKER')``."""
    import io
    import zipfile

    schema = {"__class__": "function", "__module__": "os", "__loader__": "FunctionNode", "content": {
        "module_path": "os", "function": "system"}, "_skops_version": "0.10", "protocol": 2}
    state = {"__class__": "system", "__module__": "os", "__loader__": "ObjectNode", "_skops_version": "0.10",
             "protocol": 2, "content": {"__class__": "str", "__module__": "builtins", "__loader__": "JsonNode",
                                        "content": json.dumps(f"touch {marker}"), "is_json": True}}
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as z:
        z.writestr("schema.json", json.dumps({**schema, "attrs": state}))
    return buf.getvalue()
