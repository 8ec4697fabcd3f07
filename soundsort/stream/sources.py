"""Live audio sources for ``soundsort stream``: each yields mono float32 blocks at one rate, and status events.

* :class:`PipeSource` — a byte stream (standard input) in any container / codec FFmpeg reads from a pipe;
* :class:`RawSource` — raw PCM on a byte stream (``--raw s16le --rate 44100 --channels 2``);
* :class:`UrlSource` — an ``http(s)://`` / Icecast URL through PyAV, reconnecting with back-off when the
  connection stalls (nothing for ``read_timeout`` seconds) or drops, each attempt reported as a ``reconnect``
  event; it ends when the server is gone for ``retries`` attempts in a row after a clean end of data;
* :class:`FileSource` — a file at its own pace, or paced like a live source (``realtime``);
* :class:`DeviceSource` — a sound card through the optional ``sounddevice`` package.

Iterating a source gives ``Audio`` (``y``, ``sr``) and ``Status`` (an event dict) items; a source that cannot be
read raises :class:`~soundsort.errors.AudioError` naming it and the reason.
"""

from __future__ import annotations

import queue
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, BinaryIO

import numpy as np

from soundsort.errors import AudioError, ConfigError

#: seconds of audio per block handed on (short, so decisions are not held back by the source)
BLOCK_SECONDS = 0.1
RAW_FORMATS = {"s16le": ("<i2", 32768.0), "s32le": ("<i4", 2147483648.0), "f32le": ("<f4", 1.0),
               "u8": ("u1", 128.0)}


@dataclass
class Audio:
    y: np.ndarray  # mono float32
    sr: int


@dataclass
class Status:
    event: dict[str, Any]


def _av_reason(exc: BaseException, name: str = "") -> str:
    msg = " ".join(str(exc).split())
    for tail in (": '<stdin>'", ": '<none>'", f": '{name}'"):
        msg = msg.replace(tail, "")
    msg = re.sub(r"^\[Errno -?\d+\]\s*", "", msg)
    return msg[:157] + "..." if len(msg) > 160 else (msg or type(exc).__name__)


def _decode(container: Any, rate: int | None) -> Iterator[Audio]:
    """Mono float32 blocks of a PyAV container's first audio stream (at ``rate``, else its own)."""
    import av

    if not container.streams.audio:
        raise AudioError("no audio stream in the input")
    stream = container.streams.audio[0]
    resampler = None
    pending: list[np.ndarray] = []
    n = 0
    sr = rate
    try:
        for frame in container.decode(stream):
            if resampler is None:
                sr = sr or frame.sample_rate
                resampler = av.AudioResampler(format="flt", layout="mono", rate=sr)
            for out in resampler.resample(frame):
                y = out.to_ndarray().reshape(-1)
                pending.append(y)
                n += len(y)
            if n >= BLOCK_SECONDS * sr:
                yield Audio(np.concatenate(pending).astype(np.float32, copy=False), sr)
                pending, n = [], 0
    except GeneratorExit:
        raise
    except Exception:
        if n:  # what was decoded before an error or a stall is kept
            yield Audio(np.concatenate(pending).astype(np.float32, copy=False), sr)
        raise
    if resampler is not None:
        for out in resampler.resample(None):
            y = out.to_ndarray().reshape(-1)
            pending.append(y)
            n += len(y)
    if n:
        yield Audio(np.concatenate(pending).astype(np.float32, copy=False), sr)


class PipeSource:
    """Any container / codec PyAV (FFmpeg) can read from a pipe, e.g. ``ffmpeg -i ... -f wav - |``."""

    def __init__(self, fh: BinaryIO, name: str = "<stdin>") -> None:
        self.fh, self.name = fh, name

    def __iter__(self) -> Iterator[Audio | Status]:
        import av

        try:
            container = av.open(self.fh, mode="r")
        except av.error.FFmpegError as exc:
            raise AudioError(f"not audio FFmpeg can read from a pipe ({_av_reason(exc)})", self.name) from None
        try:
            yield from _decode(container, None)
        except av.error.FFmpegError as exc:
            raise AudioError(f"truncated or corrupt audio data ({_av_reason(exc)})", self.name) from None
        finally:
            container.close()


class RawSource:
    """Raw interleaved PCM: ``fmt`` one of :data:`RAW_FORMATS`, ``rate`` Hz, ``channels``."""

    def __init__(self, fh: BinaryIO, fmt: str, rate: int, channels: int, name: str = "<stdin>") -> None:
        if fmt not in RAW_FORMATS:
            raise ConfigError(f"--raw {fmt!r}: one of {', '.join(RAW_FORMATS)}")
        if not 1000 <= rate <= 768_000:
            raise ConfigError(f"--rate {rate}: between 1000 and 768000 Hz")
        if not 1 <= channels <= 64:
            raise ConfigError(f"--channels {channels}: between 1 and 64")
        self.fh, self.fmt, self.rate, self.channels, self.name = fh, fmt, rate, channels, name

    def __iter__(self) -> Iterator[Audio | Status]:
        dtype, scale = RAW_FORMATS[self.fmt]
        frame = np.dtype(dtype).itemsize * self.channels
        want = max(1, int(BLOCK_SECONDS * self.rate)) * frame
        rest = b""
        read = getattr(self.fh, "read1", self.fh.read)
        while True:
            data = read(want)
            if not data:
                break
            data = rest + data
            cut = len(data) - len(data) % frame
            rest = data[cut:]
            if not cut:
                continue
            x = np.frombuffer(data[:cut], dtype=dtype).astype(np.float32)
            if self.fmt == "u8":
                x -= 128.0
            x = x.reshape(-1, self.channels).mean(axis=1) / np.float32(scale)
            yield Audio(x.astype(np.float32, copy=False), self.rate)
        if rest:
            yield Status({"event": "error", "fatal": False,
                          "message": f"{self.name}: the input ended inside a sample frame ({len(rest)} bytes "
                                     "dropped)"})


class UrlSource:
    """An ``http(s)://`` / Icecast stream; reconnects with back-off (``backoff`` s, doubling up to
    ``max_backoff``) when the connection stalls for ``read_timeout`` s or drops. A URL of a file with a known
    length (under a day) that was read to its end has ended: it is not read again."""

    def __init__(self, url: str, *, read_timeout: float = 10.0, retries: int = 10, backoff: float = 1.0,
                 max_backoff: float = 30.0, sleep: Any = time.sleep) -> None:
        self.url, self.read_timeout, self.retries = url, read_timeout, retries
        self.backoff, self.max_backoff, self._sleep = backoff, max_backoff, sleep

    def __iter__(self) -> Iterator[Audio | Status]:
        import av

        rate: int | None = None
        failures = 0  # consecutive attempts that gave no audio
        got_any = False
        attempt = 0
        reason = ""
        while True:
            received = False
            seconds = 0.0  # audio this connection gave
            try:
                container = av.open(self.url, mode="r", timeout=(self.read_timeout, self.read_timeout))
            except (av.error.FFmpegError, OSError) as exc:
                reason = f"cannot connect ({_av_reason(exc, self.url)})"
            else:
                try:
                    for audio in _decode(container, rate):
                        rate = audio.sr
                        received = got_any = True
                        seconds += len(audio.y) / audio.sr
                        yield audio
                    reason = "the stream ended"
                    length = container.duration  # a file of known length (not a live stream), read to its end
                    if length is not None and 0 < length / 1e6 < 24 * 3600 and seconds >= length / 1e6 - 0.5:
                        yield Status({"event": "end_of_source",
                                      "reason": f"the source ended (a file of {length / 1e6:.1f} s, all read)"})
                        return
                except av.error.ExitError:  # the read timeout's interrupt
                    reason = f"stalled (nothing for {self.read_timeout:g} s)"
                except (av.error.FFmpegError, OSError) as exc:
                    reason = f"the connection failed ({_av_reason(exc, self.url)})"
                except AudioError as exc:
                    reason = exc.reason
                finally:
                    container.close()
            failures = 0 if received else failures + 1
            if failures >= max(1, self.retries) or self.retries == 0:
                if not got_any:
                    raise AudioError(f"no audio after {failures} attempts: {reason}", self.url)
                yield Status({"event": "end_of_source", "reason": f"{reason} ({failures} attempts without audio)"})
                return
            attempt += 1
            delay = min(self.max_backoff, self.backoff * 2 ** failures)
            yield Status({"event": "reconnect", "attempt": attempt, "delay": round(delay, 3), "reason": reason})
            self._sleep(delay)


class FileSource:
    """A file, decoded in short blocks; ``realtime`` paces them like a live source (sleeps between blocks)."""

    def __init__(self, path: str, *, realtime: bool = False, clock: Any = time.monotonic,
                 sleep: Any = time.sleep) -> None:
        self.path, self.realtime, self._clock, self._sleep = path, realtime, clock, sleep

    def __iter__(self) -> Iterator[Audio | Status]:
        from soundsort.audio.decode import info, stream

        sr = info(self.path).sr
        start = self._clock()
        fed = 0
        for y in stream(self.path, None, block_seconds=BLOCK_SECONDS if self.realtime else 1.0):
            if self.realtime:
                wait = start + fed / sr - self._clock()
                if wait > 0:
                    self._sleep(wait)
            fed += len(y)
            yield Audio(y, sr)


class DeviceSource:
    """A sound card input (``sounddevice``, the optional extra ``device``); ``name`` as sounddevice knows it."""

    def __init__(self, name: str, rate: int | None = None, channels: int = 1) -> None:
        try:
            import sounddevice  # noqa: F401
        except (ImportError, OSError) as exc:  # OSError: the package is there, PortAudio is not
            raise ConfigError("--device needs the optional extra 'device' (pip install 'soundsort[device]', "
                              f"which installs sounddevice and needs PortAudio): {exc}") from None
        self.name, self.rate, self.channels = name, rate, channels

    def __iter__(self) -> Iterator[Audio | Status]:
        import sounddevice as sd

        try:
            dev = sd.query_devices(int(self.name) if self.name.isdigit() else self.name, "input")
        except (ValueError, sd.PortAudioError) as exc:
            raise AudioError(f"no such input device ({exc})", self.name) from None
        rate = int(self.rate or dev["default_samplerate"])
        blocks: queue.Queue[np.ndarray | None] = queue.Queue()
        stopped = threading.Event()

        def callback(indata: np.ndarray, frames: int, when: Any, status: Any) -> None:
            blocks.put(indata.mean(axis=1).astype(np.float32))

        with sd.InputStream(device=dev["index"], channels=self.channels, samplerate=rate, dtype="float32",
                            blocksize=int(BLOCK_SECONDS * rate), callback=callback, finished_callback=stopped.set):
            while not stopped.is_set():
                try:
                    yield Audio(blocks.get(timeout=1.0), rate)
                except queue.Empty:
                    continue


def open_source(spec: str | None, *, stdin: BinaryIO | None = None, raw: str | None = None,
                rate: int | None = None, channels: int = 1, device: str | None = None, realtime: bool = False,
                read_timeout: float = 10.0, retries: int = 10, backoff: float = 1.0
                ) -> PipeSource | RawSource | UrlSource | FileSource | DeviceSource:
    """The source ``spec`` names: ``-`` (``stdin``), a URL, a file, or ``device``."""
    if device is not None:
        if spec not in (None, ""):
            raise ConfigError("give a SOURCE or --device, not both")
        return DeviceSource(device, rate, channels)
    if not spec:
        raise ConfigError("no SOURCE given (-, a URL, a file, or --device NAME)")
    if raw is not None and spec != "-":
        raise ConfigError("--raw reads standard input: give - as the SOURCE")
    if spec == "-":
        import sys

        fh = stdin if stdin is not None else sys.stdin.buffer
        if raw is not None:
            if rate is None:
                raise ConfigError("--raw needs --rate (and --channels when not mono)")
            return RawSource(fh, raw, rate, channels)
        return PipeSource(fh)
    if "://" in spec:
        scheme = spec.split("://", 1)[0].lower()
        if scheme not in ("http", "https", "icecast", "rtmp", "rtsp", "udp", "tcp", "srt", "hls"):
            raise ConfigError(f"{spec}: unsupported URL scheme {scheme!r} (http, https, icecast, ...)")
        if scheme == "icecast":
            spec = "http://" + spec.split("://", 1)[1]
        return UrlSource(spec, read_timeout=read_timeout, retries=retries, backoff=backoff)
    return FileSource(spec, realtime=realtime)
