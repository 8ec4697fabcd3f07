"""The documented output of ``soundsort classify``: a JSON Schema for one file's record, and the CSV columns.

``--format json`` writes a list of records, ``jsonl`` one record per line, ``csv`` one row per file with
:data:`CSV_COLUMNS` (the timeline as a compact ``start-end:label;...`` string and the top genres as
``label:probability;...``, the decoder warnings joined by `` | ``). ``segments`` (one row per timeline
segment), ``audacity`` and ``textgrid`` are in :mod:`soundsort.inference.exports`. ``soundsort classify
--schema`` prints the schema.
"""

from __future__ import annotations

from typing import Any

#: At most this many ``warnings`` per record (the same number as ``soundsort.audio.native_stderr``'s).
MAX_WARNINGS = 6

GENRES_SCHEMA: dict[str, Any] = {
    "type": ["array", "null"],
    "items": {"type": "object", "required": ["label", "probability"], "additionalProperties": False,
              "properties": {"label": {"type": "string"},
                             "probability": {"type": "number", "minimum": 0, "maximum": 1}}},
}

SEGMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "required": ["start", "end", "label", "confidence"],
    "additionalProperties": False,
    "properties": {
        "start": {"type": "number", "minimum": 0, "description": "seconds from the start of the file"},
        "end": {"type": "number", "minimum": 0},
        "label": {"enum": ["music", "non-music"]},
        "confidence": {"type": "number", "minimum": 0, "maximum": 1,
                       "description": "mean probability of the segment's label over its frames"},
        "genre": {**GENRES_SCHEMA,
                  "description": "top-k genres of this music segment alone, from the genre windows inside it; "
                                 "null for non-music (present when classify ran with genre)"},
        "genre_windows": {"type": "integer", "minimum": 0, "description": "genre windows inside this segment"},
    },
}

RECORD_SCHEMA: dict[str, Any] = {
    "$schema": "https://json-schema.org/draft/2020-12/schema",
    "title": "soundsort classify: one file",
    "type": "object",
    "required": ["path", "status"],
    "additionalProperties": False,
    "properties": {
        "path": {"type": "string"},
        "status": {"enum": ["ok", "error"]},
        "duration": {"type": "number", "minimum": 0, "description": "seconds"},
        "music_probability": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                              "description": "mean music probability over the whole file"},
        "music_share": {"type": ["number", "null"], "minimum": 0, "maximum": 1,
                        "description": "share of the file's time the timeline calls music"},
        "label": {"enum": ["music", "non-music", "mixed", None],
                  "description": "music when the mean music probability reaches the model's threshold; mixed "
                                 "only with --mixed F, when the music share is within [F, 1 - F]"},
        "timeline": {"type": "array", "items": SEGMENT_SCHEMA},
        "genre": {**GENRES_SCHEMA,
                  "description": "top-k genres of the file, from its music parts only; null when there is no music"},
        "genre_windows": {"type": "integer", "minimum": 0, "description": "music windows the genre used"},
        "models": {"type": "object", "description": "which models (and soundsort versions) produced this"},
        "error": {"type": ["string", "null"], "description": "the one-line reason when status is error"},
        "warnings": {"type": "array", "maxItems": MAX_WARNINGS,
                     "items": {"type": "string", "minLength": 1, "maxLength": 200},
                     "description": "what the decoder reported about a file it still decoded (e.g. libmpg123 "
                                    "on damaged MP3 frames), deduplicated with counts; shown with --verbose"},
    },
    "allOf": [{"if": {"properties": {"status": {"const": "ok"}}},
               "then": {"required": ["duration", "music_probability", "music_share", "label", "timeline"]}}],
}

CSV_COLUMNS = ["path", "status", "duration", "music_probability", "music_share", "label", "genre", "genre_windows",
               "timeline", "error", "warnings"]


def to_csv_row(record: dict[str, Any]) -> list[str]:
    """One CSV row (strings) for a record."""
    timeline = ";".join(f"{s['start']:.2f}-{s['end']:.2f}:{s['label']}" for s in record.get("timeline") or [])
    genre = ";".join(f"{g['label']}:{g['probability']:.4f}" for g in record.get("genre") or [])
    values = {**record, "timeline": timeline, "genre": genre, "warnings": " | ".join(record.get("warnings") or [])}
    return ["" if values.get(c) is None else str(values.get(c)) for c in CSV_COLUMNS]
