"""``soundsort serve``: a REST API and a web page over the classify code (see :mod:`soundsort.serve.app`).

Interfaces layer: imports inference and models, never the CLI. FastAPI, uvicorn and python-multipart come
with the ``serve`` extra (``pip install soundsort[serve]``).
"""

from __future__ import annotations

from typing import Any

from soundsort.serve.config import ServeConfig, parse_size

__all__ = ["ServeConfig", "create_app", "listen_socket", "parse_size", "run"]


def create_app(config: ServeConfig = ServeConfig(), on_ready=None):  # noqa: ANN001,ANN201 (FastAPI: lazy import)
    """The FastAPI app for ``config`` (see :func:`soundsort.serve.app.create_app`)."""
    from soundsort.serve.app import create_app as _create

    return _create(config, on_ready=on_ready)


def listen_socket(host: str, port: int) -> Any:
    """A listening TCP socket on ``host:port`` (port 0: any free one); :class:`ConfigError` when it cannot bind.

    Made with ``proto=IPPROTO_TCP``, not the default 0: asyncio turns Nagle's algorithm off (``TCP_NODELAY``)
    only on connections of a socket that says it is TCP. Without it every keep-alive answer written in two
    parts (headers, then body) waited ~40 ms for the client's delayed ACK.
    """
    import socket

    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
    except OSError as exc:
        from soundsort.errors import ConfigError, os_reason

        sock.close()
        raise ConfigError(f"cannot listen on {host}:{port} ({os_reason(exc)})") from None
    sock.listen(2048)
    return sock


def run(config: ServeConfig, *, log_level: str = "warning") -> None:
    """Serve ``config`` with uvicorn until interrupted (the ``soundsort serve`` command).

    The socket is bound first (port 0: any free one), so the line that says where to go names the real
    port; connections wait in its backlog until the workers have loaded the models.
    """
    import sys

    import uvicorn

    config = config.check()
    sock = listen_socket(config.host, config.port)
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
