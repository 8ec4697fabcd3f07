"""The embedding pass: what a library stores about one file, computed in one process or a pool of them.

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
* the artist from the file's own tags (a labels table, applied by :mod:`soundsort.library.embed`, may set
  artist and genre instead).
"""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.decode import info as audio_info
from soundsort.cache import FeatureCache
from soundsort.errors import LibraryError, SoundsortError
from soundsort.features import featurize_file, featurizer_from_params, get_featurizer
from soundsort.library import fingerprint as fp
from soundsort.library.config import feature_members, params_key, segmenting

Progress = Callable[[int, int, str], None]


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
        members = feature_members(self.base)
        self.n_base = len(members)
        tag_set = config.get("tag_set")
        if tag_set:
            tag_fz = get_featurizer(tag_set, **config.get("tag_params", {}), **segmenting(self.base))
            self.featurizer = CombinedFeaturizer(members + [tag_fz], **segmenting(self.base))
        else:
            self.featurizer = self.base
        for m in feature_members(self.featurizer):
            if threads is not None and hasattr(m, "threads"):
                m.threads = threads
        self.slices = []
        start = 0
        for m in feature_members(self.featurizer):
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
            own = {params_key(m.params()): self.slices[i] for i, m in enumerate(members)}
            wanted = [params_key(g.params()) for g in feature_members(self.genre_fz)]
            if all(w in own for w in wanted) and segmenting(self.genre_fz) == segmenting(self.base):
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
    """The one-line reason a file failed (a :class:`SoundsortError` says it itself)."""
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
                  progress: Progress | None = None) -> Iterator[tuple[str, dict[str, Any] | None, str | None]]:
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


__all__ = ["Analyser", "analyse_files", "describe_error"]
