"""``soundsort classify --engine ray``: classify a catalogue on a Ray cluster into Parquet / JSONL partitions.

The pipeline (Ray Data, streaming): the input keys, in blocks of several files (about 8 blocks per actor,
at most 64 files a block; an actor is sent its next block when it has finished one) → a pool of :class:`~soundsort.distributed.actors.ClassifyActor` (one CPU
each, one per cluster CPU by default) that hold the models, read each input themselves (a local path where
it is, a URI's bytes) and make one record per file, exactly the local ``classify``'s → the driver, which writes the records into ``OUT`` in partitions
(:mod:`soundsort.distributed.output`).

Exactly once: the driver keeps the set of inputs already written (read back from ``OUT`` at the start)
and writes a record only for an input not in it; an actor that dies (a killed process, a node lost) is
restarted by Ray and its unfinished files are retried (Ray Data's actor-pool defaults: restarts and task
retries without limit), and a record that comes twice is dropped. An input on which the actor died twice
(a crash in a decoder's native code, an out-of-memory kill) gets an error record instead of a third try:
the job's attempt ledger (:mod:`soundsort.distributed.ledger`) counts the tries. A partition is renamed into place
whole, so a killed driver loses only the records not yet written, which a rerun classifies: a rerun
skips every input already in ``OUT`` (``retry_errors``: error records are dropped first and tried again).
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundsort.distributed.cluster import cluster_cpus, connected, quiet_data_context, require_ray
from soundsort.distributed.inputs import check_local_output, expand_inputs
from soundsort.distributed.ledger import journal_path, start_ledger, stop_ledger
from soundsort.distributed.output import (FolderLock, PartitionWriter, clear, done_inputs, drop_errors,
                                          remove_stale_parts, storable_path)
from soundsort.errors import ConfigError


@dataclass(frozen=True)
class RayConfig:
    """How a job runs on Ray (defaults in one place)."""

    #: None: a local Ray started for the job (or ``$RAY_ADDRESS``); "auto"; "ray://HOST:PORT"
    address: str | None = None
    #: actors (each one CPU and one copy of the models); None: one per CPU of the cluster
    num_actors: int | None = None
    #: CPUs of a local Ray started for the job (None: all of this machine's)
    num_cpus: int | None = None
    #: "parquet" or "jsonl" partitions
    fmt: str = "parquet"
    #: records per partition, at most; a partition is also written every ``flush_seconds``
    partition_rows: int = 1000
    flush_seconds: float = 30.0
    #: files per Ray Data block (one read task, one actor call, and the unit a dead actor's retry repeats);
    #: None: about 8 blocks per actor (so every actor stays busy to the end), 1 to 64 files a block
    files_per_block: int | None = None
    #: drop the error records in OUT and try those inputs again
    retry_errors: bool = False
    #: remove the partitions already in OUT first
    overwrite: bool = False


@dataclass
class RunSummary:
    """What a cluster job did."""

    output: Path
    total: int  # inputs found
    skipped: int  # already in OUT
    ok: int = 0
    failed: int = 0
    partitions: list[Path] = field(default_factory=list)
    #: ``(folder or URI, reason)``: inputs that could not be listed (no record: nothing to name)
    unlisted: list[tuple[str, str]] = field(default_factory=list)
    removed_temporaries: int = 0


ProgressFn = Callable[[int, int, str], None]


#: Blocks per actor the default cut aims at: the last blocks, when some actors are done and others not, are
#: short (an eighth of an actor's share), and each block costs Ray one actor call
BLOCKS_PER_ACTOR = 8


def blocks_for(n_files: int, n_actors: int, files_per_block: int | None) -> int:
    """How many Ray Data blocks ``n_files`` inputs are cut into."""
    if files_per_block is None:
        files_per_block = max(1, min(64, n_files // (BLOCKS_PER_ACTOR * max(1, n_actors))))
    return max(1, -(-n_files // max(1, files_per_block)))


def check_output_folder(output: str | os.PathLike[str]) -> Path:
    """The output folder as a local path; a file there is refused (before anything is locked or made)."""
    out = check_local_output(output)
    if out.exists() and not out.is_dir():
        raise ConfigError("the output of a cluster job is a folder (of partitions); this is a file", out)
    return out


def prepare_output(output: str | os.PathLike[str], cfg: RayConfig) -> tuple[Path, dict[str, str], int]:
    """The output folder (made), ``{path: status}`` already in it, and how many stale temporaries went."""
    out = check_output_folder(output)
    out.mkdir(parents=True, exist_ok=True)
    removed = len(remove_stale_parts(out))
    if cfg.overwrite:
        clear(out)
    elif cfg.retry_errors:
        drop_errors(out)
    return out, done_inputs(out), removed


def _ship(folder: str | os.PathLike[str] | None) -> dict[str, Any] | None:
    """A model folder for the actors: its name and files (None: the bundled model, in the package)."""
    from soundsort.distributed.actors import pack_model

    return None if folder is None else {"name": Path(folder).name, "files": pack_model(folder)}


def is_client(ray: Any, address: str | None) -> bool:
    """Whether this driver reaches the cluster through the Ray Client (``ray://``: its files are not there)."""
    address = address if address is not None else os.environ.get("RAY_ADDRESS")
    if address and address.startswith("ray://"):
        return True
    try:
        return bool(ray.util.client.ray.is_connected())
    except AttributeError:
        return False


def run_pipeline(ray: Any, keys: Sequence[str], actor: type, ctor_kwargs: dict[str, Any], n_actors: int,
                 files_per_block: int | None = None) -> Any:
    """The streaming Ray Data pipeline over ``keys``: blocks of keys to ``actor`` (a pool of ``n_actors``)."""
    quiet_data_context(ray)
    ds = ray.data.from_items([{"key": k} for k in keys],
                             override_num_blocks=blocks_for(len(keys), n_actors, files_per_block))
    # the actors read their own inputs (a local path where it is, a URI's bytes): no read tasks, no bytes
    # through the object store; one actor call per block: Ray's per-call bookkeeping once for all its files.
    # One block in flight per actor (Ray Data's default: 2): a block queued behind another on a busy actor
    # while an idle one has nothing left is the job's tail; waiting for the next block costs milliseconds, a block seconds
    pool = ray.data.ActorPoolStrategy(size=n_actors, max_tasks_in_flight_per_actor=1)
    return ds.map_batches(actor, fn_constructor_kwargs=ctor_kwargs, batch_size=None, batch_format="numpy",
                          compute=pool, num_cpus=1)


def classify(inputs: Sequence[str | os.PathLike[str]], output: str | os.PathLike[str], *,
             music_model: str | os.PathLike[str] | None = None, genre_model: str | os.PathLike[str] | None = None,
             config: Any = None, ray_config: RayConfig = RayConfig(), progress: ProgressFn | None = None,
             on_result: Callable[[dict[str, Any]], None] | None = None) -> RunSummary:
    """Classify ``inputs`` (paths, folders, manifests, URIs) on Ray into partitions in the folder ``output``.

    ``config`` is a :class:`~soundsort.inference.classify.ClassifyConfig` (None: its defaults); the models
    are the bundled ones unless given (a given model folder is sent to the actors, so it need not exist on
    the other nodes). ``progress(done, total, path)`` and ``on_result(record)`` are called on the driver for
    each new record. Returns a :class:`RunSummary`; every input is in ``output`` exactly once when it returns.
    """
    from soundsort.distributed.actors import ClassifyActor
    from soundsort.inference.classify import ClassifyConfig

    require_ray()
    config = config if config is not None else ClassifyConfig()
    found = expand_inputs(list(inputs))
    out = check_output_folder(output)
    with FolderLock(out):
        out, done, removed = prepare_output(out, ray_config)
        todo = [k for k in found.keys if storable_path(k) not in done]
        summary = RunSummary(out, len(found.keys), len(found.keys) - len(todo), unlisted=found.unlisted,
                             removed_temporaries=removed)
        if not todo:
            return summary
        bundle = {role: files for role, files in (("music", _ship(music_model)),
                                                  ("genre", _ship(genre_model) if config.genre else None)) if files}
        ctor = {"music_model": str(music_model) if music_model else None,
                "genre_model": str(genre_model) if genre_model else None, "config": config, "bundle": bundle or None}
        writer = PartitionWriter(out, ray_config.fmt, partition_rows=ray_config.partition_rows,
                                 flush_seconds=ray_config.flush_seconds)
        seen: set[str] = set()
        with connected(ray_config.address, num_cpus=ray_config.num_cpus) as ray:
            n_actors = max(1, min(ray_config.num_actors or cluster_cpus(ray), len(todo)))
            # the journal beside the output, on the driver's node (a Ray Client driver's folder is not there)
            journal = None if is_client(ray, ray_config.address) else journal_path(out, writer.run)
            ledger = start_ledger(ray, journal, writer.run)
            ds = run_pipeline(ray, todo, ClassifyActor, {**ctor, "ledger": ledger}, n_actors,
                              ray_config.files_per_block)
            try:
                for row in ds.iter_rows():
                    key = str(row["key"])
                    if key in seen:  # a retried block's second answer
                        continue
                    seen.add(key)
                    rec = json.loads(row["record"])
                    writer.add(rec)
                    if rec["status"] == "ok":
                        summary.ok += 1
                    else:
                        summary.failed += 1
                    if on_result is not None:
                        on_result(rec)
                    if progress is not None:
                        progress(len(seen), len(todo), key)
            finally:
                writer.close()
                summary.partitions = list(writer.written)
                stop_ledger(ray, ledger)
        missing = set(todo) - seen
        if missing:  # Ray Data ended without an answer for some input: never silently
            raise ConfigError(f"the cluster job ended without a record for {len(missing)} of {len(todo)} inputs "
                              "(run it again: it continues with those)", out)
        return summary
