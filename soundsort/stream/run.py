"""Following one source: audio in, events out (``soundsort stream`` and the web page's live view).

:func:`follow` reads a source (:mod:`soundsort.stream.sources`), feeds a
:class:`~soundsort.inference.online.LiveClassifier` and hands every event to ``emit`` as soon as it is decided:
``start``, the live classifier's ``segment_start`` / ``segment_end`` / ``genre`` / ``heartbeat``, the source's
``reconnect``, ``error`` and, always last, ``end``. Bad input never raises out of it: it becomes an ``error``
event and the exit status says how far it got.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable
from typing import Any

from soundsort.errors import SoundsortError
from soundsort.stream.sources import Audio, Status

#: exit statuses (as the CLI's): done; the stream was cut by an error after some audio; no audio at all; Ctrl-C
EXIT_OK, EXIT_CUT, EXIT_NOTHING, EXIT_INTERRUPTED = 0, 1, 3, 130
#: a peak below this (-80 dBFS) all along: the input was silent
SILENCE_PEAK = 1e-4


def follow(source: Iterable[Audio | Status], classifier: Any, emit: Callable[[dict[str, Any]], None], *,
           name: str = "-", latency: float = 2.0, heartbeat_seconds: float | None = 10.0, live: bool = False,
           clock: Callable[[], float] = time.monotonic, stop: Callable[[], bool] | None = None) -> int:
    """Classify ``source`` as it plays; every event goes to ``emit`` at once. Returns the exit status.

    ``live``: the source is paced (a URL, a device, ``--realtime``): heartbeats also say how far the analysis
    is ``behind`` the wall clock. ``stop``: polled between blocks; True ends the stream as if it had ended.
    """
    from soundsort.inference.online import LiveClassifier

    engine: LiveClassifier | None = None
    t0 = None
    status = EXIT_OK
    reason = "the source ended"
    segments = 0

    def send(events: list[dict[str, Any]]) -> None:
        nonlocal segments
        for ev in events:
            if ev["event"] == "heartbeat" and live and t0 is not None:
                ev["behind"] = round(max(0.0, (clock() - t0) - ev["position"]), 3)
            segments += ev["event"] == "segment_end"
            emit(ev)

    def position() -> float:
        return round(engine.position, 3) if engine is not None else 0.0

    try:
        for item in source:
            if isinstance(item, Status):
                ev = {"position": position(), **item.event}
                if ev["event"] == "end_of_source":
                    reason = ev["reason"]
                    break
                send([ev])
                continue
            if engine is None:
                engine = LiveClassifier(classifier, item.sr, latency=latency, heartbeat_seconds=heartbeat_seconds)
                t0 = clock()
                send([{"event": "start", "position": 0.0, "source": name, "sr": item.sr,
                       "latency": engine.timeline.latency, "models": classifier.models}])
            elif item.sr != engine.native_sr:  # sources keep one rate; a guard, not a path
                raise SoundsortError(f"the sample rate changed from {engine.native_sr} to {item.sr} Hz", name)
            send(engine.feed(item.y))
            if stop is not None and stop():
                reason = "stopped"
                break
    except KeyboardInterrupt:
        reason, status = "interrupted", EXIT_INTERRUPTED
    except SoundsortError as exc:
        status = EXIT_CUT if engine is not None and engine.position > 0 else EXIT_NOTHING
        send([{"event": "error", "position": position(), "message": str(exc), "fatal": True}])
        reason = "error"
    if engine is None:
        if status == EXIT_OK:
            send([{"event": "error", "position": 0.0, "message": f"{name}: no audio received", "fatal": True}])
            status, reason = EXIT_NOTHING, "error"
    else:
        try:
            send(engine.finish())
        except KeyboardInterrupt:
            status = EXIT_INTERRUPTED
        if segments == 0:
            send([{"event": "error", "position": position(), "fatal": False,
                   "message": f"{name}: too short to analyse ({engine.position:.2f} s of audio)"}])
            status = status if status != EXIT_OK else EXIT_CUT
        elif engine.peak < SILENCE_PEAK:
            peak = -math.inf if engine.peak == 0 else 20 * math.log10(engine.peak)
            send([{"event": "error", "position": position(), "fatal": False,
                   "message": f"{name}: the input was silent throughout (peak {peak:.0f} dBFS): reported as "
                              "non-music"}])
    send([{"event": "end", "position": position(), "reason": reason, "segments": segments}])
    return status
