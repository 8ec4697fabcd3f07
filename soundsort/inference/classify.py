"""``soundsort classify``: a music / non-music timeline and the genre of the music parts, for any file.

One pass over the file in blocks keeps memory flat whatever its length:

1. decode a block (soundfile / PyAV), resample it once per model rate (streaming soxr);
2. featurize the block for the music model with a little context on both sides, so segments near block
   edges are computed as in one pass over the whole file, and score every segment (0.48 s frames for the
   bundled YAMNet model);
3. keep a bounded, evenly thinned set of genre windows whose frames look like music;
4. at the end: smooth the frame probabilities into a timeline with no segment shorter than the minimum,
   keep the genre windows that lie in music segments, and average the genre model's probabilities there.
"""

from __future__ import annotations

import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.decode import info as audio_info
from soundsort.audio.decode import stream as audio_stream
from soundsort.audio.native_stderr import DecoderMessages
from soundsort.audio.resample import StreamResampler, resample
from soundsort.errors import AudioError, ModelError
from soundsort.features import featurize_array
from soundsort.inference.timeline import Segment, music_share, smooth, to_segments
from soundsort.models.segments import proba_matrix

#: Where the bundled default models live inside the package.
ASSETS = Path(__file__).resolve().parents[1] / "assets" / "models"
DEFAULT_MUSIC_MODEL = ASSETS / "default-music"
DEFAULT_GENRE_MODEL = ASSETS / "default-genre"


@dataclass(frozen=True)
class ClassifyConfig:
    """Knobs of the classify job (defaults in one place)."""

    min_segment_seconds: float = 2.0  # no timeline segment shorter than this (unless the file is)
    smooth_seconds: float = 1.5  # moving average over frame probabilities
    margin: float = 0.1  # hysteresis around the threshold
    top_k: int = 3  # genres reported
    genre_window_seconds: float = 3.0
    max_genre_windows: int = 10  # long songs: an even spread of at most this many music windows
    #: genre early stop: the first ``genre_stop_windows`` of those windows (the first, middle and last) are
    #: analysed first; when their mean probability of the leading genre beats the runner-up's by at least
    #: ``genre_stop_margin``, the genre is decided and the other windows are not analysed. ``None``: every
    #: window, always (the reference; see BENCHMARKS.md for how far the records move)
    genre_stop_windows: int = 3
    genre_stop_margin: float | None = 0.5
    block_seconds: float = 60.0  # decoded and analysed at a time
    genre: bool = True
    #: label a file "mixed" when its music share is within [mixed, 1 - mixed] (None: music / non-music only,
    #: by the mean music probability against the model's threshold)
    mixed: float | None = None


@dataclass
class FileResult:
    """Everything classify says about one file (serialized by every output format; see ``schema.py``)."""

    path: str
    status: str  # "ok" or "error"
    duration: float = 0.0
    music_probability: float | None = None
    music_share: float | None = None
    #: "music" when the mean music probability reaches the model's threshold, else "non-music"; "mixed" when
    #: ``ClassifyConfig.mixed`` is set and the music share is within [mixed, 1 - mixed]
    label: str | None = None
    #: segments ``{start, end, label, confidence}``; with genre on, also ``genre`` (that music segment's own
    #: top-k genres, None for non-music or a music segment no genre window fell in) and ``genre_windows``
    timeline: list[dict[str, Any]] = field(default_factory=list)
    genre: list[dict[str, Any]] | None = None  # top-k [{"label", "probability"}], from music parts only
    genre_windows: int = 0
    models: dict[str, Any] = field(default_factory=dict)
    error: str | None = None
    #: what the decoder said about a file it still decoded (e.g. libmpg123 on damaged MP3 frames): short,
    #: deduplicated, at most ``native_stderr.MAX_WARNINGS``; kept off the terminal unless ``--verbose``
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def evidence_centres(featurizer: Any, times: np.ndarray, duration: float) -> np.ndarray:
    """The time each segment's prediction speaks for: the mean centre of the frames it pooled.

    A YAMNet frame sits 0.0075 s after its 0.48 s segment starts (patches of 0.975 s every 0.48 s),
    not in the segment's middle; placing predictions there removes a 0.24 s lag from every boundary.
    Other feature sets speak for their segment's middle.
    """
    ends = np.minimum(times[:, 1], duration)
    middle = (times[:, 0] + ends) / 2
    if not str(getattr(featurizer, "backbone_name", "")).startswith("yamnet"):
        return middle
    from soundsort.backbones import frontends as F

    hop = F.yamnet_patch_hop_samples() / F.YAMNET_SR
    offset = F.yamnet_min_samples() / 2 / F.YAMNET_SR
    first = np.ceil((times[:, 0] - offset) / hop - 1e-9)
    last = np.ceil((times[:, 1] - offset) / hop - 1e-9) - 1
    has = last >= first
    mean_centre = offset + hop * (first + last) / 2
    return np.where(has, np.clip(mean_centre, 0.0, duration), middle)


class _Thinner:
    """Keeps at most ``cap`` items spread evenly over a stream: every k-th, k doubling when full."""

    def __init__(self, cap: int) -> None:
        self.cap = max(1, cap)
        self.step = 1
        self.seen = 0
        self.items: list[tuple[float, np.ndarray]] = []

    def offer(self, start: float, window: np.ndarray) -> None:
        if self.seen % self.step == 0:
            self.items.append((start, window))
            if len(self.items) > self.cap:
                self.step *= 2
                self.items = self.items[::2]
        self.seen += 1


class _RollingAudio:
    """The recent part of a stream, addressable by absolute sample index (old audio is dropped)."""

    def __init__(self) -> None:
        self.start = 0  # absolute index of data[0]
        self.data = np.zeros(0, np.float32)

    @property
    def end(self) -> int:
        return self.start + len(self.data)

    def append(self, block: np.ndarray) -> None:
        self.data = np.concatenate([self.data, block]) if len(self.data) else np.asarray(block, np.float32)

    def get(self, a: int, b: int) -> np.ndarray:
        a, b = max(a, self.start), min(b, self.end)
        return self.data[a - self.start: max(a, b) - self.start]

    def drop_before(self, index: int) -> None:
        cut = min(max(0, index - self.start), len(self.data))
        if cut:
            self.data = self.data[cut:]
            self.start += cut


class Classifier:
    """Bundled or user models, loaded once; :meth:`classify_file` for any file of any length."""

    def __init__(self, music_model: str | Path | None = None, genre_model: str | Path | None = None,
                 config: ClassifyConfig = ClassifyConfig(), *, threads: int | None = None) -> None:
        from soundsort.models.io import load_model
        from soundsort.inference.predict import featurizer_for

        self.config = config
        music_dir = Path(music_model) if music_model else DEFAULT_MUSIC_MODEL
        self.music_est, self.music_card = load_model(music_dir, fast=True)
        if self.music_est is None or self.music_card.positive_label is None or len(self.music_card.labels) != 2:
            kind = "" if self.music_est is None or self.music_card.positive_label is not None else (
                f" (this one is a {self.music_card.task!r} model of {len(self.music_card.labels)} labels; give a "
                "genre model as --genre-model)")
            raise ModelError("classify needs a binary music / non-music model (trained with --task music)" + kind,
                             music_dir)
        self.music_feat = featurizer_for(self.music_card, music_dir)
        if not hasattr(self.music_feat, "hop_seconds"):
            raise ModelError("classify needs a music model on segmented features", music_dir)
        self._set_threads(self.music_feat, threads)
        self.pos = self.music_card.labels.index(self.music_card.positive_label)
        self.genre_est = self.genre_card = self.genre_feat = None
        self.models = {"music": self._describe(music_dir, self.music_card)}
        if config.genre:
            genre_dir = Path(genre_model) if genre_model else DEFAULT_GENRE_MODEL
            self.genre_est, self.genre_card = load_model(genre_dir, fast=True)
            if self.genre_est is None:
                raise ModelError("classify needs a single genre model, not an ensemble", genre_dir)
            self.genre_feat = featurizer_for(self.genre_card, genre_dir)
            if self.genre_card.positive_label is not None or self.genre_card.task == "music":
                raise ModelError("this is a music / non-music model (task music), not a genre model: give it "
                                 "as --model, and a model trained with --task genre as --genre-model", genre_dir)
            self._set_threads(self.genre_feat, threads)
            self.models["genre"] = self._describe(genre_dir, self.genre_card)

    @staticmethod
    def _set_threads(featurizer: Any, threads: int | None) -> None:
        if threads is not None and hasattr(featurizer, "threads"):
            featurizer.threads = threads

    @staticmethod
    def _describe(folder: Path, card: Any) -> dict[str, Any]:
        return {"name": folder.name, "task": card.task, "labels": card.labels, "features": card.featurizer,
                "model": card.model, "threshold": card.threshold, "created": card.created,
                "soundsort": card.versions.get("soundsort", "?")}

    # ------------------------------------------------------------------------------------------ music pass

    def _music_blocks(self, blocks: Iterator[np.ndarray], sr: int) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """``(segment times [n, 2] s, music probabilities [n])`` per block of the music model's segments.

        Each block is featurized with at least 1 s of audio before and after it (whole segment hops, so
        the segment grid stays the file's), which covers YAMNet's 0.975 s patches and STFT frames: segments
        come out as a single pass over the file would give them, with bounded memory.
        """
        fz = self.music_feat
        hop_n = int(round(fz.hop_seconds * sr))
        seg_n = int(round(fz.segment_seconds * sr))
        ctx_n = hop_n * math.ceil(sr / hop_n)
        step_n = max(1, int(round(self.config.block_seconds * sr / hop_n))) * hop_n
        buf = _RollingAudio()
        done = 0  # segments starting before this sample have been emitted
        finished = False
        while not finished:
            need = done + step_n + seg_n + ctx_n
            while buf.end < need:
                try:
                    buf.append(next(blocks))
                except StopIteration:
                    finished = True
                    break
            emit_to = buf.end if finished else done + step_n
            lo = max(0, done - ctx_n)
            audio = buf.get(lo, buf.end if finished else emit_to + seg_n + ctx_n)
            if len(audio) and (finished or emit_to > done):
                feats = featurize_array(fz, audio)
                starts = feats.times[:, 0] * sr + lo
                keep = (starts >= done - 0.5) & (starts < emit_to - 0.5)
                if keep.any():
                    proba = proba_matrix(self.music_est, feats.values[keep], 2)[:, self.pos]
                    yield feats.times[keep] + lo / sr, proba
            done = emit_to
            buf.drop_before(done - ctx_n)

    # ------------------------------------------------------------------------------------------ file

    def classify_file(self, path: str | Path) -> FileResult:
        """Classify one file; raises :class:`~soundsort.errors.SoundsortError` for bad input."""
        cfg = self.config
        native_sr = audio_info(path).sr  # the header is read again (and its messages kept) below
        said = DecoderMessages()
        sr = self.music_feat.sr
        to_music = StreamResampler(native_sr, sr) if native_sr != sr else None
        native = _RollingAudio()  # recent audio at the file's rate, for genre windows
        decoded = [0]

        def music_stream() -> Iterator[np.ndarray]:
            for blk in audio_stream(path, None, block_seconds=10.0, messages=said):
                if self.genre_feat is not None:
                    native.append(blk)
                decoded[0] += len(blk)
                yield to_music.process(blk) if to_music else blk
            if to_music is not None:
                yield to_music.process(np.zeros(0, np.float32), last=True)

        times_l: list[np.ndarray] = []
        probs_l: list[np.ndarray] = []
        thin = _Thinner(cfg.max_genre_windows * 4)
        next_w = 0.0  # start of the next genre window to decide
        threshold = self.music_card.threshold
        for seg_times, p in self._music_blocks(music_stream(), sr):
            times_l.append(seg_times)
            probs_l.append(p)
            if self.genre_feat is None:
                continue
            emitted = float(seg_times[-1, 0]) + self.music_feat.hop_seconds
            next_w = self._offer_windows(thin, native, native_sr, times_l, probs_l, next_w, emitted, threshold)
        if decoded[0] == 0:
            raise AudioError("zero duration (no audio frames decoded)", path)
        duration = decoded[0] / native_sr
        if not times_l:
            raise AudioError("too short to analyse", path)
        times, probs = np.concatenate(times_l), np.concatenate(probs_l)
        if self.genre_feat is not None:  # the last whole windows, or the only (short) one
            self._offer_windows(thin, native, native_sr, times_l, probs_l, next_w, duration, threshold,
                                final=True)
        hop = self.music_feat.hop_seconds
        centres = evidence_centres(self.music_feat, times, duration)
        smoothed = smooth(probs, hop, cfg.smooth_seconds)
        segments = to_segments(smoothed, centres, hop_seconds=hop, duration=duration, threshold=threshold,
                               margin=cfg.margin, min_segment_seconds=cfg.min_segment_seconds,
                               labels=("music", "non-music"))
        mean_p = float(probs.mean())
        share = music_share(segments)
        label = "music" if mean_p >= threshold else "non-music"
        if cfg.mixed is not None and cfg.mixed <= share <= 1.0 - cfg.mixed:
            label = "mixed"
        result = FileResult(str(path), "ok", round(duration, 3), round(mean_p, 4), round(share, 4), label,
                            [s.to_dict() for s in segments], models=self.models, warnings=said.summary())
        if self.genre_feat is not None:
            result.genre, result.genre_windows, per_segment = self._genre(segments, thin, native_sr)
            for seg, (genre, n) in zip(result.timeline, per_segment):
                seg["genre"], seg["genre_windows"] = genre, n
        return result

    def _offer_windows(self, thin: _Thinner, native: _RollingAudio, native_sr: int, times_l: list[np.ndarray],
                       probs_l: list[np.ndarray], next_w: float, upto: float, threshold: float,
                       final: bool = False) -> float:
        """Decide the genre windows that end before ``upto``; returns the next undecided window start."""
        win = self.config.genre_window_seconds
        times, probs = times_l[-1], probs_l[-1]
        if len(times_l) > 1:  # a window can straddle two blocks
            times, probs = np.concatenate(times_l[-2:]), np.concatenate(probs_l[-2:])
        while next_w + win <= upto + 1e-9 or (final and next_w == 0.0 and upto > 0):
            inside = (times[:, 0] >= next_w - 1e-9) & (times[:, 0] < next_w + win - 1e-9)
            if inside.any() and probs[inside].mean() >= threshold:
                a = int(round(next_w * native_sr))
                thin.offer(next_w, native.get(a, a + int(round(win * native_sr))).copy())
            next_w += win
            if final and next_w + win > upto:
                break
        native.drop_before(int(round(next_w * native_sr)))
        return next_w

    def _window_probas(self, windows: list[np.ndarray], native_sr: int) -> list[np.ndarray | None]:
        """The genre model's probabilities of each window's analysis segments (None: too short for one).

        Every window is resampled on its own, as it always was; the networks then run once over all the
        windows' patches (:func:`~soundsort.features.batch.segment_vectors_batch`).
        """
        from soundsort.features import segment_vectors_batch

        if not windows:
            return []
        sr = self.genre_feat.sr
        vectors = segment_vectors_batch(self.genre_feat, [resample(w, native_sr, sr) for w in windows])
        n = len(self.genre_card.labels)
        return [proba_matrix(self.genre_est, v, n) if len(v) else None for v in vectors]

    def _decide_windows(self, chosen: list[tuple[float, np.ndarray, int | None]], native_sr: int
                        ) -> tuple[list[tuple[float, np.ndarray, int | None]], list[np.ndarray | None]]:
        """Analyse the file-level genre windows, stopping early once the genre is decided (the rule of
        :class:`ClassifyConfig`): the windows analysed, in time order, and their probabilities."""
        cfg = self.config
        n = len(chosen)
        k = cfg.genre_stop_windows
        if cfg.genre_stop_margin is None or k < 1 or n <= k:
            return chosen, self._window_probas([w for _, w, _ in chosen], native_sr)
        first = list(dict.fromkeys(np.linspace(0, n - 1, k).round().astype(int).tolist()))  # first, middle, last
        got = dict(zip(first, self._window_probas([chosen[i][1] for i in first], native_sr)))
        known = [p for p in got.values() if p is not None]
        decided = False
        if len(known) == len(first):
            mean = np.sort(np.concatenate(known).mean(axis=0))[::-1]
            decided = len(mean) > 1 and mean[0] - mean[1] >= cfg.genre_stop_margin
        if not decided:
            rest = [i for i in range(n) if i not in got]
            got.update(zip(rest, self._window_probas([chosen[i][1] for i in rest], native_sr)))
        order = sorted(got)
        return [chosen[i] for i in order], [got[i] for i in order]

    def _genre(self, segments: list[Segment], thin: _Thinner, native_sr: int
               ) -> tuple[list[dict[str, Any]] | None, int, list[tuple[list[dict[str, Any]] | None, int]]]:
        """The file's top genres from its music windows, how many windows, and each segment's own genres.

        The file's genre averages an even spread of at most ``max_genre_windows`` windows over the music. A
        music segment's genre averages those of these windows inside it; a music segment none of them fell
        in gets one more window of its own (the middle one kept inside it), so a broadcast with a jazz part
        and a classical part names both. Non-music segments get ``(None, 0)``.
        """
        cfg = self.config
        no_segments: list[tuple[list[dict[str, Any]] | None, int]] = [(None, 0)] * len(segments)

        def segment_of(t: float, w: np.ndarray) -> int | None:
            centre = t + min(cfg.genre_window_seconds, len(w) / native_sr) / 2
            return next((i for i, s in enumerate(segments) if s.label == "music" and s.start <= centre < s.end),
                        None)

        candidates = [(t, w, segment_of(t, w)) for t, w in thin.items if len(w)]
        candidates = [c for c in candidates if c[2] is not None]
        chosen = candidates
        if not chosen:
            return None, 0, no_segments
        if len(chosen) > cfg.max_genre_windows:  # an even spread over the music
            idx = np.linspace(0, len(chosen) - 1, cfg.max_genre_windows).round().astype(int)
            chosen = [chosen[i] for i in idx]
        chosen, chosen_p = self._decide_windows(chosen, native_sr)
        covered = {seg for _, _, seg in chosen}
        extra = []
        for seg in dict.fromkeys(c[2] for c in candidates):
            if seg not in covered:
                own = [c for c in candidates if c[2] == seg]
                extra.append(own[len(own) // 2])
        labels = self.genre_card.labels
        extra_p = self._window_probas([w for _, w, _ in extra], native_sr)
        # (segment, probabilities of the window's analysis segments), file-level windows first
        rows = [(seg, p) for (_, _, seg), p in zip(chosen + extra, chosen_p + extra_p)]

        def top(p: np.ndarray) -> list[dict[str, Any]]:
            order = np.argsort(-p)[: cfg.top_k]
            return [{"label": labels[i], "probability": round(float(p[i]), 4)} for i in order]

        per_segment = list(no_segments)
        for i in range(len(segments)):
            mine = [p for seg, p in rows if seg == i and p is not None]
            if mine:
                per_segment[i] = (top(np.concatenate(mine).mean(axis=0)), len(mine))
        file_rows = [p for _, p in rows[: len(chosen)] if p is not None]
        if not file_rows:
            return None, 0, per_segment
        return top(np.concatenate(file_rows).mean(axis=0)), len(file_rows), per_segment
