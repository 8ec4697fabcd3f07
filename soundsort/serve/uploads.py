"""Uploads: streamed from the request to temporary files (never held whole in memory), size-limited,
their type told from the first bytes (not the name), deleted by whoever took them.

A request body is either ``multipart/form-data`` (any number of file parts, plus small text fields) or the
raw bytes of one file (its name in the ``X-Filename`` header or the ``filename`` query option).
"""

from __future__ import annotations

import asyncio
import os
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundsort.serve.errors import RequestError

#: Text fields of a multipart body may hold this many bytes together (they are options, not data).
MAX_FIELD_BYTES = 64 * 1024
#: At most this many files in one request.
MAX_FILES = 1000


@dataclass
class Upload:
    """One uploaded file on disk: ``name`` as the client gave it (no folders), ``kind`` the detected format
    (None: not audio, ``problem`` says why)."""

    name: str
    path: Path
    size: int = 0
    kind: str | None = None
    problem: str | None = None

    def remove(self) -> None:
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            pass


@dataclass
class Received:
    """What a request body held: the files (in order) and the text fields."""

    files: list[Upload] = field(default_factory=list)
    fields: dict[str, str] = field(default_factory=dict)

    def remove(self) -> None:
        for u in self.files:
            u.remove()


# ----------------------------------------------------------------------------------------- type detection

_NOT_AUDIO = ((b"%PDF", "a PDF document"), (b"\x89PNG", "a PNG image"), (b"\xff\xd8\xff", "a JPEG image"),
              (b"GIF8", "a GIF image"), (b"PK\x03\x04", "a ZIP archive"), (b"\x1f\x8b", "a gzip archive"),
              (b"\x7fELF", "a program (ELF)"), (b"MThd", "a MIDI file (notes, not sound)"))


def sniff(head: bytes) -> tuple[str | None, str | None]:
    """The audio format of a file from its first bytes → ``(kind, None)``, or ``(None, reason)``."""
    if not head:
        return None, "empty upload (0 bytes)"
    if head[:4] in (b"RIFF", b"RF64", b"BW64") and head[8:12] == b"WAVE":
        return "wav", None
    if head[:4] == b"fLaC":
        return "flac", None
    if head[:4] == b"OggS":
        return "ogg", None
    if head[:3] == b"ID3":
        return "mp3", None
    if head[4:8] == b"ftyp":
        return "m4a", None
    if head[:4] == b"FORM" and head[8:12] in (b"AIFF", b"AIFC"):
        return "aiff", None
    if head[:4] == b".snd":
        return "au", None
    if head[:4] == b"caff":
        return "caf", None
    if head[:8] == bytes.fromhex("3026b2758e66cf11"):
        return "wma", None
    if head[:4] == bytes.fromhex("1a45dfa3"):
        return "webm", None
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xF6) == 0xF0:
        return "aac", None  # ADTS
    if len(head) >= 2 and head[0] == 0xFF and (head[1] & 0xE0) == 0xE0 and (head[1] & 0x06):
        return "mp3", None  # an MPEG audio frame header (layer bits set)
    for magic, what in _NOT_AUDIO:
        if head.startswith(magic):
            return None, f"not audio: the content is {what}"
    sample = head[:512]
    if all(32 <= b < 127 or b in b"\t\r\n" for b in sample):
        return None, "not audio: the content is text"
    return None, "not audio: the content is no audio format soundsort reads (WAV, FLAC, Ogg, MP3, M4A/AAC, AIFF, " \
                 "AU, CAF, WMA, WebM)"


def upload_name(raw: str | None) -> str:
    """The file name a client gave, without any folders (``../x.wav`` → ``x.wav``); "upload" when none."""
    name = (raw or "").replace("\\", "/").rsplit("/", 1)[-1].strip()
    name = "".join(ch for ch in name if ch.isprintable())
    return name[:255] if name and name not in (".", "..") else "upload"


# ----------------------------------------------------------------------------------------- receiving

class _Sink:
    """Writes arriving file parts to temporary files in ``folder`` and counts the bytes of the body."""

    def __init__(self, folder: Path, max_bytes: int) -> None:
        self.folder, self.max_bytes = folder, max_bytes
        self.total = 0
        self.received = Received()
        self._fh: Any = None
        self._field: tuple[str, bytearray] | None = None
        self._field_bytes = 0
        self._head: dict[str, bytearray] = {}

    def new_file(self, name: str) -> None:
        if len(self.received.files) >= MAX_FILES:
            raise RequestError(413, f"too many files in one request (at most {MAX_FILES})")
        up = Upload(upload_name(name), self.folder / f"upload-{uuid.uuid4().hex}")
        self.received.files.append(up)
        self._fh = open(up.path, "wb")
        self._head[up.path.name] = bytearray()

    def write(self, data: bytes) -> None:
        if self._fh is not None:
            up = self.received.files[-1]
            head = self._head[up.path.name]
            if len(head) < 64:
                head.extend(data[: 64 - len(head)])
            self._fh.write(data)
            up.size += len(data)
        elif self._field is not None:
            self._field_bytes += len(data)
            if self._field_bytes > MAX_FIELD_BYTES:
                raise RequestError(413, f"form fields too long (at most {MAX_FIELD_BYTES} bytes together)")
            self._field[1].extend(data)

    def close_part(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
            up = self.received.files[-1]
            up.kind, up.problem = sniff(bytes(self._head.pop(up.path.name)))
            if up.kind is not None:  # the decoders get a name that says what the content is
                typed = up.path.with_suffix("." + up.kind)
                os.replace(up.path, typed)
                up.path = typed
        elif self._field is not None:
            key, value = self._field
            self.received.fields[key] = value.decode("utf-8", "replace")
            self._field = None

    def new_field(self, name: str) -> None:
        self._field = (name, bytearray())

    def abort(self) -> None:
        if self._fh is not None:
            self._fh.close()
            self._fh = None
        self.received.remove()

    def count(self, n: int) -> None:
        self.total += n
        if self.total > self.max_bytes:
            raise RequestError(413, f"upload too large (over the limit of {self.max_bytes:,} bytes)")


async def _chunks(stream: AsyncIterator[bytes], timeout: float) -> AsyncIterator[bytes]:
    """The body's chunks; a client that sends nothing for ``timeout`` seconds gets 408."""
    it = stream.__aiter__()
    while True:
        try:
            chunk = await asyncio.wait_for(it.__anext__(), timeout)
        except StopAsyncIteration:
            return
        except asyncio.TimeoutError:
            raise RequestError(408, f"upload stalled: no data for {timeout:g} s") from None
        if chunk:
            yield chunk


async def receive(request: Any, folder: Path, *, max_bytes: int, timeout: float,
                  raw_name: str | None = None) -> Received:
    """Stream a request's body into temporary files in ``folder`` (see the module's docstring).

    Raises :class:`RequestError`: 413 over ``max_bytes`` (at once when Content-Length says so), 408 when
    the client stalls, 400 for a malformed multipart body. Nothing is left on disk when it raises.
    """
    from python_multipart.multipart import MultipartParser, parse_options_header

    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise RequestError(413, f"upload too large ({int(declared):,} bytes; the limit is {max_bytes:,})")
    sink = _Sink(folder, max_bytes)
    ctype, params = parse_options_header(request.headers.get("content-type", ""))
    try:
        if ctype == b"multipart/form-data":
            boundary = params.get(b"boundary")
            if not boundary:
                raise RequestError(400, "multipart body without a boundary")
            part: dict[str, Any] = {}

            def on_part_begin() -> None:
                part.clear()
                part["headers"] = {}

            def on_header_field(data: bytes, start: int, end: int) -> None:
                part["field"] = part.get("field", b"") + data[start:end]

            def on_header_value(data: bytes, start: int, end: int) -> None:
                part["value"] = part.get("value", b"") + data[start:end]

            def on_header_end() -> None:
                part["headers"][part.pop("field", b"").lower()] = part.pop("value", b"")

            def on_headers_finished() -> None:
                _, disp = parse_options_header(part["headers"].get(b"content-disposition", b""))
                name = disp.get(b"name", b"").decode("utf-8", "replace")
                filename = disp.get(b"filename")
                if filename is not None:
                    sink.new_file(filename.decode("utf-8", "replace"))
                else:
                    sink.new_field(name)

            def on_part_data(data: bytes, start: int, end: int) -> None:
                sink.write(data[start:end])

            def on_part_end() -> None:
                sink.close_part()

            parser = MultipartParser(boundary, {
                "on_part_begin": on_part_begin, "on_header_field": on_header_field,
                "on_header_value": on_header_value, "on_header_end": on_header_end,
                "on_headers_finished": on_headers_finished, "on_part_data": on_part_data,
                "on_part_end": on_part_end})
            async for chunk in _chunks(request.stream(), timeout):
                sink.count(len(chunk))
                try:
                    parser.write(chunk)
                except RequestError:
                    raise
                except Exception as exc:  # python-multipart's parse errors
                    raise RequestError(400, f"malformed multipart body ({type(exc).__name__}: {exc})") from None
            try:
                parser.finalize()
            except Exception as exc:
                raise RequestError(400, f"malformed multipart body ({type(exc).__name__}: {exc})") from None
            if sink._fh is not None:
                raise RequestError(400, "multipart body ends inside a file part (the upload was cut short)")
        else:
            sink.new_file(raw_name or request.headers.get("x-filename") or "upload")
            async for chunk in _chunks(request.stream(), timeout):
                sink.count(len(chunk))
                sink.write(chunk)
            sink.close_part()
    except BaseException:
        sink.abort()
        raise
    return sink.received
