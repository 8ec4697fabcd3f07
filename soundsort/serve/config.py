"""``soundsort serve``'s settings: one typed dataclass, defaults in one place, and the size parser."""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from soundsort.errors import ConfigError

_UNITS = {"": 1, "B": 1, "K": 10**3, "KB": 10**3, "M": 10**6, "MB": 10**6, "G": 10**9, "GB": 10**9,
          "KIB": 2**10, "MIB": 2**20, "GIB": 2**30}


def parse_size(text: str | int) -> int:
    """``"500MB"`` → 500,000,000 bytes (``KB``/``MB``/``GB`` decimal, ``KiB``/``MiB``/``GiB`` binary)."""
    if isinstance(text, int):
        return text
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([A-Za-z]*)\s*", str(text))
    unit = m.group(2).upper() if m else None
    if m is None or unit not in _UNITS:
        raise ConfigError(f"not a size: {text!r} (e.g. 500MB, 2GiB, 1000000)")
    size = int(float(m.group(1)) * _UNITS[unit])
    if size <= 0:
        raise ConfigError(f"a size must be above 0, got {text!r}")
    return size


@dataclass(frozen=True)
class ServeConfig:
    """Everything the server's behaviour depends on (the command's options map onto these fields)."""

    host: str = "127.0.0.1"  # loopback by default: nothing is exposed unless asked
    port: int = 8000
    workers: int = 0  # classifier processes; 0 = one per core
    worker_threads: int = 0  # ONNX Runtime threads in each worker; 0 = 1 with several workers, else one per core
    root: Path | None = None  # POST /v1/jobs may name files under this folder (and nowhere else)
    token: str | None = None  # when set, /v1/* and /metrics need "Authorization: Bearer TOKEN"
    max_upload: int = 500 * 10**6  # bytes per request body
    max_queue: int = 256  # files waiting or being classified; more → 429
    max_jobs: int = 1000  # finished jobs kept for GET (the oldest are forgotten first)
    read_timeout: float = 60.0  # seconds without a byte from an uploading client → 408
    music_model: Path | None = None  # None: the bundled default-music model
    genre_model: Path | None = None  # None: the bundled default-genre model

    def worker_count(self) -> int:
        return self.workers or (os.cpu_count() or 1)

    def threads_per_worker(self) -> int | None:
        """Each worker's ONNX Runtime threads (None: one per core)."""
        if self.worker_threads:
            return self.worker_threads
        return 1 if self.worker_count() > 1 else None

    def check(self) -> ServeConfig:
        """Refuse impossible values with one line; returns self."""
        if not 0 <= self.port <= 65535:
            raise ConfigError(f"--port must be within 0-65535, got {self.port}")
        if self.workers < 0:
            raise ConfigError(f"--workers must be >= 0, got {self.workers}")
        if self.worker_threads < 0:
            raise ConfigError(f"--worker-threads must be >= 0, got {self.worker_threads}")
        if self.max_queue < 1:
            raise ConfigError(f"--max-queue must be >= 1, got {self.max_queue}")
        if self.read_timeout <= 0:
            raise ConfigError(f"--read-timeout must be above 0, got {self.read_timeout}")
        if self.root is not None and not Path(self.root).is_dir():
            raise ConfigError("--root is not a folder", self.root)
        if self.token is not None and not self.token.strip():
            raise ConfigError("--token is empty")
        return self
