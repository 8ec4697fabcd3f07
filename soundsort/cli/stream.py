"""``soundsort stream``: music / non-music and genre events as a live source plays (:mod:`soundsort.stream`)."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Annotated, Optional

import typer

from soundsort.cli.common import EXIT_INTERRUPTED, examples, invocation, usage
from soundsort.cli.root import app


@app.command(epilog=examples(
    "ffmpeg -loglevel error -i show.mp3 -f wav - | soundsort stream -",
    "soundsort stream http://radio.example:8000/live.mp3",
    "arecord -f S16_LE -r 44100 -c 2 | soundsort stream - --raw s16le --rate 44100 --channels 2",
    "soundsort stream show.flac --realtime --format table",
    "soundsort stream --device default --no-genre -o events.jsonl",
    "soundsort stream --schema"))
def stream(
    source: Annotated[Optional[str], typer.Argument(
        help="- (standard input: any container / codec FFmpeg reads from a pipe, or raw PCM with --raw), an "
             "http(s):// or Icecast URL, or a file.", show_default=False)] = None,
    raw: Annotated[Optional[str], typer.Option(help="Standard input is raw PCM in this format: s16le, s32le, "
                                               "f32le or u8 (with --rate, --channels).", show_default=False)] = None,
    rate: Annotated[Optional[int], typer.Option(help="Sample rate of --raw input (or of --device).",
                                                show_default=False)] = None,
    channels: Annotated[int, typer.Option(help="Channels of --raw input (interleaved; mixed to mono).")] = 1,
    device: Annotated[Optional[str], typer.Option(help="Record from this sound card (name or index; needs the "
                                                  "optional extra 'device').", show_default=False)] = None,
    realtime: Annotated[bool, typer.Option(help="Read a file at the pace of a live source.")] = False,
    latency: Annotated[float, typer.Option(help="Seconds of audio a boundary waits for before it is final "
                                           "(look-ahead; below --min-segment, segments may be as short as this). "
                                           "The event comes about this + 2 s after the change.")] = 2.0,
    genre: Annotated[bool, typer.Option(help="Genre updates for music segments.")] = True,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music / non-music model (default: "
                                                  "the config file's, else bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: the config file's, else "
                                                        "bundled).")] = None,
    min_segment: Annotated[float, typer.Option(help="Shortest segment in seconds (classify's rule).")] = 2.0,
    top_k: Annotated[int, typer.Option(help="Genres per update.")] = 3,
    fmt: Annotated[str, typer.Option("--format", "-f", help="jsonl (one event a line) or table (a live view on "
                                     "the terminal).")] = "jsonl",
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Append the events to this file "
                                                   "(JSON lines, flushed per event) instead of stdout.")] = None,
    heartbeat: Annotated[float, typer.Option(help="A heartbeat event every this many seconds of audio (0: "
                                             "none).")] = 10.0,
    timeout: Annotated[float, typer.Option(help="A URL that sends nothing this long (s) has stalled: "
                                           "reconnect.")] = 10.0,
    retries: Annotated[int, typer.Option(help="A URL that gives no audio this many times in a row is gone "
                                         "(the stream ends).")] = 10,
    backoff: Annotated[float, typer.Option(help="Seconds before the first reconnect, doubling each time (at "
                                           "most 30 s).")] = 1.0,
    show_schema: Annotated[bool, typer.Option("--schema", help="Print the events' JSON Schema and exit.")] = False,
) -> None:
    """Follow a live source and print music / non-music segments and genre as they are decided.

    Events are JSON lines: segment_start / segment_end (label, start, end, confidence; a music segment's end
    carries its genre), genre (the current music segment's top genres so far), heartbeat (position, lag),
    reconnect, error, and end. Segments follow classify's smoothing and minimum-segment rules; a boundary
    is final once --latency seconds after it agree. Memory stays flat however long the stream runs.
    Exit status: 0 the source ended (or was stopped), 1 it was cut by an error, 3 no audio at all, 130 Ctrl-C.
    """
    if show_schema:
        from soundsort.stream.schema import schema

        sys.stdout.write(json.dumps(schema(), indent=2) + "\n")
        return
    from soundsort.cli.common import check_format

    check_format(fmt, ("jsonl", "table"))
    if fmt == "table" and output is not None:
        usage("--format table draws on the terminal; -o writes JSON lines (give one of them)")
    for name, value, low in (("--latency", latency, 0.0), ("--min-segment", min_segment, 0.0),
                             ("--timeout", timeout, 0.0), ("--backoff", backoff, -1e-12)):
        if not value > low:
            usage(f"{name} must be positive, got {value}")
    if top_k < 1 or retries < 0 or heartbeat < 0:
        usage("--top-k must be at least 1, --retries and --heartbeat at least 0")
    from soundsort.errors import SoundsortError
    from soundsort.stream.sources import UrlSource, open_source

    try:
        src = open_source(source, raw=raw, rate=rate, channels=channels, device=device, realtime=realtime,
                          read_timeout=timeout, retries=retries, backoff=backoff)
    except SoundsortError as exc:
        usage(str(exc))
    from soundsort.cli.classify import classifier_factory, model_folders

    model, genre_model = model_folders(model, genre_model, genre)
    clf = classifier_factory(model, genre_model, genre, min_segment, top_k, None)()
    from soundsort.stream.output import JsonLines, LiveTable
    from soundsort.stream.run import follow

    if output is not None:
        try:
            fh = open(output, "a", encoding="utf-8")
        except OSError as exc:
            from soundsort.errors import display_path, os_reason

            usage(f"{display_path(output)}: {os_reason(exc)}")
        sink = JsonLines(fh)
    else:
        fh = None
        sink = LiveTable() if fmt == "table" else JsonLines(sys.stdout)
    name = device if device is not None else (source or "-")
    live = isinstance(src, UrlSource) or device is not None or realtime
    try:
        code = follow(src, clf, sink, name=name, latency=latency, heartbeat_seconds=heartbeat or None, live=live)
    finally:
        sink.close()
        if fh is not None:
            fh.close()
    if code == EXIT_INTERRUPTED:
        invocation.interrupt_said = True
    if code:
        raise typer.Exit(code)
