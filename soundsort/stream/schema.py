"""The JSON Schema of ``soundsort stream``'s events (``soundsort stream --schema``): one JSON object a line.

Every event has ``event`` (its kind) and ``position`` (seconds of the stream's audio received when it was
decided; a reconnect does not reset it: the audio missed while the source was away is not counted).
"""

from __future__ import annotations

from typing import Any

SCHEMA_ID = "https://soundsort.invalid/schemas/stream-event-1.json"

_NUM = {"type": "number"}
_POS = {"type": "number", "minimum": 0, "description": "seconds of the stream's audio received so far"}
_LABEL = {"type": "string", "description": "music or non-music (the music model's labels)"}
_TOP = {
    "type": "array",
    "items": {"type": "object", "required": ["label", "probability"], "additionalProperties": False,
              "properties": {"label": {"type": "string"},
                             "probability": {"type": "number", "minimum": 0, "maximum": 1}}},
    "description": "top-k genres, most likely first (mean of the genre model over the windows analysed)",
}


def _event(kind: str, description: str, required: list[str], props: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": "object", "description": description, "additionalProperties": False,
        "required": ["event", "position", *required],
        "properties": {"event": {"const": kind}, "position": _POS, **props},
    }


EVENTS: dict[str, dict[str, Any]] = {
    "start": _event("start", "The stream is open: its source, rate, and the models and rules in use.",
                    ["source", "sr", "latency"],
                    {"source": {"type": "string"}, "sr": {"type": "integer", "minimum": 1},
                     "latency": {**_NUM, "description": "seconds a boundary waits for before it is final"},
                     "models": {"type": "object"}}),
    "segment_start": _event("segment_start", "A segment begins (final: it will not be withdrawn).",
                            ["label", "start", "confidence"],
                            {"label": _LABEL, "start": {**_NUM, "minimum": 0},
                             "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                                            "description": "mean probability of the label so far"}}),
    "segment_end": _event("segment_end", "A segment ends; a music segment carries its genre, as classify's "
                          "timeline does.", ["label", "start", "end", "confidence"],
                          {"label": _LABEL, "start": {**_NUM, "minimum": 0}, "end": {**_NUM, "minimum": 0},
                           "confidence": {"type": "number", "minimum": 0, "maximum": 1},
                           "genre": {"anyOf": [_TOP, {"type": "null"}]},
                           "genre_windows": {"type": "integer", "minimum": 0}}),
    "genre": _event("genre", "The current music segment's genre so far, after one more analysed window.",
                    ["start", "genre", "windows"],
                    {"start": {**_NUM, "description": "the music segment's start"}, "genre": _TOP,
                     "windows": {"type": "integer", "minimum": 1}}),
    "heartbeat": _event("heartbeat", "Still running: how far the decisions are.", ["decided", "lag"],
                        {"decided": {**_NUM, "description": "seconds of the stream whose label is final"},
                         "lag": {**_NUM, "description": "position - decided (s)"},
                         "behind": {**_NUM, "description": "a paced or live source: wall-clock seconds the "
                                    "analysis is behind the audio"}}),
    "reconnect": _event("reconnect", "A URL source stalled or dropped; the next attempt comes after ``delay``.",
                        ["attempt", "delay", "reason"],
                        {"attempt": {"type": "integer", "minimum": 1}, "delay": {**_NUM, "minimum": 0},
                         "reason": {"type": "string"}}),
    "error": _event("error", "Something went wrong; ``fatal``: the stream stops here (an ``end`` follows).",
                    ["message", "fatal"], {"message": {"type": "string"}, "fatal": {"type": "boolean"}}),
    "end": _event("end", "The stream is over (the last segment_end came before this).", ["reason"],
                  {"reason": {"type": "string"}, "segments": {"type": "integer", "minimum": 0}}),
}


def schema() -> dict[str, Any]:
    """The JSON Schema (draft 2020-12) one event line follows."""
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "soundsort stream event",
        "description": __doc__.strip().split("\n\n")[1].replace("\n", " "),
        "oneOf": [{"$ref": f"#/$defs/{k}"} for k in EVENTS],
        "$defs": EVENTS,
    }
