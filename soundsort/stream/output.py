"""Where ``soundsort stream``'s events go: JSON lines (stdout or a file, flushed per event) or a live table.

A stream's log is appended as it happens (an event a line, flushed at once, so ``tail -f`` and pipes see it
when it is decided); it is not written atomically like classify's outputs, which exist only once complete.
"""

from __future__ import annotations

import json
from collections import deque
from typing import Any, TextIO


class JsonLines:
    """One compact JSON object a line, flushed after each event."""

    def __init__(self, fh: TextIO) -> None:
        self.fh = fh

    def __call__(self, event: dict[str, Any]) -> None:
        self.fh.write(json.dumps(event, separators=(",", ":"), allow_nan=False) + "\n")
        self.fh.flush()

    def close(self) -> None:
        self.fh.flush()


def _clock(s: float) -> str:
    s = max(0.0, float(s))
    h, rest = divmod(int(s), 3600)
    return f"{h}:{rest // 60:02d}:{rest % 60:02d}" if h else f"{rest // 60:02d}:{rest % 60:02d}"


def _genre(top: list[dict[str, Any]] | None) -> str:
    return ", ".join(f"{g['label']} {g['probability']:.2f}" for g in top or [])


class LiveTable:
    """A rich live view on the terminal: the segment now, its genre, the latest segments and messages."""

    def __init__(self, console: Any = None, rows: int = 12) -> None:
        from rich.console import Console
        from rich.live import Live

        self.console = console or Console()
        self.now: dict[str, Any] = {}
        self.genre: list[dict[str, Any]] | None = None
        self.position = 0.0
        self.lag = 0.0
        self.done: deque[dict[str, Any]] = deque(maxlen=rows)
        self.notes: deque[str] = deque(maxlen=4)
        self.source = ""
        self.live = Live(self._render(), console=self.console, refresh_per_second=4, transient=False)
        self.live.start()

    def __call__(self, ev: dict[str, Any]) -> None:
        kind = ev["event"]
        self.position = ev.get("position", self.position)
        if kind == "start":
            self.source = f"{ev['source']} ({ev['sr']} Hz, latency {ev['latency']} s)"
        elif kind == "segment_start":
            self.now, self.genre = ev, None
        elif kind == "genre":
            self.genre = ev["genre"]
        elif kind == "segment_end":
            self.done.appendleft(ev)
            self.now = {}
        elif kind == "heartbeat":
            self.lag = ev["lag"]
        elif kind in ("reconnect", "error", "end"):
            text = ev.get("message") or ev.get("reason") or ""
            self.notes.appendleft(f"{_clock(self.position)} {kind}: {text}")
        self.live.update(self._render())

    def _render(self) -> Any:
        from rich.console import Group
        from rich.table import Table
        from rich.text import Text

        head = Text()
        head.append(f"{self.source}  at {_clock(self.position)}  (decided to {_clock(self.position - self.lag)})\n")
        if self.now:
            style = "bold green" if self.now["label"] == "music" else "bold"
            head.append(f"now: {self.now['label']}", style=style)
            head.append(f" since {_clock(self.now['start'])}")
            if self.genre:
                head.append(f"  genre: {_genre(self.genre)}")
        table = Table(box=None, pad_edge=False)
        for col in ("start", "end", "label", "confidence", "genre"):
            table.add_column(col)
        for seg in self.done:
            table.add_row(_clock(seg["start"]), _clock(seg["end"]), seg["label"], f"{seg['confidence']:.2f}",
                          _genre(seg.get("genre")))
        return Group(head, table, *[Text(n, style="dim") for n in self.notes])

    def close(self) -> None:
        self.live.update(self._render())
        self.live.stop()
        self.console.print()
