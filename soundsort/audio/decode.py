"""Decoding audio files into mono float32 arrays.

soundfile (libsndfile) is tried first: it reads WAV, FLAC, OGG/Vorbis, Opus and MP3 quickly and exactly.
What libsndfile cannot open (M4A/AAC, WMA, odd MP3s, ...) falls back to PyAV (FFmpeg).
Every failure becomes an :class:`~soundsort.errors.AudioError` that names the file and the reason.

Long files are read in blocks (:func:`stream`), so memory does not grow with file length.

Size: one job, decoding with two backends, and each bad-input check (header, length, samples) sits next
to the backend path it guards; split by backend, the checks both paths share would be written twice.

What the native decoders print on the process's stderr while libsndfile reads (libmpg123's ``error: ...``
and ``Note: ...`` lines for damaged but decodable MP3 frames) is captured around each call (see
:mod:`soundsort.audio.native_stderr`) and handed to the caller's ``messages`` collector, never to the
terminal. PyAV is not wrapped: it routes FFmpeg's log through its own callback, which is off by default.
"""

from __future__ import annotations

import errno
import os
import re
import stat
import struct
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import soundfile as sf

from soundsort.audio.native_stderr import DecoderMessages, decoder_stderr
from soundsort.audio.resample import StreamResampler
from soundsort.errors import AudioError, os_reason

#: Sample rates outside this range are treated as a damaged header, not as audio.
MIN_SAMPLE_RATE = 1_000
MAX_SAMPLE_RATE = 768_000
#: More channels than this is a damaged header (the widest real formats carry a few dozen).
MAX_CHANNELS = 1024
#: Decoded samples lie within about ±1; a peak above this (60 dB over full scale) is damaged float data.
MAX_ABS_SAMPLE = 1000.0
#: PyAV (FFmpeg) may read this many bytes looking for the first audio frame before the file is given up.
PROBE_BYTES = 32 << 20

#: File name endings soundsort looks for when it walks a folder.
AUDIO_EXTENSIONS = frozenset(
    {".wav", ".wave", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".m4a", ".mp4", ".aac", ".aif", ".aiff",
     ".aifc", ".wma", ".webm", ".mka", ".au", ".caf"}
)


@dataclass(frozen=True)
class AudioInfo:
    """What a file holds, read from its header (and checked against its size where possible)."""

    path: str
    sr: int
    channels: int
    frames: int
    duration: float
    format: str
    backend: str  # "soundfile" or "pyav"
    #: the header states the exact length: decoding fewer frames means the file is truncated
    exact_length: bool = False


def is_audio_path(path: str | os.PathLike[str]) -> bool:
    """True when the file name has an audio extension soundsort handles."""
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


# --------------------------------------------------------------------------------------------------
# checks shared by both back ends


_FILE_TYPES = ((stat.S_ISFIFO, "named pipe (FIFO)"), (stat.S_ISCHR, "character device"),
               (stat.S_ISBLK, "block device"), (stat.S_ISSOCK, "socket"))
_PSEUDO_FS = ("/proc/", "/sys/")  # regular-looking files whose size and content mean nothing


def _check_file(path: Path) -> None:
    """Refuse what is not a readable regular file, saying what it is (never just "not found")."""
    try:
        st = os.stat(path)
    except OSError as exc:
        if os.path.islink(path) and exc.errno == errno.ENOENT:
            raise AudioError(f"broken symlink (its target {_readlink(path)} does not exist)", path) from None
        raise AudioError(os_reason(exc), path) from None
    if stat.S_ISDIR(st.st_mode):
        raise AudioError("is a directory, not an audio file", path)
    if not stat.S_ISREG(st.st_mode):
        kind = next((name for test, name in _FILE_TYPES if test(st.st_mode)), "special file")
        raise AudioError(f"not a regular file: {kind}", path)
    real = os.path.realpath(path)
    if real.startswith(_PSEUDO_FS):
        raise AudioError(f"not a regular file: system pseudo-file {real}", path)
    if st.st_size == 0:
        raise AudioError("empty file (0 bytes)", path)
    if not os.access(path, os.R_OK):
        raise AudioError("permission denied", path)


def _readlink(path: Path) -> str:
    try:
        return os.readlink(path)
    except OSError:
        return "?"


def _check_header(path: Path, sr: int, channels: int, frames: int | None) -> None:
    if not MIN_SAMPLE_RATE <= sr <= MAX_SAMPLE_RATE:
        raise AudioError(f"absurd sample rate {sr} Hz (damaged header?)", path)
    if channels < 1:
        raise AudioError("no audio channels", path)
    if channels > MAX_CHANNELS:
        raise AudioError(f"absurd number of channels {channels} (damaged header?)", path)
    if frames is not None and frames <= 0:
        raise AudioError("zero duration (no audio frames)", path)


def _check_samples(path: Path, block: np.ndarray) -> None:
    if not len(block):
        return
    peak = float(np.max(np.abs(block)))  # NaN propagates
    if not np.isfinite(peak):
        raise AudioError("contains NaN or Inf samples", path)
    if peak > MAX_ABS_SAMPLE:
        raise AudioError(f"samples out of range (peak {peak:.3g}; audio samples lie within about ±1)", path)


def _chunks(fh, size: int, pos: int, big_endian: bool) -> Iterator[tuple[bytes, int, int]]:
    """``(chunk id, data offset, declared length)`` of a RIFF / IFF file's top-level chunks."""
    fmt = ">I" if big_endian else "<I"
    for _ in range(100_000):  # a bound: a damaged file may describe endless tiny chunks
        if pos + 8 > size:
            return
        fh.seek(pos)
        head = fh.read(8)
        if len(head) < 8:
            return
        length = struct.unpack(fmt, head[4:])[0]
        yield head[:4], pos + 8, length
        pos += 8 + length + (length & 1)


def _declared_frames(path: Path) -> tuple[int, str] | None:
    """What a WAV or AIFF header says about the audio: ``(frames declared, problem)``.

    ``problem`` is a reason the header is damaged (0 bits per sample, 0 or absurdly many channels), or ""
    when there is none. None when the file is no plain WAV / AIFF or declares no length (streaming
    writers leave 0 or 0xFFFFFFFF).
    """
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12:
                return None
            if head[:4] == b"RIFF" and head[8:12] == b"WAVE":
                block = problem = None
                for cid, at, length in _chunks(fh, size, 12, big_endian=False):
                    if cid == b"fmt " and length >= 16:
                        fh.seek(at)
                        tag, channels, _, _, block, bits = struct.unpack("<HHIIHH", fh.read(16))
                        if channels == 0:
                            problem = "no audio channels (damaged WAV header)"
                        elif channels > MAX_CHANNELS:
                            problem = f"absurd number of channels {channels} (damaged header?)"
                        elif bits == 0 and tag in _PCM_TAGS:
                            problem = "damaged WAV header (0 bits per sample)"
                        elif tag not in _PCM_TAGS:
                            block = None  # compressed: the data size says nothing simple about frames
                    elif cid == b"data":
                        if problem:
                            return 0, problem
                        if length in (0, 0xFFFFFFFF) or not block:
                            return None
                        return length // block, ""
                return (0, problem) if problem else None
            if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
                for cid, at, length in _chunks(fh, size, 12, big_endian=True):
                    if cid == b"COMM" and length >= 18:
                        fh.seek(at)
                        frames = struct.unpack(">I", fh.read(6)[2:6])[0]
                        return (frames, "") if frames not in (0, 0xFFFFFFFF) else None
    except (OSError, struct.error):
        return None
    return None


#: WAV format tags whose frames are data bytes / block align (PCM, float, A-law, mu-law, extensible)
_PCM_TAGS = frozenset({0x0001, 0x0003, 0x0006, 0x0007, 0xFFFE})


def _wav_format_tag(path: Path) -> int | None:
    """A RIFF/WAVE file's format tag (1 = PCM, 3 = float, ...), or None for other files."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            head = fh.read(12)
            if len(head) < 12 or head[:4] != b"RIFF" or head[8:12] != b"WAVE":
                return None
            for cid, at, length in _chunks(fh, size, 12, big_endian=False):
                if cid == b"fmt " and length >= 2:
                    fh.seek(at)
                    return struct.unpack("<H", fh.read(2))[0]
    except (OSError, struct.error):
        return None
    return None


def _mp3_has_frame_count(path: Path) -> bool:
    """True when an MP3's first frame carries a Xing / Info / VBRI header (an exact frame count)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(10)
            skip = 0
            if head[:3] == b"ID3" and len(head) == 10:
                skip = 10 + ((head[6] & 0x7F) << 21 | (head[7] & 0x7F) << 14 | (head[8] & 0x7F) << 7
                             | (head[9] & 0x7F))
            fh.seek(skip)
            first = fh.read(4096)
    except OSError:
        return False
    return any(tag in first for tag in (b"Xing", b"Info", b"VBRI"))


def _ogg_unfinished(path: Path) -> bool:
    """True when an Ogg file stops before its last page (no end-of-stream flag, or a page cut short)."""
    try:
        size = os.stat(path).st_size
        with open(path, "rb") as fh:
            start = max(0, size - (1 << 16))
            fh.seek(start)
            tail = fh.read()
    except OSError:
        return False
    at = tail.rfind(b"OggS")
    while at >= 0 and (len(tail) - at < 27 or tail[at + 4] != 0):  # version 0; skip "OggS" inside data
        at = tail.rfind(b"OggS", 0, at)
    if at < 0:
        return True
    n_seg = tail[at + 26]
    if len(tail) < at + 27 + n_seg:
        return True
    body = sum(tail[at + 27: at + 27 + n_seg])
    if at + 27 + n_seg + body > len(tail):
        return True
    return not tail[at + 5] & 0x04


def _seconds(frames: int, sr: int) -> str:
    return f"{frames / sr:.1f} s"


# --------------------------------------------------------------------------------------------------
# back ends


def _sf_name(path: Path) -> bytes:
    """The name libsndfile is given: bytes, so that names that are not UTF-8 open too."""
    return os.fsencode(path)


def _sf_info(path: Path, messages: DecoderMessages | None = None) -> AudioInfo | None:
    declared = _declared_frames(path)
    if declared is not None and declared[1]:
        raise AudioError(declared[1], path)
    try:
        with decoder_stderr(messages, str(path)):
            inf = sf.info(_sf_name(path))
    except Exception:
        return None
    sr, frames = int(inf.samplerate), int(inf.frames)
    _check_header(path, sr, int(inf.channels), frames)
    if declared is not None and declared[0] > frames:  # libsndfile clamps a cut data chunk silently
        raise AudioError(f"truncated: the file holds {_seconds(frames, sr)} of the {_seconds(declared[0], sr)} "
                         "its header declares", path)
    if str(inf.format) == "OGG" and _ogg_unfinished(path):
        raise AudioError(f"truncated: the Ogg stream stops before its last page ({_seconds(frames, sr)} "
                         "present)", path)
    exact = str(inf.format) in _EXACT_LENGTH or (str(inf.format) == "MP3" and _mp3_has_frame_count(path))
    return AudioInfo(str(path), sr, int(inf.channels), frames, float(frames) / float(sr), str(inf.format),
                     "soundfile", exact)


#: Formats whose header gives the exact number of frames (a shorter decode means the file was cut)
_EXACT_LENGTH = frozenset({"WAV", "WAVEX", "AIFF", "FLAC", "W64", "RF64", "CAF"})


class _ProbeReader:
    """A file PyAV reads through while it opens a file: it sees end-of-file after ``PROBE_BYTES`` read.

    FFmpeg looking for the first audio frame in gigabytes of junk (a sparse file of zeros named .mp3)
    otherwise reads, and buffers, all of it.
    """

    def __init__(self, path: Path, budget: int = PROBE_BYTES) -> None:
        self.fh = open(path, "rb")
        self.name = str(path)  # FFmpeg's format guess looks at the name's extension too
        self.budget = budget
        self.exhausted = False

    def read(self, n: int = -1) -> bytes:
        if self.budget <= 0:
            self.exhausted = True
            return b""
        data = self.fh.read(self.budget if n is None or n < 0 else min(n, self.budget))
        self.budget -= len(data)
        return data

    def seek(self, offset: int, whence: int = 0) -> int:
        return self.fh.seek(offset, whence)

    def tell(self) -> int:
        return self.fh.tell()

    def seekable(self) -> bool:
        return True

    def readable(self) -> bool:
        return True

    def close(self) -> None:
        self.fh.close()


def _av_open(path: Path, *, probe: bool = False):  # -> (av.container.InputContainer, _ProbeReader | None)
    """Open with PyAV. With ``probe`` (reading the header only) at most :data:`PROBE_BYTES` are read."""
    import av  # imported lazily: only needed for formats libsndfile cannot read

    reader = _ProbeReader(path) if probe else None
    try:
        container = av.open(reader if reader is not None else str(path), mode="r")
    except Exception as exc:  # av.error.* are many; the message is what matters
        if reader is not None:
            reader.close()
            if reader.exhausted:
                raise AudioError(f"no audio frame found in the first {PROBE_BYTES >> 20} MB", path) from None
        raise AudioError(f"not a readable audio file ({_short(exc, path)})", path) from None
    if not container.streams.audio:
        _av_close(container, reader)
        raise AudioError("no audio stream in file", path)
    return container, reader


def _av_close(container, reader: _ProbeReader | None = None) -> None:
    container.close()
    if reader is not None:
        reader.close()


def _av_info(path: Path) -> AudioInfo:
    container, reader = _av_open(path, probe=True)
    try:
        stream = container.streams.audio[0]
        ctx = stream.codec_context
        if ctx is None:  # FFmpeg knows the container but has no decoder for this encoding
            tag = _wav_format_tag(path)
            what = f"WAV format tag {tag}" if tag is not None else "no decoder for it"
            raise AudioError(f"unsupported audio encoding ({what})", path)
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
        frames = int(round(duration * sr)) if np.isfinite(duration) and sr > 0 else None
        if not sr or not channels:  # FFmpeg found the format's signature but not one audio frame
            if reader is not None and reader.exhausted:
                raise AudioError(f"no audio frame found in the first {PROBE_BYTES >> 20} MB", path)
            raise AudioError("not a readable audio file (no audio frame found)", path)
        _check_header(path, sr, channels, frames)
        codec = ctx.name or "unknown"
        exact = frames is not None and any(n in container.format.name.split(",") for n in ("mp4", "mov"))
        return AudioInfo(str(path), sr, channels, frames or 0, duration, f"{container.format.name}/{codec}", "pyav",
                         exact)
    finally:
        _av_close(container, reader)


def _short(exc: BaseException, path: Path | None = None) -> str:
    msg = str(exc)
    if path is not None:  # the error line names the file once, at its start
        msg = msg.replace(f": '{path}'", "").replace(f"'{path}'", "").replace(str(path), "")
        msg = re.sub(r":\s*'[^']*'\s*$", "", msg)  # PyAV ends with ": 'NAME'", the name in its own spelling
    msg = re.sub(r"^\[Errno -?\d+\]\s*", "", " ".join(msg.split())).strip(" :;,") or type(exc).__name__
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
            fh = sf.SoundFile(_sf_name(path))
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

    container, _ = _av_open(path)
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
        _av_close(container)


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
    block_frames = max(1, int(block_seconds * inf.sr))
    blocks = _sf_blocks(p, block_frames, messages) if inf.backend == "soundfile" else _av_blocks(p, block_frames)
    target = inf.sr if sr is None else int(sr)
    channels = 1 if mono else inf.channels
    resampler = None if target == inf.sr else StreamResampler(inf.sr, target, channels)
    total = native = 0
    for block in blocks:
        _check_samples(p, block)
        native += len(block)
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
    _check_length(p, inf, native)


def _check_length(path: Path, inf: AudioInfo, decoded: int) -> None:
    """A file whose header states its length must decode to that length (less a little slack for codecs'
    padding); shorter means the file was cut (or cut while it was being read)."""
    if not inf.exact_length or inf.frames <= 0:
        return
    slack = max(int(0.1 * inf.sr), inf.frames // 100) if inf.format not in ("WAV", "WAVEX", "AIFF",
                                                                                    "W64", "RF64", "CAF") else 0
    if decoded < inf.frames - slack:
        raise AudioError(f"truncated: decoded {_seconds(decoded, inf.sr)} of "
                         f"{_seconds(inf.frames, inf.sr)} declared", path)


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
    sr = info(p).sr if sr is None else int(sr)
    limit = None if max_seconds is None else int(round(max_seconds * sr))
    parts: list[np.ndarray] = []
    n = 0
    for block in stream(p, sr, mono=mono, messages=messages):
        parts.append(block)
        n += len(block)
        if limit is not None and n >= limit:
            break
    y = np.concatenate(parts) if len(parts) > 1 else parts[0]
    if limit is not None:
        y = y[:limit]
    return y, sr
