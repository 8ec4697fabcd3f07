"""``--engine ray`` of ``soundsort classify`` and ``soundsort train``: the option parsing and messages around
:mod:`soundsort.distributed` (Ray itself is imported only when a command runs on it)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Optional

import typer

from soundsort.cli.common import EXIT_SOME_FAILED, errline, info, invocation, outline, progress, usage
from soundsort.errors import display_path

ENGINES = ("local", "ray")
ENGINE_HELP = ("local (this machine's processes, -j) or ray: a Ray cluster (--address), results as Parquet (or "
               "--format jsonl) partitions in the folder -o OUT/, resumable, every input exactly once.")
ADDRESS_HELP = ("--engine ray: the cluster (auto: the one this node joined with `ray start`; ray://HOST:PORT: "
                "Ray Client). Default: $RAY_ADDRESS, else a local Ray started for the command.")
ACTORS_HELP = "--engine ray: actors, each one CPU and one copy of the models (default: one per cluster CPU)."

_MANGLED_URI = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):/([^/].*)$")


def check_engine(engine: str) -> bool:
    """Whether ``engine`` is ray (a usage error when it is neither local nor ray)."""
    if engine not in ENGINES:
        usage(f"--engine takes local or ray, got {engine!r}")
    return engine == "ray"


def as_inputs(paths: list[Path]) -> list[str]:
    """The inputs as the user wrote them: a URI typer made a path of (``s3://b/k`` → ``s3:/b/k``) restored."""
    out = []
    for p in paths:
        text = str(p)
        m = _MANGLED_URI.match(text)
        if m and not p.exists():
            scheme, rest = m.groups()
            text = f"file:///{rest}" if scheme == "file" else f"{scheme}://{rest}"
        out.append(text)
    return out


def ray_config(address: Optional[str], num_actors: Optional[int], fmt: str, *, overwrite: bool = False,
               retry_errors: bool = False) -> Any:
    from soundsort.distributed import RayConfig

    if num_actors is not None and num_actors < 1:
        usage(f"--num-actors must be >= 1, got {num_actors}")
    return RayConfig(address=address, num_actors=num_actors, fmt=fmt, overwrite=overwrite, retry_errors=retry_errors)


def classify_on_ray(paths: list[Path], output: Optional[Path], fmt: Optional[str], *, music_model: Optional[Path],
                    genre_model: Optional[Path], config: Any, address: Optional[str], num_actors: Optional[int],
                    overwrite: bool, retry_errors: bool, refused: dict[str, bool]) -> None:
    """``soundsort classify --engine ray``: the whole command (exit status 1 when some input failed)."""
    from soundsort.distributed import classify, require_ray
    from soundsort.distributed.inputs import is_uri

    given = [o for o, on in refused.items() if on]
    if given:
        usage(f"{', '.join(given)} {'does' if len(given) == 1 else 'do'} not go with --engine ray (it writes "
              "records into partitions; read them back with soundsort.distributed.read_results)")
    if output is None:
        usage("--engine ray writes its results into a folder: give -o OUT/")
    fmt = fmt or "parquet"
    if fmt not in ("parquet", "jsonl"):
        usage(f"--engine ray writes parquet or jsonl partitions, not {fmt}")
    require_ray()  # one line when Ray is missing, before anything else happens
    inputs = as_inputs(paths)
    cfg = ray_config(address, num_actors, fmt, overwrite=overwrite, retry_errors=retry_errors)

    def said(rec: dict) -> None:
        if invocation.verbosity > 0:
            for warning in rec.get("warnings") or []:
                errline(f"soundsort: {display_path(rec['path'])}: warning: {warning}")
        if rec["status"] != "ok":
            errline(f"soundsort: {rec['error']}")

    with progress("classifying on ray") as update:
        summary = classify(inputs, output, music_model=music_model, genre_model=genre_model, config=config,
                           ray_config=cfg, progress=update, on_result=said)
    for folder, reason in summary.unlisted:
        errline(f"soundsort: {display_path(folder)}: {reason}")
    if summary.removed_temporaries:
        info(f"soundsort: {display_path(summary.output)}: removed {summary.removed_temporaries} temporary "
             "partition(s) left by an interrupted run")
    if summary.skipped:
        info(f"resuming: {summary.skipped} of {summary.total} inputs already in {display_path(summary.output)}")
    if not summary.total and not summary.unlisted:
        usage("no audio files found in the inputs" + ("" if any(is_uri(i) for i in inputs) else
                                                     " (give files, folders, a manifest or URIs)"))
    outline(f"{summary.ok} ok, {summary.failed} failed: {len(summary.partitions)} new partition(s) in "
            f"{display_path(summary.output)}")
    failed = summary.failed + len(summary.unlisted)
    if failed:
        errline(f"{failed} of {summary.total - summary.skipped + len(summary.unlisted)} inputs failed")
        raise typer.Exit(EXIT_SOME_FAILED)


def featurize_on_ray(data: list[Path], cfg: Any, *, address: Optional[str], num_actors: Optional[int]) -> None:
    """``soundsort train --engine ray``: the dataset's features computed on the cluster into the feature cache,
    before the (local) cross-validation and fit read them from there."""
    from soundsort.distributed import require_ray
    from soundsort.distributed.features import featurize_dataset

    require_ray()
    with progress("features on ray") as update:
        featurize_dataset([str(d) for d in data], cfg, ray_config=ray_config(address, num_actors, "parquet"),
                          log=info, progress=update)
