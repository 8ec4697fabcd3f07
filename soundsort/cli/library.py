"""The collection commands: ``soundsort embed``, ``similar``, ``cluster`` and ``duplicates`` (over a library made
by :mod:`soundsort.library`)."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from soundsort.cli.common import (JOBS_HELP, check_format, emit, errline, examples, labels_table, mmss, out, outline,
                                  parse_params, progress, thread_count, usage)
from soundsort.cli.root import app


LIBRARY_OPT = typer.Option("--library", "-l", help="The library folder (made by `soundsort embed`).")


@app.command(epilog=examples('soundsort embed ~/Music -o ~/Music/.library', 'soundsort embed ~/Music -o ~/Music/.library --segments'))
def embed(
    collection: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively).")],
    output: Annotated[Path, typer.Option("--output", "-o", help="The library folder (created, or updated).")],
    features: Annotated[Optional[str], typer.Option(help="Feature sets: yamnet, musicnn-msd, yamnet+musicnn-msd (default for a new library), mfcc, ...")] = None,
    feature_param: Annotated[Optional[list[str]], typer.Option("--feature-param", help="Feature parameter key=value.")] = None,
    segments: Annotated[Optional[bool], typer.Option("--segments/--no-segments", help="Also one embedding per music segment.")] = None,
    describe: Annotated[Optional[bool], typer.Option("--describe/--no-describe", help="Music share and genre of every file (bundled or given models).")] = None,
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music/non-music model (default: bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: bundled).")] = None,
    index_kind: Annotated[Optional[str], typer.Option("--index", help="auto (exact below 20,000 files, else HNSW), flat or hnsw.")] = None,
    normalize: Annotated[Optional[str], typer.Option(help="zscore (per dimension, over the library; default) or none.")] = None,
    rebuild: Annotated[bool, typer.Option(help="Recompute every file (e.g. with other features).")] = False,
    cache: Annotated[bool, typer.Option(help="Use the on-disk feature cache.")] = True,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
    labels_csv: Annotated[Optional[Path], typer.Option(help="A table giving files' genre (label column) and artist (group column).")] = None,
    path_column: Annotated[str, typer.Option(help="--labels-csv: the column with each file's path (or file id).")] = "path",
    label_column: Annotated[str, typer.Option(help="--labels-csv: the genre column.")] = "label",
    group_column: Annotated[Optional[str], typer.Option(help="--labels-csv: the artist column.")] = None,
    header_rows: Annotated[int, typer.Option(help="--labels-csv: header rows (FMA's tracks.csv: 3).")] = 1,
    missing_files: Annotated[str, typer.Option(help="--labels-csv: a row whose file is not there is an 'error', or 'skip'ped.")] = "error",
) -> None:
    """Embed a collection into a library (vector index + metadata); run again to update it by content hash."""
    from soundsort.library import Library, config_for, embed_collection

    old = Library.load(output) if Library.exists(output) and not rebuild else None
    cfg = config_for(old, features=features, feature_params=parse_params(feature_param) if feature_param else None,
                     segments=segments, describe=describe, music_model=str(model) if model else None,
                     genre_model=str(genre_model) if genre_model else None, index=index_kind, normalize=normalize)
    table = labels_table(labels_csv, path_column, label_column, group_column, header_rows, missing_files)
    with progress("embedding") as update:
        rep = embed_collection(collection, output, cfg, jobs=thread_count(jobs), cache=cache,
                               rebuild=rebuild, labels_table=table, progress=update, log=errline)
    for note in rep.notes:
        errline(note)
    for path, reason in rep.failed:
        errline(f"soundsort: {reason}" if reason.startswith(path) else f"soundsort: {path}: {reason}")
    s = rep.summary()
    outline(f"library {output}: {s['files']} files (added {s['added']}, changed {s['changed']}, moved {s['moved']}, "
             f"removed {s['removed']}, unchanged {s['unchanged']})" + ("" if rep.saved else "; nothing to update"))
    if rep.failed:
        errline(f"{len(rep.failed)} files failed")
        raise typer.Exit(1)


@app.command(epilog=examples('soundsort similar song.mp3 --library ~/Music/.library -k 10 --same-genre --exclude-artist'))
def similar(
    query: Annotated[Path, typer.Argument(help="An audio file (in the library or not).")],
    library: Annotated[Path, LIBRARY_OPT],
    k: Annotated[int, typer.Option("-k", help="How many neighbours.")] = 10,
    same_genre: Annotated[bool, typer.Option(help="Only files of the query's genre.")] = False,
    exclude_artist: Annotated[bool, typer.Option(help="Leave out files by the query's artist.")] = False,
    by_segment: Annotated[bool, typer.Option("--segments", help="Search the music segments (embed --segments).")] = False,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """The files of a library that sound most like QUERY, nearest first, with their distances."""
    from soundsort.library import Library
    from soundsort.library import similar as find_similar

    check_format(fmt, ("table", "json"))
    lib = Library.load(library)
    found = find_similar(lib, query, k, same_genre=same_genre, exclude_artist=exclude_artist, segments=by_segment)
    if fmt == "json":
        emit(json.dumps({"query": str(query), "neighbours": [n.to_dict() for n in found]}, indent=2) + "\n", None)
        return
    table = Table(title=f"nearest to {str(query)}")
    for col, just in (("#", "right"), ("file", "left"), ("distance", "right"), ("genre", "left"), ("artist", "left")):
        table.add_column(col, justify=just, overflow="fold")
    if by_segment:
        table.add_column("segment", justify="left")
    for i, n in enumerate(found, 1):
        row = [str(i), str(n.path), f"{n.distance:.3f}", n.genre or "–", n.artist or "–"]
        if by_segment:
            row.append(f"{mmss(n.start or 0)}–{mmss(n.end or 0)}")
        table.add_row(*row)
    out.print(table)


@app.command(epilog=examples('soundsort cluster --library ~/Music/.library --auto --organize ~/Music/by-cluster --dry-run', 'soundsort cluster --library ~/Music/.library --k 8 -f json'))
def cluster(
    library: Annotated[Path, LIBRARY_OPT],
    k: Annotated[Optional[int], typer.Option("--k", help="Number of clusters (k-means).")] = None,
    auto: Annotated[bool, typer.Option(help="Find the clusters with HDBSCAN (files in none are 'unclustered').")] = False,
    min_cluster_size: Annotated[Optional[int], typer.Option(help="--auto: the smallest cluster.")] = None,
    output: Annotated[Optional[Path], typer.Option("--output", "-o", help="Folder for the map (PNG + HTML) and clusters.json (default LIBRARY/clusters).")] = None,
    organize_dest: Annotated[Optional[Path], typer.Option("--organize", help="Also sort the files into DEST/<cluster>/ folders.")] = None,
    mode: Annotated[str, typer.Option(help="--organize: copy, link or move (never overwrites).")] = "copy",
    dry_run: Annotated[bool, typer.Option(help="--organize: print the plan; touch nothing.")] = False,
    seed: int = 0,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Cluster a library (k-means or HDBSCAN), name each cluster, draw a map; optionally sort files by cluster."""
    from soundsort.library import Library, cluster_library, write_html, write_png

    check_format(fmt, ("table", "json"))
    lib = Library.load(library)
    res = cluster_library(lib, k=k, auto=auto, min_cluster_size=min_cluster_size, seed=seed)
    folder = output or Path(library) / "clusters"
    png = write_png(lib, res, folder / "cluster_map.png")
    page = write_html(lib, res, folder / "cluster_map.html")
    from soundsort.atomic import write_json

    doc = {"library": str(library), "method": res.method, "clusters": [c.to_dict() for c in res.clusters],
           "unclustered": [e.path for e, c in zip(lib.files, res.labels) if c < 0]}
    write_json(folder / "clusters.json", doc)
    if fmt == "json":
        emit(json.dumps(doc, indent=2) + "\n", None)
    else:
        table = Table(title=f"{len(lib)} files, {len(res.clusters)} clusters ({res.method})")
        for col, just in (("#", "right"), ("cluster", "left"), ("files", "right"), ("examples", "left")):
            table.add_column(col, justify=just, overflow="fold")
        for c in res.clusters:
            table.add_row(str(c.id), c.name, str(c.size), ", ".join(Path(p).name for p in c.paths[:3]))
        n_noise = int((res.labels < 0).sum())
        if n_noise:
            table.add_row("–", "unclustered", str(n_noise), "")
        out.print(table)
        out.print(f"map: {png} and {page}")
    if organize_dest is not None:
        _organize_clusters(lib, res, organize_dest, mode, dry_run)


def _organize_clusters(lib, res, dest: Path, mode: str, dry_run: bool) -> None:
    """Carry out (or print) the cluster folders plan with organize's safe file operations."""
    from soundsort.inference.organize import clean_temporaries, execute
    from soundsort.library import organize_plan

    dest_real = dest.resolve()
    failed = 0
    counts: dict[str, int] = {}
    for act in organize_plan(lib, res, dest, mode):
        if dest_real in act.src.resolve().parents:
            continue  # already inside DEST
        if dry_run:
            outline(f"{act.kind:5s}  {str(act.src)} -> {str(act.folder)}/  ({act.reason})")
            counts[act.kind] = counts.get(act.kind, 0) + 1
            continue
        if not act.src.exists():
            errline(f"soundsort: {str(act.src)}: not found (moved since it was embedded?)")
            failed += 1
            continue
        clean_temporaries(act.folder)
        try:
            final = execute(act)
        except OSError as exc:
            errline(f"soundsort: {str(act.src)}: cannot {act.kind} ({exc.strerror or exc})")
            failed += 1
            continue
        outline(f"{act.kind:5s}  {str(act.src)} -> {str(final)}")
        counts[act.kind] = counts.get(act.kind, 0) + 1
    errline(("plan: " if dry_run else "done: ") + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing"))
    if failed:
        errline(f"{failed} files failed")
        raise typer.Exit(1)


@app.command(epilog=examples('soundsort duplicates --library ~/Music/.library', 'soundsort duplicates -l ~/Music/.library --threshold 0.9 -f json'))
def duplicates(
    library: Annotated[Path, LIBRARY_OPT],
    threshold: Annotated[float, typer.Option(help="Share of fingerprint bits that must agree (0.5 = unrelated, 1 = identical).")] = 0.75,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """List near-duplicates in a library (the same recording in two files or formats). Nothing is deleted."""
    from soundsort.library import Library, find_duplicates

    check_format(fmt, ("table", "json"))
    if not 0.5 < threshold <= 1.0:
        usage(f"--threshold must be in (0.5, 1], got {threshold}")
    lib = Library.load(library)
    groups = find_duplicates(lib, threshold=threshold)
    if fmt == "json":
        emit(json.dumps({"library": str(library), "groups": [g.to_dict() for g in groups]}, indent=2) + "\n", None)
        return
    table = Table(title=f"{len(groups)} groups of duplicates in {len(lib)} files (nothing deleted)")
    for col, just in (("#", "right"), ("files", "left"), ("match", "left")):
        table.add_column(col, justify=just, overflow="fold")
    for i, g in enumerate(groups, 1):
        table.add_row(str(i), "\n".join(str(p) for p in g.paths),
                      "\n".join(f"{m:.3f} {how}" for _, _, m, how in g.pairs))
    out.print(table)
