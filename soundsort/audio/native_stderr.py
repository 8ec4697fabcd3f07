"""Keep what native decoders print off the terminal, and turn it into short per-file warnings.

libsndfile decodes MP3 with libmpg123, which prints to the process's C-level stderr (file descriptor 2)
on its own, e.g. ``[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (768) too large
...`` or ``Note: Trying to resync...``, for files that still decode fine. Python cannot intercept that
through ``sys.stderr``; :func:`decoder_stderr` points fd 2 at a private temporary file around each native
call (``dup2``), then puts fd 2 back and sorts what was written:

* lines shaped like a decoder message go to a :class:`DecoderMessages` collector (deduplicated, bounded),
  or to the ``soundsort.audio`` logger at debug level when the caller gave none;
* anything else is written back, byte for byte, to the real stderr.

Thread and process safety (fd 2 is shared by every thread of a process), and what it costs:

* A capture for a caller that collects the messages (``classify``) is exclusive in the process: no other
  capture runs meanwhile, so what the decoder writes is credited to that call's file, never to another
  thread's. Native decoding with collectors in several threads of one process therefore runs one call (one
  block) at a time; ``classify`` decodes in worker processes, each with its own state and file, so it
  does not contend. Captures without a collector (``index`` checking files in threads, training) share
  one redirection and run in parallel: their decoder lines only go to the debug log.
* Output of *other* threads written during a capture window (Python's ``sys.stderr`` writes to fd 2 too)
  is not lost: it does not look like a decoder message, so it is copied to the real stderr when the call
  returns (shared captures join a redirection for at most 0.25 s, so the delay stays about one native
  call, one block of audio), in pieces of whole lines of at most
  ``PIPE_BUF`` bytes (atomic on a pipe, so other threads' lines never land inside them). A write that took
  fd 2 just before it was put back may finish later: the file is append-only and read from where the last
  read stopped, so such a write is picked up (whole lines only) at the next capture or at exit.
  The costs: a decoder-shaped line another thread prints in that window would be taken for the decoder's;
  a line another thread writes in two pieces (``print()`` writes text and newline separately) may be
  joined to the next captured line; a child process started by another thread during a window writes to
  the file, and its output reaches the terminal late.
* A temporary file, not a pipe: nothing blocks however much is written, no reader thread is needed. It is
  emptied between captures once 1 MiB has gone through it.
* ``fork``: a child forked while a capture (of any thread) is in progress puts the real stderr back on
  its fd 2 and starts with fresh state and its own file.

If fd 2 is closed or cannot be duplicated (or the platform has no ``os.pread``), calls run uncaptured.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
import select
import tempfile
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

#: At most this many entries in a record's ``warnings`` (keep in step with ``inference/schema.py``):
#: ``MAX_WARNINGS - 1`` kinds of message, plus one line counting the rest.
MAX_WARNINGS = 6
#: A warning is cut to this many characters.
MAX_WARNING_CHARS = 160

_log = logging.getLogger("soundsort.audio")

# "[src/libmpg123/layer3.c:INT123_do_layer3():1774] error: part2_3_length (768) too large ..."
_SOURCED = re.compile(r"^\[(?P<src>[^\]\n]*\.c[^\]\n]*)\]\s*(?P<msg>(?:error|warning|note|debug)\b.*)$",
                      re.IGNORECASE)
# "Note: Illegal Audio-MPEG-Header 0x00000000 at offset 22014." / "Warning: ..." / "Error: ..."
_PLAIN = re.compile(r"^(?:Note|Warning|Error):\s.*$")


def decoder_message(line: str) -> str | None:
    """The short text of a native decoder's stderr line, or None when the line is not one."""
    line = line.strip()
    m = _SOURCED.match(line)
    if m:
        lib = "mpg123" if "mpg123" in m.group("src") else os.path.basename(m.group("src").split(":")[0])
        text = f"{lib} {m.group('msg')}"
    elif _PLAIN.match(line):
        text = line
    else:
        return None
    text = " ".join(text.split())
    return text if len(text) <= MAX_WARNING_CHARS else text[:MAX_WARNING_CHARS - 3] + "..."


class DecoderMessages:
    """A file's decoder messages: the same message (numbers aside) kept once with a count, few kinds kept.

    Memory is bounded whatever the file: ``MAX_WARNINGS - 1`` kinds and one counter for the rest.
    """

    def __init__(self, max_kinds: int = MAX_WARNINGS - 1) -> None:
        self.max_kinds = max(1, max_kinds)
        self._kinds: dict[str, list] = {}  # key (digits masked) -> [first text, count]
        self._more = 0

    def add(self, text: str) -> None:
        key = re.sub(r"\d+", "#", text)
        if key in self._kinds:
            self._kinds[key][1] += 1
        elif len(self._kinds) < self.max_kinds:
            self._kinds[key] = [text, 1]
        else:
            self._more += 1

    def __len__(self) -> int:
        return sum(n for _, n in self._kinds.values()) + self._more

    def summary(self) -> list[str]:
        """At most :data:`MAX_WARNINGS` short strings, in the order first seen."""
        out = [text if n == 1 else f"{text} ({n} times)" for text, n in self._kinds.values()]
        if self._more:
            out.append(f"{self._more} more decoder message{'s' if self._more > 1 else ''}")
        return out


class _State:
    """The process's capture file (append-only, unlinked), how far it has been read, and who holds fd 2."""

    def __init__(self) -> None:
        self.cond = threading.Condition(threading.Lock())
        self.holders = 0  # captures in progress: any number of shared ones, or one exclusive one
        self.exclusive = False
        self.exclusive_waiting = 0  # shared captures wait for these (no starvation)
        self.window = 0  # captures since fd 2 was redirected
        self.window_start = 0.0  # when (time.monotonic)
        self.saved: int | None = None  # a duplicate of the real stderr while fd 2 is redirected
        self.local = threading.local()  # per thread: nesting depth (an inner capture passes through)
        self.fd: int | None = None
        self.pid = os.getpid()
        self.read_to = 0  # bytes of the file already sorted
        self.seen_end = 0  # the file's size at the last look

    def capture_fd(self) -> int:
        if self.fd is None or self.pid != os.getpid():
            fd, name = tempfile.mkstemp(prefix="soundsort-stderr-")
            try:
                # O_APPEND: a write in flight when fd 2 is put back lands after what was read, never over it
                self.fd = os.open(name, os.O_RDWR | os.O_APPEND)
            finally:
                os.close(fd)
                try:
                    os.unlink(name)
                except OSError:
                    pass
            self.pid, self.read_to, self.seen_end = os.getpid(), 0, 0
        return self.fd


_state = _State()
#: The capture file is emptied (between captures) once this much has been read from it.
_RESET_BYTES = 1 << 20
#: Shared captures stop joining a redirection this old, so it ends and what others wrote comes out.
_MAX_WINDOW_SECONDS = 0.25


def _before_fork() -> None:
    _state.cond.acquire()  # no redirection is half done while the process forks


def _after_fork_parent() -> None:
    _state.cond.release()


def _after_fork_child() -> None:
    """The child gets the real stderr back if a capture (of any thread) was in progress, and fresh state."""
    global _state
    old, _state = _state, _State()
    for fd in (old.saved, old.fd):  # the child's copies only; the parent keeps its own
        if fd is None:
            continue
        try:
            if fd == old.saved:
                os.dup2(fd, 2)
            os.close(fd)
        except OSError:
            pass


if hasattr(os, "register_at_fork"):
    os.register_at_fork(before=_before_fork, after_in_parent=_after_fork_parent,
                        after_in_child=_after_fork_child)


def _write_fd(fd: int, data: bytes) -> None:
    """Write ``data`` in pieces of whole lines of at most PIPE_BUF bytes where it can: on a pipe each such
    piece is atomic, so lines other threads write straight to stderr meanwhile never land inside one."""
    limit = getattr(select, "PIPE_BUF", 512)
    while data:
        cut = data.rfind(b"\n", 0, limit) + 1 if len(data) > limit else len(data)
        if not cut:  # a line longer than PIPE_BUF: on its own
            cut = data.find(b"\n") + 1 or len(data)
        piece, data = data[:cut], data[cut:]
        while piece:
            try:
                n = os.write(fd, piece)
            except OSError:
                return
            piece = piece[n:]


def _sort(captured: bytes, real_fd: int, messages: DecoderMessages | None, label: str) -> None:
    """Decoder lines to ``messages`` (or the debug log); everything else back to the real stderr."""
    passthrough = bytearray()
    for raw in captured.splitlines(keepends=True):
        text = decoder_message(raw.decode("utf-8", "replace"))
        if text is None:
            passthrough += raw
        elif messages is not None:
            messages.add(text)
        else:
            _log.debug("%s: %s", label, text)
    if passthrough:
        _write_fd(real_fd, bytes(passthrough))


def _read_new(state: _State, tail: str) -> bytes:
    """What was appended to the capture file since the last read, up to its last newline.

    The part after the last newline may be a write of another thread still being copied in (a write
    that took fd 2 just before it was put back): it is left for a later look, unless ``tail`` is
    ``"all"``, or ``"stale"`` and it has not grown since the last look (then it is a line really written
    in pieces).
    """
    assert state.fd is not None
    end = os.fstat(state.fd).st_size
    chunks, pos = [], state.read_to
    while pos < end:
        chunk = os.pread(state.fd, end - pos, pos)
        if not chunk:
            break
        chunks.append(chunk)
        pos += len(chunk)
    data = b"".join(chunks)
    stale = pos == state.seen_end
    state.seen_end = pos
    if not (tail == "all" or tail == "stale" and stale):
        data = data[:data.rfind(b"\n") + 1]
    state.read_to += len(data)
    return data


def _drain(state: _State, tail: str = "stale") -> None:
    """Between captures (fd 2 is the real stderr): sort what arrived late, e.g. another thread's write
    that was in flight when fd 2 was put back; empty the file once it has grown and is all read."""
    if state.fd is None or state.pid != os.getpid():
        return
    try:
        late = _read_new(state, tail)
        if late:
            _sort(late, 2, None, "decoder")
        if state.read_to >= _RESET_BYTES and state.read_to == state.seen_end:
            os.ftruncate(state.fd, 0)
            state.read_to = state.seen_end = 0
    except OSError:
        pass


def _drain_at_exit() -> None:
    state = _state
    if state.cond.acquire(timeout=1.0):  # a daemon thread stuck in a capture must not hang the exit
        try:
            if not state.holders:
                _drain(state, tail="all")
        finally:
            state.cond.release()


atexit.register(_drain_at_exit)


def _redirect(state: _State) -> None:
    """First capture in: point fd 2 at the capture file (``state.saved`` stays None when impossible)."""
    try:
        tmp_fd = state.capture_fd()
        _drain(state)
        saved = os.dup(2)
    except OSError:
        return
    try:
        os.dup2(tmp_fd, 2)
    except OSError:
        os.close(saved)
        return
    state.saved = saved


def _restore(state: _State, messages: DecoderMessages | None, label: str) -> None:
    """Last capture out: put the real stderr back and sort what was written meanwhile."""
    saved, state.saved = state.saved, None
    if saved is None:
        return
    try:
        os.dup2(saved, 2)
        _sort(_read_new(state, tail="keep"), saved, messages, label)
    except OSError:
        pass
    finally:
        os.close(saved)


@contextmanager
def decoder_stderr(messages: DecoderMessages | None = None, label: str = "decoder") -> Iterator[None]:
    """Capture fd 2 around a native decoder call (see the module's notes).

    With a ``messages`` collector the capture is exclusive in the process (what the decoder says is
    credited to this call); without one, captures of several threads share one redirection and the
    decoder's lines go to the debug log, labelled ``label`` when only this call was running.
    """
    state = _state
    depth = getattr(state.local, "depth", 0)
    if depth or not hasattr(os, "pread"):  # an outer capture of this thread already holds fd 2
        yield
        return
    exclusive = messages is not None
    with state.cond:
        if exclusive:
            state.exclusive_waiting += 1
            while state.holders:
                state.cond.wait()
            state.exclusive_waiting -= 1
        else:  # joins a running shared window only while it is young: other output is never held long
            while state.exclusive or state.exclusive_waiting or (
                    state.holders and time.monotonic() - state.window_start > _MAX_WINDOW_SECONDS):
                state.cond.wait(_MAX_WINDOW_SECONDS)
        if not state.holders:
            _redirect(state)
            state.window, state.window_start = 0, time.monotonic()
        state.holders += 1
        state.window += 1
        state.exclusive = exclusive
    state.local.depth = 1
    try:
        yield
    finally:
        state.local.depth = 0
        with state.cond:
            state.holders -= 1
            if not state.holders:
                _restore(state, messages, label if state.window == 1 else "decoder (several files)")
                state.exclusive = False
                state.cond.notify_all()
