"""Decoding audio files into mono float32 arrays.

soundfile (libsndfile) is tried first: it reads WAV, FLAC, OGG/Vorbis, Opus and MP3 quickly and exactly.
What libsndfile cannot open (M4A/AAC, WMA, odd MP3s, ...) falls back to PyAV (FFmpeg).
Every failure becomes an :class:`~soundsort.errors.AudioError` that names the file and the reason.

Long files are read in blocks (:func:`stream`), so memory does not grow with file length.

What the native decoders print on the process's stderr while libsndfile reads (libmpg123's ``error: ...``
and ``Note: ...`` lines for damaged but decodable MP3 frames) is captured around each call (see
:mod:`soundsort.audio.native_stderr`) and handed to the caller's ``messages`` collector, never to the
terminal. PyAV is not wrapped: it routes FFmpeg's log through its own callback, which is off by default.
"""

from __future__ import annotations

import os
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsort.audio.native_stderr import DecoderMessages, decoder_stderr
from soundsort.audio.resample import StreamResampler
from soundsort.errors import AudioError

#: Sample rates outside this range are treated as a damaged header, not as audio.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000

#: File name endings soundsort looks for when it walks a folder.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".aif", ".aiff",
     ".aifc", ".wma", ".webm", ".mka", ".au", ".caf"}
)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header (and checked against its size where possible)."""

    path: str
    sample_rate: int
    channels: int
    frames: int
    duration: float
    format: str
    backend: str  # "soundfile" or "pyav"


def is_audio_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name has an audio extension soundsort handles."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


# --------------------------------------------------------------------------------------------------
# checks shared by both back ends


def _check_file(path: Path) -> None:
    if not path.exists():
        raise AudioError("file not found", path)
    if path.is_dir():
        raise AudioError("is a directory, not an audio file", path)
    try:
        size = path.stat().st_size
    except OSError as exc:
        raise AudioError(f"cannot read file ({exc.strerror})", path) from None
    if size == 0:
        raise AudioError("empty file (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise AudioError("permission denied", path)


def _check_header(path: Path, sample_rate: int, channels: int, frames: int | None) -> None:
    if not MIN_SAMPLE_RATE <= sample_rate <= MAX_SAMPLE_RATE:
        raise AudioError(f"absurd sample rate {sample_rate} Hz (damaged header?)", path)
    if channels < 1:
        raise AudioError("no audio channels", path)
    if frames is not None and frames <= 0:
        raise AudioError("zero duration (no audio frames)", path)


def _check_samples(path: Path, block: np.ndarray) -> None:
    if not np.all(np.isfinite(block)):
        raise AudioError("contains NaN or Inf samples", path)


def _wav_truncation(path: Path) -> str | None:
    """For RIFF/WAVE files, compare the declared data size with the bytes present.

    libsndfile silently clamps a truncated data chunk; a user wants to know the file is cut short.
    Returns a reason string, or None when the file is whole (or not a plain RIFF WAVE).
    """
    try:
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            size = path.stat().st_size
            pos = 12
            while pos + 8 <= size:
                fh.seek(pos)
                chunk = fh.read(8)
                if len(chunk) < 8:
                    return None
                cid, clen = chunk[:4], struct.unpack("<I", chunk[4:])[0]
                if cid == b"data":
                    if clen in (0, 0xFFFFFFFF):  # streaming writers leave 0 / -1: nothing to compare
                        return None
                    missing = pos + 8 + clen - size
                    if missing > 0:
                        return f"truncated: {missing} bytes of audio data missing"
                    return None
                pos += 8 + clen + (clen & 1)
    except OSError:
        return None
    return None


# --------------------------------------------------------------------------------------------------
# back ends


def _sf_info(path: Path, messages: DecoderMessages | None = None) -> AudioInfo | None:
    try:
        with decoder_stderr(messages, str(path)):
            inf = sf.info(str(path))
    except Exception:
        return None
    _check_header(path, int(inf.samplerate), int(inf.channels), int(inf.frames))
    reason = _wav_truncation(path)
    if reason:
        raise AudioError(reason, path)
    return AudioInfo(str(path), int(inf.samplerate), int(inf.channels), int(inf.frames),
                     float(inf.frames) / float(inf.samplerate), str(inf.format), "soundfile")


def _av_open(path: Path):  # -> av.container.InputContainer
    import av  # imported lazily: only needed for formats libsndfile cannot read

    try:
        container = av.open(str(path), mode="r")
    except Exception as exc:  # av.error.* are many; the message is what matters
        raise AudioError(f"not a readable audio file ({_short(exc, path)})", path) from None
    if not container.streams.audio:
        container.close()
        raise AudioError("no audio stream in file", path)
    return container


def _av_info(path: Path) -> AudioInfo:
    container = _av_open(path)
    try:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        sr = int(ctx.sample_rate or stream.rate or 0)
        channels = int(ctx.channels or 0) if hasattr(ctx, "channels") else len(ctx.layout.channels)
        if not channels and ctx.layout is not None:
            channels = len(ctx.layout.channels)
        if stream.duration is not None and stream.time_base is not None:
            duration = float(stream.duration * stream.time_base)
        elif container.duration is not None:
            duration = float(container.duration) / 1_000_000.0
        else:
            duration = float("nan")
        frames = int(round(duration * sr)) if np.isfinite(duration) else None
        _check_header(path, sr, channels, frames)
        codec = ctx.name or "unknown"
        return AudioInfo(str(path), sr, channels, frames or 0, duration, f"{container.format.name}/{codec}", "pyav")
    finally:
        container.close()


def _short(exc: BaseException, path: Path | None = None) -> str:
    msg = str(exc)
    if path is not None:  # the error line names the file once, at its start
        msg = msg.replace(f": '{path}'", "").replace(f"'{path}'", "").replace(str(path), "")
    msg = " ".join(msg.split()).strip(" :;,") or type(exc).__name__
    return msg if len(msg) < 160 else msg[:157] + "..."


def info(path: str | os.PathLike[str], *, messages: DecoderMessages | None = None) -> AudioInfo:
    """Read a file's header: sample rate, channels, frames, duration, format.

    Raises :class:`AudioError` for missing, empty, non-audio or damaged files. What the decoder prints
    goes to ``messages`` when given (else to the debug log), never to the terminal.
    """
    p = Path(path)
    _check_file(p)
    got = _sf_info(p, messages)
    return got if got is not None else _av_info(p)


# --------------------------------------------------------------------------------------------------
# reading


def _to_mono(block: np.ndarray) -> np.ndarray:
    """(frames, channels) → (frames,) by averaging channels."""
    if block.ndim == 1:
        return block
    if block.shape[1] == 1:
        return block[:, 0]
    return block.mean(axis=1, dtype=np.float32)


def _sf_blocks(path: Path, block_frames: int, messages: DecoderMessages | None = None) -> Iterator[np.ndarray]:
    label = str(path)
    try:
        with decoder_stderr(messages, label):  # each native call captured on its own: never across a yield
            fh = sf.SoundFile(label)
        try:
            while True:
                with decoder_stderr(messages, label):
                    data = fh.read(block_frames, dtype="float32", always_2d=True)
                if data.shape[0] == 0:
                    break
                yield data
        finally:
            with decoder_stderr(messages, label):
                fh.close()
    except AudioError:
        raise
    except Exception as exc:
        raise AudioError(f"truncated or corrupt audio data ({_short(exc, path)})", path) from None


def _av_blocks(path: Path, block_frames: int) -> Iterator[np.ndarray]:
    import av

    container = _av_open(path)
    pending: list[np.ndarray] = []
    n_pending = 0
    try:
        stream = container.streams.audio[0]
        stream.thread_type = "AUTO"
        for frame in container.decode(stream):
            arr = frame.to_ndarray()
            fmt = frame.format
            if fmt.is_planar:  # (channels, samples)
                arr = arr.T
            else:  # packed: (1, samples*channels)
                arr = arr.reshape(-1, len(frame.layout.channels))
            arr = _pcm_to_float(arr, fmt.name)
            pending.append(arr)
            n_pending += arr.shape[0]
            if n_pending >= block_frames:
                data = np.concatenate(pending)
                pending, n_pending = [], 0
                for start in range(0, data.shape[0] - block_frames + 1, block_frames):
                    yield data[start:start + block_frames]
                rest = data.shape[0] % block_frames
                if rest:
                    pending, n_pending = [data[-rest:]], rest
        if pending:
            yield np.concatenate(pending)
    except AudioError:
        raise
    except av.error.FFmpegError as exc:
        raise AudioError(f"truncated or corrupt audio data ({_short(exc, path)})", path) from None
    finally:
        container.close()


def _pcm_to_float(arr: np.ndarray, fmt_name: str) -> np.ndarray:
    base = fmt_name.rstrip("p")
    if base in ("flt", "dbl"):
        return arr.astype(np.float32, copy=False)
    scale = {"u8": 128.0, "s16": 32768.0, "s32": 2147483648.0, "s64": 9.223372036854775808e18}.get(base)
    if scale is None:
        return arr.astype(np.float32)
    out = arr.astype(np.float32)
    if base == "u8":
        out -= 128.0
    return out / np.float32(scale)


def stream(
    path: str | os.PathLike[str],
    sr: int | None = None,
    *,
    mono: bool = True,
    block_seconds: float = 30.0,
    messages: DecoderMessages | None = None,
) -> Iterator[np.ndarray]:
    """Yield the file's audio in consecutive blocks of about ``block_seconds`` at rate ``sr``.

    Blocks are float32, mono ``(n,)`` when ``mono`` else ``(n, channels)``. Resampling uses one
    streaming soxr state, so block joins are seamless: concatenating the blocks equals
    :func:`load` of the whole file. Memory stays bounded by the block size. Decoder messages go to
    ``messages`` (a :class:`~soundsort.audio.native_stderr.DecoderMessages`) when given.
    """
    p = Path(path)
    inf = info(p, messages=messages)
    block_frames = max(1, int(block_seconds * inf.sample_rate))
    blocks = _sf_blocks(p, block_frames, messages) if inf.backend == "soundfile" else _av_blocks(p, block_frames)
    target = inf.sample_rate if sr is None else int(sr)
    channels = 1 if mono else inf.channels
    resampler = None if target == inf.sample_rate else StreamResampler(inf.sample_rate, target, channels)
    total = 0
    for block in blocks:
        _check_samples(p, block)
        data = _to_mono(block) if mono else block
        if resampler is not None:
            data = resampler.process(data, last=False)
        if len(data):
            total += len(data)
            yield np.ascontiguousarray(data, dtype=np.float32)
    if resampler is not None:
        tail = resampler.process(np.zeros((0,) if mono else (0, channels), np.float32), last=True)
        if len(tail):
            total += len(tail)
            yield np.ascontiguousarray(tail, dtype=np.float32)
    if total == 0:
        raise AudioError("zero duration (no audio frames decoded)", p)


def load(
    path: str | os.PathLike[str],
    sr: int | None = None,
    *,
    mono: bool = True,
    max_seconds: float | None = None,
    messages: DecoderMessages | None = None,
) -> tuple[np.ndarray, int]:
    """Decode a whole file (or its first ``max_seconds``) → ``(y, sr)``.

    ``y`` is float32, mono ``(n,)`` unless ``mono=False`` (then ``(n, channels)``); ``sr`` is the
    requested rate, or the file's own when ``sr`` is None. Decoder messages go to ``messages`` when given.
    """
    p = Path(path)
    native = info(p).sample_rate
    rate = native if sr is None else int(sr)
    limit = None if max_seconds is None else int(round(max_seconds * rate))
    parts: list[np.ndarray] = []
    n = 0
    for block in stream(p, rate, mono=mono, messages=messages):
        parts.append(block)
        n += len(block)
        if limit is not None and n >= limit:
            break
    y = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if limit is not None:
        y = y[:limit]
    return y, rate
