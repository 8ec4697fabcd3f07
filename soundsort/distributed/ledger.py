"""The attempt ledger of a cluster job: an input whose actor dies on it every time gets an error record.

Ray restarts a dead actor and retries its unfinished work without end (Ray Data's actor-pool defaults), so
an input that kills the process that reads it (a crash in a decoder's native code, an out-of-memory kill)
would be retried forever. Before an actor starts an input it asks the ledger (:meth:`AttemptLedger.begin`),
which counts the attempts of that input that did not finish; once an input has been attempted
:data:`MAX_ATTEMPTS` times (as the local engine: its file, then once more), the next actor that gets it
writes an error record (:func:`died_reason`) instead of reading it. An input that finished once
(:meth:`AttemptLedger.finish`) is never counted again: a retried block repeats its finished inputs freely.

The ledger is one Ray actor per job (no CPU; restarted if it dies), placed on the driver's node. It keeps
a journal there, in the output folder's private work area (``OUT/.soundsort-work/attempts-<run>.jsonl``,
one JSON line per event, each appended in one write and fsync'd before the actor may start the input), from
which a restarted ledger recovers its counts; a torn last line is skipped. The journal is removed when the
job ends, so a rerun (which skips the error record like any other) or ``--resume`` (which tries the input
again) starts counting afresh. Without a journal (a Ray Client driver, whose output folder the cluster
cannot see; a featurization) the counts live in the ledger actor's memory only.
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

from soundsort.errors import display_path

#: Attempts of one input whose actor died before the next one gets an error record (the local engine's 2).
MAX_ATTEMPTS = 2
#: The output folder's private work area (hidden: readers of the partitions never see it).
WORK_DIR = ".soundsort-work"


def died_reason(key: str, doing: str = "classifying") -> str:
    """The error of an input on which the worker process died :data:`MAX_ATTEMPTS` times."""
    return (f"{display_path(key)}: the worker process {doing} it died, {MAX_ATTEMPTS} times "
            "(a crash in native code, or killed: out of memory?)")


def journal_path(output: Path, run: str) -> Path:
    """Where a job's journal is kept (``OUT/.soundsort-work/attempts-<run>.jsonl``)."""
    return output / WORK_DIR / f"attempts-{run}.jsonl"


def read_journal(path: str | os.PathLike[str]) -> list[dict[str, Any]]:
    """The events of a journal in order (a torn or unreadable line skipped)."""
    events = []
    try:
        text = Path(path).read_text(encoding="utf-8", errors="replace")
    except FileNotFoundError:
        return events
    for line in text.splitlines():
        try:
            event = json.loads(line)
        except json.JSONDecodeError:
            continue
        if isinstance(event, dict) and "key" in event:
            events.append(event)
    return events


class AttemptLedger:
    """Counts each input's unfinished attempts (run as a Ray actor; see the module's notes)."""

    def __init__(self, journal: str | None = None) -> None:
        self.attempts: dict[str, int] = {}
        self.finished: set[str] = set()
        self.journal = journal
        self._fd: int | None = None
        if journal is not None:
            for event in read_journal(journal):  # a restarted ledger: the counts so far
                if event.get("done"):
                    self.finished.add(event["key"])
                else:
                    self.attempts[event["key"]] = max(self.attempts.get(event["key"], 0), int(event["attempt"]))
            Path(journal).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def _append(self, event: dict[str, Any], sync: bool) -> None:
        if self._fd is None:
            return
        os.write(self._fd, (json.dumps(event) + "\n").encode("utf-8", "surrogateescape"))
        if sync:
            os.fsync(self._fd)

    def begin(self, key: str, pid: int) -> int:
        """An actor (process ``pid``) is about to start ``key``: which attempt this is (1, 2, ...), 0 when
        ``key`` finished before. Written to the journal (fsync'd) before it returns; past
        :data:`MAX_ATTEMPTS` nothing is written (the actor does not read the input)."""
        if key in self.finished:
            return 0
        n = self.attempts.get(key, 0) + 1
        if n > MAX_ATTEMPTS:
            return n
        self.attempts[key] = n
        self._append({"key": key, "attempt": n, "pid": pid}, sync=True)
        return n

    def finish(self, key: str) -> None:
        """``key`` was read to its end (its record made) by the actor that began it last."""
        if key not in self.finished:
            self.finished.add(key)
            self._append({"key": key, "done": True}, sync=False)

    def close(self) -> None:
        """Close the journal (the driver removes it)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


def start_ledger(ray: Any, journal: Path | None) -> Any:
    """The job's ledger actor, on this (the driver's) node; ``journal`` None: counts in memory only."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id()
    actor = ray.remote(AttemptLedger).options(
        num_cpus=0, max_restarts=-1, max_task_retries=-1, max_concurrency=1,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node_id=node, soft=journal is None))
    return actor.remote(str(journal) if journal is not None else None)


def stop_ledger(ray: Any, ledger: Any, journal: Path | None) -> None:
    """End the ledger actor and remove its journal (and the work area, when nothing else is in it)."""
    try:
        ray.get(ledger.close.remote(), timeout=30)
    except Exception:  # a dead ledger: its file is removed all the same
        pass
    ray.kill(ledger, no_restart=True)
    if journal is not None:
        journal.unlink(missing_ok=True)
        try:
            journal.parent.rmdir()
        except OSError:
            pass
