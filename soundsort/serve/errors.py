"""The one error type of the HTTP layer: a status code and a one-line reason (sent as JSON)."""

from __future__ import annotations

from typing import Any

from soundsort.errors import SoundsortError


class RequestError(SoundsortError):
    """A request the server refuses: ``status`` is the HTTP code, ``str(err)`` the reason."""

    def __init__(self, status: int, reason: str, *, extra: dict[str, Any] | None = None,
                 headers: dict[str, str] | None = None) -> None:
        super().__init__(reason)
        self.status = status
        self.extra = extra or {}
        self.headers = headers or {}

    def body(self) -> dict[str, Any]:
        return {"error": str(self), "status": self.status, **self.extra}
