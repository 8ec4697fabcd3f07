"""The server's counters, written in the Prometheus text format (``GET /metrics``)."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from typing import Any


class Metrics:
    """Requests by route and status, errors, files by outcome, audio seconds; gauges read when scraped."""

    def __init__(self) -> None:
        self.requests: Counter[tuple[str, str, int]] = Counter()
        self.files: Counter[str] = Counter()
        self.audio_seconds = 0.0
        self.gauges: dict[str, tuple[str, Callable[[], float]]] = {}

    def record(self, record: dict[str, Any]) -> None:
        self.files[record["status"]] += 1
        if record["status"] == "ok":
            self.audio_seconds += float(record.get("duration") or 0.0)

    def gauge(self, name: str, help_text: str, read: Callable[[], float]) -> None:
        self.gauges[name] = (help_text, read)

    def render(self) -> str:
        lines = ["# HELP soundsort_requests_total HTTP requests answered, by method, route and status code.",
                 "# TYPE soundsort_requests_total counter"]
        for (method, route, code), n in sorted(self.requests.items()):
            lines.append(f'soundsort_requests_total{{method="{method}",route="{_esc(route)}",code="{code}"}} {n}')
        errors = Counter()
        for (_, _, code), n in self.requests.items():
            if code >= 400:
                errors[code] += n
        lines += ["# HELP soundsort_request_errors_total HTTP requests answered with an error (4xx, 5xx), by code.",
                  "# TYPE soundsort_request_errors_total counter"]
        lines += [f'soundsort_request_errors_total{{code="{c}"}} {n}' for c, n in sorted(errors.items())]
        lines += ["# HELP soundsort_files_total Files classified, by outcome (ok, error).",
                  "# TYPE soundsort_files_total counter"]
        lines += [f'soundsort_files_total{{status="{s}"}} {self.files.get(s, 0)}' for s in ("ok", "error")]
        lines += ["# HELP soundsort_audio_seconds_total Seconds of audio classified.",
                  "# TYPE soundsort_audio_seconds_total counter",
                  f"soundsort_audio_seconds_total {self.audio_seconds:.3f}"]
        for name, (help_text, read) in self.gauges.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} gauge", f"{name} {read():g}"]
        return "\n".join(lines) + "\n"


def _esc(text: str) -> str:
    return text.replace("\\", "\\\\").replace('"', '\\"').replace("\n", "\\n")


class MetricsMiddleware:
    """Pure ASGI middleware counting every HTTP response by method, route template and status."""

    def __init__(self, app: Any, metrics: Metrics) -> None:
        self.app, self.metrics = app, metrics

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        status = [500]

        async def send_status(message: dict[str, Any]) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
            await send(message)

        try:
            await self.app(scope, receive, send_status)
        finally:
            route = scope.get("route")
            name = getattr(route, "path", None) or "other"
            self.metrics.requests[(scope.get("method", "?"), name, status[0])] += 1
