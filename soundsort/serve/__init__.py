"""``soundsort serve``: a REST API and a web page over the classify code (see :mod:`soundsort.serve.app`).

Interfaces layer: imports inference and models, never the CLI. FastAPI, uvicorn and python-multipart come
with the ``serve`` extra (``pip install soundsort[serve]``).
"""

from __future__ import annotations

from soundsort.serve.config import ServeConfig, parse_size

__all__ = ["ServeConfig", "create_app", "parse_size", "run"]


def create_app(config: ServeConfig = ServeConfig(), on_ready=None):  # noqa: ANN001,ANN201 (FastAPI: lazy import)
    """The FastAPI app for ``config`` (see :func:`soundsort.serve.app.create_app`)."""
    from soundsort.serve.app import create_app as _create

    return _create(config, on_ready=on_ready)


def run(config: ServeConfig, *, log_level: str = "warning") -> None:
    """Serve ``config`` with uvicorn until interrupted (the ``soundsort serve`` command).

    The socket is bound first (port 0: any free one), so the line that says where to go names the real
    port; connections wait in its backlog until the workers have loaded the models.
    """
    import socket
    import sys

    import uvicorn

    config = config.check()
    family = socket.AF_INET6 if ":" in config.host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((config.host, config.port))
    except OSError as exc:
        from soundsort.errors import ConfigError, os_reason

        sock.close()
        raise ConfigError(f"cannot listen on {config.host}:{config.port} ({os_reason(exc)})") from None
    sock.listen(2048)
    port = sock.getsockname()[1]
    host = f"[{config.host}]" if ":" in config.host else config.host
    where = f"http://{host}:{port}/"

    def ready() -> None:
        sys.stderr.write(f"soundsort serve: ready at {where} (API docs at {where}docs; "
                         f"{config.worker_count()} worker processes{'; token required' if config.token else ''})\n")
        sys.stderr.flush()

    server = uvicorn.Server(uvicorn.Config(create_app(config, on_ready=ready), log_level=log_level,
                                           timeout_graceful_shutdown=5, access_log=False, backlog=2048))
    server.run(sockets=[sock])
