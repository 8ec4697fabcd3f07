"""``soundsort organize`` (files into genre folders, never overwriting or losing one) and ``tags`` (top AudioSet,
MSD and MagnaTagATune tags)."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from soundsort.cli.classify import classifier_factory, classify_batch, model_folders
from soundsort.cli.common import (EXIT_SOME_FAILED, JOBS_HELP, check_format, each_file, emit, errline, examples, expand,
                                  fail, info, out, outline, process_count, require_inputs, usage)
from soundsort.cli.root import app
from soundsort.errors import display_path, os_reason


@app.command(epilog=examples('soundsort organize ~/Music/unsorted ~/Music/by-genre --dry-run', 'soundsort organize ~/Music/unsorted ~/Music/by-genre --mode move --min-confidence 0.6 --non-music aside'))
def organize(
    src: Annotated[Path, typer.Argument(help="Folder of audio files (searched recursively).")],
    dest: Annotated[Path, typer.Argument(help="Where the genre folders go.")],
    by: Annotated[str, typer.Option(help="What to sort by (genre).")] = "genre",
    mode: Annotated[str, typer.Option(help="copy, link or move.")] = "copy",
    dry_run: Annotated[bool, typer.Option(help="Print the plan; touch nothing.")] = False,
    min_confidence: Annotated[float, typer.Option(help="Files whose top genre is less likely go to unsure/.")] = 0.0,
    non_music: Annotated[str, typer.Option(help="leave (untouched) or aside (DEST/non-music/).")] = "leave",
    model: Annotated[Optional[Path], typer.Option("--model", "-m", help="Music/non-music model (default: bundled).")] = None,
    genre_model: Annotated[Optional[Path], typer.Option(help="Genre model (default: bundled).")] = None,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
) -> None:
    """Sort music files into DEST/<genre>/ folders (copy, link or move), never overwriting or losing a file.

    Classification results are kept in DEST/.soundsort-organize.jsonl, so an interrupted run resumes.
    """
    from soundsort.inference.batch import ResultWriter, read_records
    from soundsort.inference.organize import MODES, clean_temporaries, place, plan

    if by != "genre":
        usage(f"--by {by!r} is not supported (genre)")
    if mode not in MODES:
        usage(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    if non_music not in ("leave", "aside"):
        usage(f"--non-music must be 'leave' or 'aside', got {non_music!r}")
    if not src.is_dir():
        fail(f"{display_path(src)}: not a folder")
    src_real, dest_real = os.path.realpath(src), os.path.realpath(dest)
    if dest_real == src_real or src_real.startswith(dest_real.rstrip(os.sep) + os.sep):
        what = "is the source folder" if dest_real == src_real else "holds the source folder"
        usage(f"{display_path(dest)}: the destination {what}: give a destination outside "
              f"{display_path(src)} (or a new folder inside it)")
    found, unlisted = expand([src])
    inside = dest_real.rstrip(os.sep) + os.sep
    files = [str(p) for p in found if not os.path.realpath(p).startswith(inside)]  # never re-sort DEST
    state = dest / ".soundsort-organize.jsonl"
    jobs = process_count(jobs, len(files))
    model, genre_model = model_folders(model, genre_model, True)
    factory = classifier_factory(model, genre_model, True, 2.0, 3, 1 if jobs > 1 else None)
    factory()
    records: dict[str, dict] = {}
    writer = None
    try:
        if state.exists():
            records = {r["path"]: r for r in read_records(state, "jsonl") if r.get("status") == "ok"}
        if not dry_run:
            dest.mkdir(parents=True, exist_ok=True)
            removed = clean_temporaries(dest)
            if removed:
                errline(f"soundsort: {display_path(dest)}: removed {len(removed)} partial cop"
                         f"{'y' if len(removed) == 1 else 'ies'} left by an interrupted run "
                         f"({', '.join(display_path(p.name) for p in removed[:3])}{', ...' if len(removed) > 3 else ''})")
            writer = ResultWriter("jsonl", state, resume=True, log=errline)
    except OSError as exc:
        fail(f"{display_path(exc.filename or dest)}: cannot write the destination ({os_reason(exc)})")
    todo = [f for f in files if f not in records]

    def on_result(rec: dict) -> None:
        if rec["status"] != "ok":
            errline(f"soundsort: {rec['error']}")
        records[rec["path"]] = rec
        if writer is not None:
            writer.add(rec)

    failed = classify_batch(todo, factory, jobs, on_result, writer) + unlisted
    actions = plan([records[f] for f in files if f in records], dest, mode=mode, min_confidence=min_confidence,
                   non_music=non_music)
    counts: dict[str, int] = {}
    for act in actions:
        shown = display_path(act.src)
        if act.kind == "leave":
            outline(f"leave  {shown}  ({act.reason})")
            counts["left"] = counts.get("left", 0) + 1
            continue
        if dry_run:
            outline(f"{act.kind:5s}  {shown} -> {display_path(act.folder)}/  ({act.reason})")
            counts[act.kind] = counts.get(act.kind, 0) + 1
            continue
        if not os.path.lexists(act.src):
            continue  # moved by an earlier run
        try:
            final, already = place(act)
        except OSError as exc:
            errline(f"soundsort: {shown}: cannot {act.kind} to {display_path(act.folder)} ({os_reason(exc)})")
            failed += 1
            continue
        note = ""
        if already:
            note = "; already there: identical content" + (", source removed" if act.kind == "move" else "")
            counts["already there"] = counts.get("already there", 0) + 1
        else:
            counts[act.kind] = counts.get(act.kind, 0) + 1
        outline(f"{act.kind:5s}  {shown} -> {display_path(final)}  ({act.reason}{note})")
    info(_organize_summary(counts, mode, dry_run))
    if failed:
        errline(f"{failed} files failed")
        raise typer.Exit(EXIT_SOME_FAILED)


def _organize_summary(counts: dict[str, int], mode: str, dry_run: bool) -> str:
    """``done: 3 copied, 2 already there, 1 left`` (``plan: 3 copy, ...`` for a dry run); says when nothing was
    placed."""
    if dry_run:
        return "plan: " + (", ".join(f"{v} {k}" for k, v in sorted(counts.items())) or "nothing to do")
    past = {"copy": "copied", "link": "linked", "move": "moved"}
    parts = [f"{counts[k]} {past[k]}" for k in ("copy", "link", "move") if counts.get(k)]
    if not parts:
        parts = [f"nothing {past.get(mode, mode)}"]
    parts += [f"{counts[k]} {k}" for k in ("already there", "left") if counts.get(k)]
    return "done: " + ", ".join(parts)



@app.command(epilog=examples('soundsort tags clip.wav', 'soundsort tags songs/ --tagger musicnn-msd --top 3 -f json'))
def tags(
    files: Annotated[list[Path], typer.Argument(help="Audio files or folders (searched recursively); - reads paths "
                                                "from stdin.")],
    tagger: Annotated[Optional[list[str]], typer.Option("--tagger", help="yamnet, musicnn-msd, musicnn-mtt (repeatable; default all).")] = None,
    top: Annotated[int, typer.Option(help="Tags per tagger.")] = 5,
    fmt: Annotated[str, typer.Option("--format", "-f", help="table or json.")] = "table",
) -> None:
    """Top AudioSet classes (YAMNet) and top MSD / MagnaTagATune tags (musicnn) of each file."""
    from dataclasses import asdict

    from soundsort.inference.tags import TAGGERS, Tagger

    check_format(fmt, ("table", "json"))
    for name in tagger or []:
        if name not in TAGGERS:
            from soundsort.suggest import unknown

            usage(unknown("tagger", name, TAGGERS))
    paths, unlisted = expand(files)
    require_inputs(paths, unlisted, files)
    tg = Tagger(tuple(tagger) if tagger else TAGGERS, top_k=top)
    results, failures = each_file(paths, tg.tag_file, "tagging")
    failures += unlisted
    if fmt == "json":
        emit(json.dumps([asdict(r) for r in results], indent=2) + "\n", None)
    else:
        for r in results:
            table = Table(title=f"{display_path(r.path)} ({r.duration:.1f} s)", title_justify="left")
            for name in r.tags:
                table.add_column(name)
            for row in zip(*r.tags.values()):
                table.add_row(*[f"{t} {s:.2f}" for t, s in row])
            out.print(table)
    if failures:
        errline(f"{failures} of {len(paths) + unlisted} files failed")
        raise typer.Exit(EXIT_SOME_FAILED)
