"""``soundsort embed``: turn a collection into a library, and keep it up to date by content hash.

Per file, one pass of each backbone (:func:`soundsort.features.featurize_file`, through the
feature cache, so whatever training or an earlier run computed is reused) gives:

* the file's embedding: the mean of its 3 s segment vectors, per feature set (``yamnet``, ``musicnn-msd``,
  or both, ``yamnet+musicnn-msd``);
* its top tags, from the same network pass (musicnn's 50 MSD / MagnaTagATune tags, or YAMNet's 521
  AudioSet classes when YAMNet is the only backbone);
* with ``describe`` (the default) the music share and timeline from the music model (bundled or given),
  and the genre of its music parts from the genre model — computed on the library's own ``musicnn-msd``
  segments when they are the genre model's features (the bundled genre model's are), so genre costs no
  second musicnn pass;
* with ``segments`` one more embedding per music segment of the timeline (the mean of the segment vectors
  whose centre lies in it);
* a fingerprint (:mod:`soundsort.library.fingerprint`) for near-duplicate detection;
* the artist from the file's own tags, or, with a labels table, the table's group (artist) and label (genre).

**Incremental**: a file whose path, size and modification time are unchanged is not read again; one whose
content hash is already in the library (renamed, moved, touched, copied) reuses that entry's vectors; only
new content is embedded. Entries whose file no longer exists are dropped. Files of the library outside the
folders given this time are kept.
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.decode import info as audio_info
from soundsort.audio.decode import is_audio_path
from soundsort.cache import FeatureCache, content_hash
from soundsort.dataset.table import LabelsTable, read_labels_csv
from soundsort.errors import ConfigError, SoundsortError
from soundsort.features import featurize_file, featurizer_from_params, get_featurizer
from soundsort.library import fingerprint as fp
from soundsort.library.store import (
    INDEX_KINDS,
    NORMALIZATIONS,
    FileEntry,
    Library,
    LibraryError,
    SegmentEntry,
)

#: the default feature sets of a library (see BENCHMARKS.md, "Collections": retrieval quality per backbone)
DEFAULT_FEATURES = "yamnet+musicnn-msd"
#: tags kept per file in the metadata table
TOP_TAGS = 5

Progress = Callable[[int, int, str], None]


@dataclass
class EmbedConfig:
    """How a library's vectors and metadata are made (recorded in it; an update must match)."""

    features: str = DEFAULT_FEATURES
    feature_params: dict[str, Any] = field(default_factory=dict)
    describe: bool = True  # music share, timeline and genre with the music / genre models
    music_model: str | None = None  # None: the bundled model
    genre_model: str | None = None
    segments: bool = False  # also one embedding per music segment
    tags: bool = True
    index: str = "auto"  # auto, flat, hnsw
    normalize: str = "zscore"  # zscore, none

    def check(self) -> None:
        if self.index not in INDEX_KINDS:
            raise ConfigError(f"unknown index {self.index!r}; use {', '.join(INDEX_KINDS)}")
        if self.normalize not in NORMALIZATIONS:
            raise ConfigError(f"unknown normalization {self.normalize!r}; use {', '.join(NORMALIZATIONS)}")
        if self.segments and not self.describe:
            raise ConfigError("per-segment embeddings need the music timeline (--describe)")


#: config keys whose change makes every stored vector or description stale
_RECORD_KEYS = ("featurizer_params", "widths", "tag_names", "tag_set", "fingerprint", "describe", "music_model",
                "genre_model", "segments")


# -------------------------------------------------------------------------------------------- featurizers


def _members(featurizer: Any) -> list[Any]:
    return list(getattr(featurizer, "members", None) or [featurizer])


def _segmenting(featurizer: Any) -> dict[str, Any]:
    return {k: getattr(featurizer, k) for k in ("segment_seconds", "hop_seconds", "tail", "min_tail_seconds")}


def _key(params: dict[str, Any]) -> str:
    from soundsort.cache import canonical_json

    return canonical_json(params)


def _tag_set(base: Any) -> tuple[str | None, dict[str, Any]]:
    """The tag feature set that shares a backbone pass with ``base``, and its parameters (None: no tags)."""
    backbones = [getattr(m, "backbone_name", "") for m in _members(base)]
    for b in backbones:
        if b in ("musicnn-msd", "musicnn-mtt"):
            return f"{b}-tags", {"score_stats": ["mean"]}
    if "yamnet" in backbones:
        return "yamnet-scores", {"score_stats": ["mean"]}
    return None, {}


def _tag_names(tag_set: str | None) -> list[str]:
    if tag_set is None:
        return []
    if tag_set.startswith("musicnn"):
        from soundsort.backbones.musicnn import tag_names

        return list(tag_names("MSD_musicnn" if "msd" in tag_set else "MTT_musicnn"))
    from soundsort.backbones.yamnet import class_names

    return list(class_names())


def library_config(cfg: EmbedConfig) -> dict[str, Any]:
    """The JSON config a library records for ``cfg`` (featurizer parameters, block widths, tag names, ...)."""
    cfg.check()
    base = get_featurizer(cfg.features, **cfg.feature_params)
    members = _members(base)
    widths = [len(m.feature_names()) for m in members]
    if not all(widths) or getattr(base, "feature_names", lambda: [])() == []:
        raise ConfigError(f"feature set {cfg.features!r} does not give vectors (images or sequences); a library "
                          "needs vector features such as yamnet, musicnn-msd, yamnet+musicnn-msd or mfcc")
    tag_set, tag_params = _tag_set(base) if cfg.tags else (None, {})
    return {
        "features": cfg.features, "feature_params": dict(cfg.feature_params), "tags": cfg.tags,
        "featurizer_params": base.params(), "blocks": [m.name for m in members],
        "widths": widths, "tag_set": tag_set, "tag_params": tag_params, "tag_names": _tag_names(tag_set),
        "fingerprint": fp.params(), "describe": cfg.describe, "music_model": cfg.music_model,
        "genre_model": cfg.genre_model, "segments": cfg.segments, "index": cfg.index, "normalize": cfg.normalize,
    }


# -------------------------------------------------------------------------------------------- one file


def _file_artist(path: str) -> str | None:
    """The artist tag of a file (ID3 TPE1, Vorbis / MP4 artist), or None."""
    try:
        import mutagen

        audio = mutagen.File(path, easy=True)
        if audio is None or audio.tags is None:
            return None
        if type(audio).__name__ in ("WAVE", "AIFF"):
            frame = audio.tags.get("TPE1")
            return str(frame.text[0]).strip() or None if frame else None
        values = audio.get("artist")
        return str(values[0]).strip() or None if values else None
    except Exception:  # tags are a bonus: an unreadable tag block never fails the embedding
        return None


def _centres(times: np.ndarray) -> np.ndarray:
    return (times[:, 0] + times[:, 1]) / 2.0


def _inside(centres: np.ndarray, spans: Sequence[tuple[float, float]]) -> np.ndarray:
    mask = np.zeros(len(centres), dtype=bool)
    for a, b in spans:
        mask |= (centres >= a) & (centres < b)
    return mask


class Analyser:
    """Computes what a library stores about one file (loads models once; one per process)."""

    def __init__(self, config: dict[str, Any], *, cache: bool = True, threads: int | None = None) -> None:
        from soundsort.features import CombinedFeaturizer

        self.config = config
        self.cache = FeatureCache() if cache else None
        self.base = featurizer_from_params(config["featurizer_params"])
        members = _members(self.base)
        self.n_base = len(members)
        tag_set = config.get("tag_set")
        if tag_set:
            tag_fz = get_featurizer(tag_set, **config.get("tag_params", {}), **_segmenting(self.base))
            self.featurizer = CombinedFeaturizer(members + [tag_fz], **_segmenting(self.base))
        else:
            self.featurizer = self.base
        for m in _members(self.featurizer):
            if threads is not None and hasattr(m, "threads"):
                m.threads = threads
        self.slices = []
        start = 0
        for m in _members(self.featurizer):
            w = len(m.feature_names())
            self.slices.append(slice(start, start + w))
            start += w
        self.classifier = self.genre_est = self.genre_card = self.genre_fz = None
        self.genre_cols: list[slice] | None = None  # the genre model's features as blocks of the library's
        if config.get("describe"):
            from soundsort.inference.classify import DEFAULT_GENRE_MODEL, ClassifyConfig, Classifier
            from soundsort.models.io import load_model
            from soundsort.inference.predict import featurizer_for

            self.classifier = Classifier(config.get("music_model"), None, ClassifyConfig(genre=False),
                                         threads=threads)
            genre_dir = Path(config.get("genre_model") or DEFAULT_GENRE_MODEL)
            self.genre_est, self.genre_card = load_model(genre_dir)
            if self.genre_est is None:
                raise LibraryError("the genre model must be a single model, not an ensemble", genre_dir)
            self.genre_fz = featurizer_for(self.genre_card, genre_dir)
            if threads is not None and hasattr(self.genre_fz, "threads"):
                self.genre_fz.threads = threads
            own = {_key(m.params()): self.slices[i] for i, m in enumerate(members)}
            wanted = [_key(g.params()) for g in _members(self.genre_fz)]
            if all(w in own for w in wanted) and _segmenting(self.genre_fz) == _segmenting(self.base):
                self.genre_cols = [own[w] for w in wanted]

    def analyse(self, path: str) -> dict[str, Any]:
        """Everything stored about ``path`` (arrays and metadata); raises SoundsortError for bad audio."""
        feats = featurize_file(self.featurizer, path, self.cache)
        if len(feats.values) == 0:
            raise LibraryError("too short to embed (no analysis segment)", path)
        values = np.asarray(feats.values, dtype=np.float32)
        base = values[:, : self.slices[self.n_base - 1].stop]
        rec: dict[str, Any] = {"vector": base.mean(axis=0), "fingerprint": fp.fingerprint_file(path, self.cache)}
        if self.config.get("tag_set"):
            rec["tags"] = values[:, self.slices[-1]].mean(axis=0)
        rec["artist"] = _file_artist(path)
        rec["seg_times"] = np.zeros((0, 2), np.float64)
        rec["seg_vectors"] = np.zeros((0, base.shape[1]), np.float32)
        if self.classifier is None:
            rec["duration"] = float(audio_info(path).duration)
            return rec
        res = self.classifier.classify_file(path)
        rec.update(duration=float(res.duration), music_share=res.music_share,
                   music_probability=res.music_probability, timeline=res.timeline)
        music = [(s["start"], s["end"]) for s in res.timeline if s["label"] == "music"]
        centres = _centres(np.asarray(feats.times))
        if self.genre_cols is not None:
            gvals, gcent = np.concatenate([values[:, sl] for sl in self.genre_cols], axis=1), centres
        else:
            g = featurize_file(self.genre_fz, path, self.cache)
            gvals, gcent = np.asarray(g.values, dtype=np.float32), _centres(np.asarray(g.times))
        sel = _inside(gcent, music)
        if sel.any():
            from soundsort.models.segments import proba_matrix

            labels = self.genre_card.labels
            p = proba_matrix(self.genre_est, gvals[sel], len(labels)).mean(axis=0)
            top = int(np.argmax(p))
            rec["genre"], rec["genre_probability"] = labels[top], round(float(p[top]), 4)
        if self.config.get("segments"):
            times, vecs = [], []
            for a, b in music:
                inside = (centres >= a) & (centres < b)
                if inside.any():
                    times.append((a, b))
                    vecs.append(base[inside].mean(axis=0))
            if times:
                rec["seg_times"] = np.asarray(times, dtype=np.float64)
                rec["seg_vectors"] = np.asarray(vecs, dtype=np.float32)
        return rec


def describe_error(exc: BaseException, path: str) -> str:
    if isinstance(exc, SoundsortError):
        return str(exc)
    msg = " ".join(str(exc).split())[:200]
    return f"{path}: {type(exc).__name__}: {msg}"


_WORKER: Analyser | None = None


def _init_worker(config: dict[str, Any], cache: bool) -> None:
    global _WORKER
    _WORKER = Analyser(config, cache=cache, threads=1)


def _work(path: str) -> tuple[str, dict[str, Any] | None, str | None]:
    assert _WORKER is not None
    try:
        return path, _WORKER.analyse(path), None
    except Exception as exc:
        return path, None, describe_error(exc, path)


def analyse_files(paths: Sequence[str], config: dict[str, Any], *, jobs: int = 1, cache: bool = True,
                  progress: Progress | None = None):
    """Yield ``(path, record | None, error | None)`` for each path (``jobs`` processes, in order)."""
    if not paths:
        return
    if jobs <= 1 or len(paths) < 8:  # a few files: loading the models in worker processes costs more
        analyser = Analyser(config, cache=cache)
        for i, p in enumerate(paths):
            try:
                item = (p, analyser.analyse(p), None)
            except Exception as exc:
                item = (p, None, describe_error(exc, p))
            yield item
            if progress:
                progress(i + 1, len(paths), p)
        return
    ctx = multiprocessing.get_context("spawn")  # no fork of a process that may hold ONNX / OpenMP threads
    with ProcessPoolExecutor(max_workers=min(jobs, len(paths)), mp_context=ctx, initializer=_init_worker,
                             initargs=(config, cache)) as pool:
        for i, item in enumerate(pool.map(_work, paths, chunksize=1)):
            yield item
            if progress:
                progress(i + 1, len(paths), item[0])


# -------------------------------------------------------------------------------------------- collections


def collect_audio(paths: Sequence[str | os.PathLike[str]]) -> list[str]:
    """Absolute paths of the audio files given or found under the folders given (sorted, hidden skipped)."""
    out: list[str] = []
    for p in paths:
        p = Path(p).expanduser()
        if p.is_dir():
            for dirpath, dirnames, filenames in os.walk(p):
                dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
                out.extend(os.path.abspath(os.path.join(dirpath, n)) for n in sorted(filenames)
                           if not n.startswith(".") and is_audio_path(n))
        elif p.is_file():
            out.append(os.path.abspath(p))
        else:
            raise LibraryError("not found", p)
    seen: set[str] = set()
    return [f for f in out if not (f in seen or seen.add(f))]


@dataclass
class EmbedReport:
    """What an embed run did."""

    library: Library
    added: list[str] = field(default_factory=list)
    changed: list[str] = field(default_factory=list)
    moved: list[str] = field(default_factory=list)  # content already in the library under another path
    removed: list[str] = field(default_factory=list)
    unchanged: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)
    saved: bool = False
    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int]:
        return {"added": len(self.added), "changed": len(self.changed), "moved": len(self.moved),
                "removed": len(self.removed), "unchanged": self.unchanged, "failed": len(self.failed),
                "files": len(self.library)}


def _entry_from(path: str, digest: str, st: os.stat_result, rec: dict[str, Any], tag_names: list[str]) -> FileEntry:
    tags: list[list[Any]] = []
    if "tags" in rec and tag_names:
        scores = np.asarray(rec["tags"], dtype=np.float64)
        tags = [[tag_names[i], round(float(scores[i]), 4)] for i in np.argsort(-scores)[:TOP_TAGS]]
    genre = rec.get("genre")
    artist = rec.get("artist")
    return FileEntry(path=path, hash=digest, size=int(st.st_size), mtime_ns=int(st.st_mtime_ns),
                     duration=round(float(rec["duration"]), 3), music_share=rec.get("music_share"),
                     music_probability=rec.get("music_probability"), genre=genre,
                     genre_probability=rec.get("genre_probability"), genre_source="model" if genre else "",
                     artist=artist, artist_source="tag" if artist else "", tags=tags,
                     fingerprint=np.asarray(rec["fingerprint"], dtype="<u2").tobytes())


def _check_compatible(old: dict[str, Any], new: dict[str, Any], folder: Path) -> None:
    for key in _RECORD_KEYS:
        if old.get(key) != new.get(key):
            what = {"featurizer_params": "features", "widths": "features", "tag_names": "tags", "tag_set": "tags"}
            raise LibraryError(f"the library was built with other {what.get(key, key.replace('_', ' '))} "
                               f"({old.get('features') if key in what else old.get(key)!r}); embed with the same "
                               "options, or --rebuild to recompute every file", folder)


def embed_collection(paths: Sequence[str | os.PathLike[str]], library_dir: str | os.PathLike[str],
                     cfg: EmbedConfig | None = None, *, jobs: int = 1, cache: bool = True, rebuild: bool = False,
                     labels_table: LabelsTable | None = None, progress: Progress | None = None,
                     log: Callable[[str], None] = lambda s: None) -> EmbedReport:
    """Create or update the library in ``library_dir`` from the audio under ``paths`` (module docstring).

    ``cfg`` None: the existing library's configuration (or the defaults for a new one). ``labels_table``
    (paths relative to the one folder given) sets genre (label) and artist (group) of the files it names.
    """
    folder = Path(library_dir)
    with _locked(folder):
        return _embed(paths, folder, cfg, jobs=jobs, cache=cache, rebuild=rebuild, labels_table=labels_table,
                      progress=progress, log=log)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    """One update of a library at a time (an advisory lock on ``LIBRARY/.lock``)."""
    import fcntl

    folder.mkdir(parents=True, exist_ok=True)
    fd = os.open(folder / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            raise LibraryError("another soundsort embed is updating this library; try again when it is done",
                               folder) from None
        yield
    finally:
        os.close(fd)


def _embed(paths: Sequence[str | os.PathLike[str]], folder: Path, cfg: EmbedConfig | None, *, jobs: int,
           cache: bool, rebuild: bool, labels_table: LabelsTable | None, progress: Progress | None,
           log: Callable[[str], None]) -> EmbedReport:
    old = Library.load(folder) if Library.exists(folder) else None
    if cfg is None:
        cfg = config_for(old)
    config = library_config(cfg)
    if old is not None and rebuild:
        old = None
    if old is not None:
        _check_compatible(old.config, config, folder)
    files = collect_audio(paths)
    table_rows: dict[str, tuple[str, str | None]] = {}
    notes: list[str] = []
    if labels_table is not None:
        dirs = [p for p in paths if Path(p).is_dir()]
        if len(dirs) != 1 or len(paths) != 1:
            raise ConfigError("--labels-csv takes exactly one collection folder (the table's paths are relative to it)")
        rows, notes = read_labels_csv(labels_table, dirs[0])
        table_rows = {os.path.abspath(r.path): (r.label, r.group) for r in rows}
    report = EmbedReport(library=Library(folder, config), notes=notes)

    by_path = {e.path: i for i, e in enumerate(old.files)} if old is not None else {}
    by_hash: dict[str, int] = {}
    if old is not None:
        for i, e in enumerate(old.files):
            by_hash.setdefault(e.hash, i)
    kept: list[tuple[FileEntry, int]] = []  # (entry, old row whose vectors it reuses)
    todo: list[tuple[str, str, os.stat_result, str]] = []  # (path, hash, stat, "added" | "changed")
    given = set(files)
    for f in files:
        try:
            st = os.stat(f)
            i = by_path.get(f)
            if i is not None and old.files[i].size == st.st_size and old.files[i].mtime_ns == st.st_mtime_ns:
                kept.append((old.files[i], i))
                report.unchanged += 1
                continue
            digest = content_hash(f)
        except (OSError, SoundsortError) as exc:
            report.failed.append((f, describe_error(exc, f)))
            continue
        if i is not None and old.files[i].hash == digest:  # touched, same bytes
            kept.append((_replace(old.files[i], size=int(st.st_size), mtime_ns=int(st.st_mtime_ns)), i))
            report.unchanged += 1
        elif digest in by_hash:
            j = by_hash[digest]
            kept.append((_replace(old.files[j], path=f, size=int(st.st_size), mtime_ns=int(st.st_mtime_ns)), j))
            report.moved.append(f)
        else:
            todo.append((f, digest, st, "changed" if i is not None else "added"))
    if old is not None:  # entries not seen this time: kept while their file exists (other folders)
        for i, e in enumerate(old.files):
            if e.path in given:
                continue
            if os.path.exists(e.path):
                kept.append((e, i))
            else:
                report.removed.append(e.path)
    log_every = max(1, len(todo) // 20)
    records: list[tuple[FileEntry, dict[str, Any]]] = []
    for n, (path, rec, error) in enumerate(analyse_files([t[0] for t in todo], config, jobs=jobs, cache=cache,
                                                         progress=progress)):
        f, digest, st, kind = todo[n]
        if rec is None:
            report.failed.append((f, error or "failed"))
            if kind == "changed":
                report.removed.append(f)  # its old vectors describe content that is gone
            continue
        records.append((_entry_from(f, digest, st, rec, config["tag_names"]), rec))
        (report.changed if kind == "changed" else report.added).append(f)
        if (n + 1) % log_every == 0 and progress is None:
            log(f"embedded {n + 1} of {len(todo)} files")

    lib = report.library
    dim = sum(config["widths"])
    n_tags = len(config["tag_names"])
    vectors, seg_vectors, tags = [], [], []
    old_segments: dict[int, list[int]] = {}
    for k, s in enumerate(old.segments if old is not None else []):
        old_segments.setdefault(s.file, []).append(k)
    rows: list[tuple[FileEntry, int | None, dict[str, Any] | None]] = \
        [(e, i, None) for e, i in kept] + [(e, None, rec) for e, rec in records]
    for entry, i, rec in sorted(rows, key=lambda r: r[0].path):
        row = len(lib.files)
        lib.files.append(entry)
        if i is not None:
            vectors.append(old.vectors[i])
            tags.append(old.tag_scores[i])
            for k in old_segments.get(i, []):
                lib.segments.append(SegmentEntry(row, old.segments[k].start, old.segments[k].end))
                seg_vectors.append(old.segment_vectors[k])
            continue
        vectors.append(np.asarray(rec["vector"], np.float32))
        tags.append(np.asarray(rec.get("tags", np.zeros(n_tags)), np.float16))
        for (a, b), sv in zip(rec["seg_times"], rec["seg_vectors"]):
            lib.segments.append(SegmentEntry(row, round(float(a), 3), round(float(b), 3)))
            seg_vectors.append(sv)
    lib.vectors = np.asarray(vectors, np.float32).reshape(-1, dim)
    lib.segment_vectors = np.asarray(seg_vectors, np.float32).reshape(-1, dim)
    lib.tag_scores = np.asarray(tags, np.float16).reshape(-1, n_tags) if n_tags else \
        np.zeros((len(lib.files), 0), np.float16)
    changed_meta = _apply_table(lib, table_rows)
    if old is not None:
        lib.created, lib.generation = old.created, old.generation
    anything = (old is None or report.added or report.changed or report.moved or report.removed or changed_meta
                or old.config != config or [e.path for e in old.files] != [e.path for e in lib.files])
    if anything:
        if not lib.files:
            raise LibraryError("no file could be embedded" + (f" (first: {report.failed[0][1]})"
                                                              if report.failed else ""), folder)
        lib.rebuild()
        lib.save()
        report.saved = True
    else:
        report.library = old
    return report


def config_for(old: Library | None, **overrides: Any) -> EmbedConfig:
    """The configuration of an existing library (or the defaults) with ``overrides`` (None values ignored)."""
    fields = EmbedConfig.__dataclass_fields__
    base = {k: v for k, v in (old.config if old is not None else {}).items() if k in fields}
    given = {k: v for k, v in overrides.items() if v is not None}
    unknown = sorted(set(given) - set(fields))
    if unknown:
        raise ConfigError(f"unknown embed option(s): {', '.join(unknown)}")
    return EmbedConfig(**{**base, **given})


def _replace(e: FileEntry, **changes: Any) -> FileEntry:
    return FileEntry(**{**asdict(e), **changes})


def _apply_table(lib: Library, rows: dict[str, tuple[str, str | None]]) -> bool:
    """Genre and artist from a labels table for the files it names; True when anything changed."""
    changed = False
    for i, e in enumerate(lib.files):
        if e.path not in rows:
            continue
        label, group = rows[e.path]
        new = _replace(e, genre=label, genre_probability=None, genre_source="table")
        if group:
            new.artist, new.artist_source = group, "table"
        if new != e:
            lib.files[i] = new
            changed = True
    return changed


__all__ = ["Analyser", "DEFAULT_FEATURES", "config_for", "EmbedConfig", "EmbedReport", "analyse_files", "collect_audio",
           "embed_collection", "library_config"]
