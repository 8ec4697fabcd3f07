"""The attempt ledger of a cluster job: an input whose actor dies on it every time gets an error record.

Ray restarts a dead actor and retries its unfinished work without end (Ray Data's actor-pool defaults), so
an input that kills the process that reads it (a crash in a decoder's native code, an out-of-memory kill)
would be retried forever. Before an actor starts an input it asks the ledger (:meth:`JobLedger.begin`),
which counts the attempts of that input that did not finish; once an input has been attempted
:data:`MAX_ATTEMPTS` times (as the local engine: its file, then once more), the next actor that gets it
writes an error record (:func:`died_reason`) instead of reading it. An input that finished once
(:meth:`JobLedger.finish`) is never counted again: a retried block repeats its finished inputs freely.

The ledger is a Ray actor (no CPU; restarted if it dies) on the driver's node, shared by the jobs whose
drivers run there: detached and named (:func:`start_ledger`), so only a cluster's first job pays for its
process, as for Ray Data's own helper actors; each job (its run id) has its own counts. It keeps each job's
journal on that node, in the output folder's private work area (``OUT/.soundsort-work/attempts-<run>.jsonl``,
one JSON line per event, each appended in one write and fsync'd before the actor may start the input), from
which a restarted ledger recovers the job's counts; a torn last line is skipped. The journal is removed when
the job ends, so a rerun (which skips the error record like any other) or ``--resume`` (which tries the input
again) starts counting afresh. Without a journal (a Ray Client driver, whose output folder the cluster
cannot see; a featurization) the counts live in the ledger actor's memory only (one such ledger a cluster).
"""

from __future__ import annotations

import json
import os
import uuid
from dataclasses import dataclass
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


#: Part of the ledger actors' names: a soundsort whose ledger speaks another protocol starts its own.
LEDGER_VERSION = 1
#: The Ray namespace of the ledger actors.
LEDGER_NAMESPACE = "soundsort"


class _RunAttempts:
    """One job's attempt counts and journal."""

    def __init__(self, journal: str | None) -> None:
        self.attempts: dict[str, int] = {}
        self.finished: set[str] = set()
        self._fd: int | None = None
        if journal is not None:
            for event in read_journal(journal):  # a restarted ledger: the counts so far
                if event.get("done"):
                    self.finished.add(event["key"])
                else:
                    self.attempts[event["key"]] = max(self.attempts.get(event["key"], 0), int(event["attempt"]))
            Path(journal).parent.mkdir(parents=True, exist_ok=True)
            self._fd = os.open(journal, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def append(self, event: dict[str, Any], sync: bool) -> None:
        if self._fd is None:
            return
        os.write(self._fd, (json.dumps(event) + "\n").encode("utf-8", "surrogateescape"))
        if sync:
            os.fsync(self._fd)

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None


class AttemptLedger:
    """Counts each input's unfinished attempts, per job (run as a Ray actor; see the module's notes).

    Every call names the job (``run``) and its journal, so a restarted ledger picks a job up from its
    journal at the job's next call; a job that was closed is never opened again (a late message of one of
    its actors does nothing)."""

    def __init__(self) -> None:
        self._runs: dict[str, _RunAttempts] = {}
        self._closed: set[str] = set()

    def _run(self, run: str, journal: str | None) -> _RunAttempts | None:
        if run in self._closed:
            return None
        state = self._runs.get(run)
        if state is None:
            state = self._runs[run] = _RunAttempts(journal)
        return state

    def begin(self, run: str, journal: str | None, key: str, pid: int, done: str | None = None) -> int:
        """An actor (process ``pid``) of job ``run`` is about to start ``key``: which attempt this is (1, 2,
        ...), 0 when ``key`` finished before. Written to the journal (fsync'd) before it returns; past
        :data:`MAX_ATTEMPTS` nothing is written (the actor does not read the input). ``done``: the input that
        actor finished last (as :meth:`finish`, one call less a file)."""
        if done is not None:
            self.finish(run, journal, done)
        state = self._run(run, journal)
        if state is None or key in state.finished:
            return 0
        n = state.attempts.get(key, 0) + 1
        if n > MAX_ATTEMPTS:
            return n
        state.attempts[key] = n
        state.append({"key": key, "attempt": n, "pid": pid}, sync=True)
        return n

    def finish(self, run: str, journal: str | None, key: str) -> None:
        """``key`` was read to its end (its record made) by the actor that began it last."""
        state = self._run(run, journal)
        if state is not None and key not in state.finished:
            state.finished.add(key)
            state.append({"key": key, "done": True}, sync=False)

    def close(self, run: str) -> None:
        """Job ``run`` ended: its journal closed (the driver removes it), its counts forgotten."""
        state = self._runs.pop(run, None)
        self._closed.add(run)
        if state is not None:
            state.close()

    def runs(self) -> list[str]:
        """The jobs open now."""
        return sorted(self._runs)


@dataclass(frozen=True)
class JobLedger:
    """What a job's actors hold: the ledger actor, and the job's run id and journal (None: in memory)."""

    actor: Any
    run: str
    journal: str | None

    def begin(self, key: str, pid: int, done: str | None = None) -> Any:
        """:meth:`AttemptLedger.begin` for this job (an ``ObjectRef`` of the attempt number)."""
        return self.actor.begin.remote(self.run, self.journal, key, pid, done)

    def finish(self, key: str) -> None:
        """:meth:`AttemptLedger.finish` for this job (not waited for: in order before the caller's next begin)."""
        self.actor.finish.remote(self.run, self.journal, key)


def ledger_name(node: str | None) -> str:
    """The ledger actor of a node (``None``: the cluster's one for counts in memory)."""
    return f"attempt-ledger-v{LEDGER_VERSION}-" + (node if node is not None else "memory")


def start_ledger(ray: Any, journal: Path | None, run: str | None = None) -> JobLedger:
    """This job's ledger: the ledger actor of this (the driver's) node, started when it is not running yet;
    ``journal`` None: counts in memory only (the cluster's in-memory ledger, on any node)."""
    from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

    node = ray.get_runtime_context().get_node_id() if journal is not None else None
    options: dict[str, Any] = {"name": ledger_name(node), "namespace": LEDGER_NAMESPACE, "lifetime": "detached",
                               "get_if_exists": True, "num_cpus": 0, "max_restarts": -1, "max_task_retries": -1,
                               "max_concurrency": 1}
    if node is not None:
        options["scheduling_strategy"] = NodeAffinitySchedulingStrategy(node_id=node, soft=False)
    actor = ray.remote(AttemptLedger).options(**options).remote()
    return JobLedger(actor, run or uuid.uuid4().hex, str(journal) if journal is not None else None)


def stop_ledger(ray: Any, ledger: JobLedger) -> None:
    """The job's end: its counts closed in the ledger (which stays for the next job) and its journal removed
    (and the work area, when nothing else is in it)."""
    try:
        ray.get(ledger.actor.close.remote(ledger.run), timeout=30)
    except Exception:  # a dead ledger: its file is removed all the same
        pass
    if ledger.journal is not None:
        journal = Path(ledger.journal)
        journal.unlink(missing_ok=True)
        try:
            journal.parent.rmdir()
        except OSError:
            pass
