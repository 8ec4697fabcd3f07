"""A real ``soundsort serve`` process for the tests that drive it from outside (browser, sockets)."""

from __future__ import annotations

import re
import subprocess
import sys
import threading

import pytest


def start_serve(*args: str, timeout: float = 180) -> tuple[subprocess.Popen, str]:
    """Start ``soundsort serve --port 0 ARGS``; return the process and its address once it says it is ready.

    Fails the test, with what the server printed, when it does not say so within ``timeout`` seconds. The
    server's stderr keeps being read (so it never blocks on a full pipe).
    """
    proc = subprocess.Popen([sys.executable, "-m", "soundsort", "serve", "--port", "0", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    lines: list[str] = []
    url: list[str] = []
    ready = threading.Event()

    def read() -> None:
        for line in proc.stderr:
            lines.append(line)
            found = re.search(r"ready at (http://\S+/)", line)
            if found:
                url.append(found.group(1))
                ready.set()

    threading.Thread(target=read, daemon=True).start()
    if not ready.wait(timeout):
        proc.kill()
        pytest.fail("soundsort serve did not say it was ready:\n" + "".join(lines))
    return proc, url[0]
