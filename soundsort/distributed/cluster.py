"""Finding Ray and a cluster to run on.

``address``: None starts a local Ray (or joins the one ``$RAY_ADDRESS`` names, Ray's own rule); ``"auto"``
joins the cluster this node belongs to (``ray start`` ran here); ``"ray://HOST:PORT"`` connects through the
Ray Client. A Ray already initialized in this process (a notebook, a test) is used as it is and left running.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from soundsort.errors import SoundsortError

#: The one line a user without Ray sees.
NO_RAY = ("--engine ray needs Ray, which is not installed: pip install 'soundsort[ray]' "
          "(or pip install 'ray[data]')")


class RayUnavailable(SoundsortError):
    """Ray (with Ray Data) is not installed."""


def require_ray() -> Any:
    """The ``ray`` module with Ray Data, or :class:`RayUnavailable` with :data:`NO_RAY`."""
    try:
        import ray
        import ray.data  # noqa: F401
    except ImportError:
        raise RayUnavailable(NO_RAY) from None
    return ray


@contextmanager
def connected(address: str | None = None, *, num_cpus: int | None = None) -> Iterator[Any]:
    """Ray, initialized for the time of a job (shut down after, unless it was running before)."""
    ray = require_ray()
    if ray.is_initialized():
        yield ray
        return
    kwargs: dict[str, Any] = {"log_to_driver": False, "configure_logging": True, "logging_level": "error"}
    if address is not None:
        kwargs["address"] = address
    elif not os.environ.get("RAY_ADDRESS"):  # a local Ray for this job: no dashboard
        kwargs["include_dashboard"] = False
        # no idle worker processes started ahead: the actors and the ledger get processes of their own, so
        # prestarted ones would only cost their start-up (about 1.3 CPU s each) on the job's cores
        # and the workers at this command's priority, as the local engine's processes (Ray's default, nice 15,
        # makes a job on a busy machine yield its cores to everything else there)
        kwargs["_system_config"] = {"enable_worker_prestart": False, "prestart_worker_first_driver": False,
                                    "worker_niceness": 0}
        if num_cpus is not None:
            kwargs["num_cpus"] = num_cpus
    # the workers import soundsort from the same installation as this process (a cluster's image)
    ray.init(**kwargs)
    try:
        yield ray
    finally:
        ray.shutdown()


def cluster_cpus(ray: Any) -> int:
    """CPUs of the whole cluster (at least 1)."""
    return max(1, int(ray.cluster_resources().get("CPU", 1)))


def quiet_data_context(ray: Any) -> None:
    """No progress bars or progress logs from Ray Data (soundsort reports progress itself); results in any
    order."""
    import logging

    for name in ("ray.data", "ray.data._internal.execution.streaming_executor"):
        logging.getLogger(name).setLevel(logging.ERROR)
    ctx = ray.data.DataContext.get_current()
    ctx.enable_progress_bars = False
    ctx.execution_options.preserve_order = False
    try:
        ctx.print_on_execution_start = False
    except AttributeError:
        pass
