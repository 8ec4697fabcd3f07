"""``soundsort serve``: the REST API and the web page (:mod:`soundsort.serve`) on uvicorn."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Optional

import typer

from soundsort.cli.common import examples, info, usage
from soundsort.cli.root import app


@app.command(epilog=examples("soundsort serve                      (then open http://127.0.0.1:8000/)",
                             "soundsort serve --port 8080 --workers 2 --root ~/Music",
                             "SOUNDSORT_TOKEN=secret soundsort serve --host 0.0.0.0"))
def serve(
    host: Annotated[str, typer.Option(help="Address to listen on (loopback by default; 0.0.0.0 for every "
                                      "interface).")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on (0: any free port; the ready line names it).")] = 8000,
    workers: Annotated[int, typer.Option("--workers", "-w", help="Classifier processes (each loads the models "
                                         "once); 0 = one per core.")] = 0,
    worker_threads: Annotated[int, typer.Option(help="ONNX Runtime threads in each worker; 0 = 1 with several "
                                                "workers, else one per core.")] = 0,
    root: Annotated[Optional[Path], typer.Option(help="POST /v1/jobs may name files and folders under this folder "
                                                 "(and nowhere else); without it only uploads are accepted.")] = None,
    token: Annotated[Optional[str], typer.Option(envvar="SOUNDSORT_TOKEN", help="Require 'Authorization: Bearer "
                                                 "TOKEN' on /v1/* and /metrics (or $SOUNDSORT_TOKEN).",
                                                 show_default=False)] = None,
    max_upload: Annotated[str, typer.Option(help="Largest request body (e.g. 500MB, 2GiB).")] = "500MB",
    max_queue: Annotated[int, typer.Option(help="Files waiting or being classified before new requests get "
                                           "429.")] = 256,
    read_timeout: Annotated[float, typer.Option(help="Seconds an uploading client may send nothing before it "
                                                "gets 408.")] = 60.0,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music/non-music model (default: the "
                                                  "config file's music_model, else bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: the config file's genre_model, "
                                                        "else bundled).")] = None,
) -> None:
    """Serve the classify API (/v1, docs at /docs) and a web page to drop files on (/).

    The models load once in each worker process; files are classified there, never in the process that
    answers requests. Uploads are streamed to temporary files and deleted once classified.
    """
    from soundsort.cli.classify import model_folders
    from soundsort.errors import ConfigError
    from soundsort.serve import ServeConfig, parse_size, run

    try:
        limit = parse_size(max_upload)
    except ConfigError as exc:
        usage(f"--max-upload: {exc}")
    music, genre = model_folders(model, genre_model, True)
    config = ServeConfig(host=host, port=port, workers=workers, worker_threads=worker_threads, root=root, token=token, max_upload=limit,
                         max_queue=max_queue, read_timeout=read_timeout, music_model=music, genre_model=genre)
    try:
        config.check()
    except ConfigError as exc:
        usage(str(exc))
    if host not in ("127.0.0.1", "localhost", "::1") and not token:
        info(f"soundsort serve: warning: listening on {host} without --token: anyone who can reach this "
             "machine can send files to classify")
    info(f"soundsort serve: starting {config.worker_count()} worker processes (each loads the models)")
    run(config)
