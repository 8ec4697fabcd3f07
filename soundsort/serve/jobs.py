"""Jobs: several files classified in the background; their progress, results and a stream of events.

A job's records keep the order of its files. Finished jobs are kept (the newest ``max_jobs``) so that a
client can fetch the results later; uploaded files are deleted as soon as each is classified.
"""

from __future__ import annotations

import asyncio
import io
import json
import time
import uuid
from collections import OrderedDict
from dataclasses import dataclass, field
from typing import Any

from soundsort.serve.errors import RequestError

RESULT_FORMATS = ("json", "jsonl", "csv")


@dataclass
class Job:
    """One job: ``names`` of its files, ``records`` by position (None: not finished yet)."""

    id: str
    names: list[str]
    options: dict[str, Any]
    created: float = field(default_factory=time.time)
    records: list[dict[str, Any] | None] = field(default_factory=list)
    finished_order: list[int] = field(default_factory=list)
    finished_at: float | None = None
    _changed: asyncio.Event = field(default_factory=asyncio.Event)

    def __post_init__(self) -> None:
        if not self.records:
            self.records = [None] * len(self.names)

    @property
    def done(self) -> int:
        return len(self.finished_order)

    @property
    def failed(self) -> int:
        return sum(1 for r in self.records if r is not None and r["status"] != "ok")

    @property
    def state(self) -> str:
        return "done" if self.done == len(self.names) else ("running" if self.done else "queued")

    def add(self, index: int, record: dict[str, Any]) -> None:
        self.records[index] = record
        self.finished_order.append(index)
        if self.done == len(self.names):
            self.finished_at = time.time()
        self._changed.set()  # wake every listener; each clears its own view by counting
        self._changed = asyncio.Event()

    def summary(self) -> dict[str, Any]:
        return {"id": self.id, "state": self.state, "total": len(self.names), "done": self.done,
                "failed": self.failed, "files": self.names, "options": self.options,
                "created": round(self.created, 3),
                "finished": None if self.finished_at is None else round(self.finished_at, 3)}

    def results(self, fmt: str) -> str:
        """The finished records in file order, written by ``soundsort classify``'s own writer."""
        from soundsort.inference.batch import ResultWriter

        if fmt not in RESULT_FORMATS:
            raise RequestError(422, f"format must be one of {', '.join(RESULT_FORMATS)}, got {fmt!r}")
        out = io.StringIO()
        writer = ResultWriter(fmt, None, stream=out)
        for rec in self.records:
            if rec is not None:
                writer.add(rec)
        writer.close()
        return out.getvalue()

    async def events(self) -> Any:
        """Server-sent events: ``result`` for each finished file (those already finished first), then
        ``done`` with the summary."""
        sent = 0
        while True:
            waiter = self._changed
            while sent < self.done:
                i = self.finished_order[sent]
                yield _sse("result", {"index": i, "done": sent + 1, "total": len(self.names),
                                      "record": self.records[i]})
                sent += 1
            if sent == len(self.names):
                yield _sse("done", self.summary())
                return
            await waiter.wait()


def _sse(event: str, data: dict[str, Any]) -> str:
    return f"event: {event}\ndata: {json.dumps(data)}\n\n"


class JobStore:
    """The jobs this server knows, newest last; the oldest finished ones are dropped past ``max_jobs``."""

    def __init__(self, max_jobs: int) -> None:
        self.max_jobs = max_jobs
        self._jobs: OrderedDict[str, Job] = OrderedDict()

    def create(self, names: list[str], options: dict[str, Any]) -> Job:
        job = Job(uuid.uuid4().hex[:16], names, options)
        self._jobs[job.id] = job
        while len(self._jobs) > self.max_jobs:
            oldest = next((k for k, j in self._jobs.items() if j.state == "done"), None)
            if oldest is None:
                break
            del self._jobs[oldest]
        return job

    def get(self, job_id: str) -> Job:
        job = self._jobs.get(job_id)
        if job is None:
            raise RequestError(404, f"unknown job {job_id!r} (never made, or finished long ago and forgotten)")
        return job

    def __len__(self) -> int:
        return len(self._jobs)
