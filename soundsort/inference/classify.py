"""``soundsort classify``: a music / non-music timeline and the genre of the music parts, for any file.

One pass over the file in blocks keeps memory flat whatever its length:

1. decode a block (soundfile / PyAV), resample it once per model rate (streaming soxr);
2. featurize the block for the music model with a little context on both sides, so segments near block
   edges are computed as in one pass over the whole file, and score every segment (0.48 s frames for the
   bundled YAMNet model);
3. keep a bounded, evenly thinned set of genre windows whose frames look like music;
4. at the end: smooth the frame probabilities into a timeline with no segment shorter than the minimum,
   keep the genre windows that lie in music segments, and average the genre model's probabilities there.

Steps 1-3 are :class:`ClassifyEngine`, fed block by block (push, not pull); ``soundsort stream`` runs the same
engine one segment hop at a time and decides its timeline as it goes (:mod:`soundsort.inference.online`).
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.audio.buffer import RollingAudio
from soundsort.audio.decode import info as audio_info
from soundsort.audio.decode import stream as audio_stream
from soundsort.audio.native_stderr import DecoderMessages
from soundsort.audio.resample import StreamResampler, resample
from soundsort.errors import AudioError, ModelError
from soundsort.features import featurize_array
from soundsort.inference.timeline import Segment, music_share, smooth, to_segments
from soundsort.models.segments import file_mean, proba_matrix, segment_counts, short_rule, shrink_short_file

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

    Where the featurizer's backbone says so (``evidence_at_frames``, with its ``frame_geometry``): a YAMNet
    frame sits 0.0075 s after its 0.48 s segment starts (patches of 0.975 s every 0.48 s), not in the
    segment's middle; placing predictions there removes a 0.24 s lag from every boundary. Other feature
    sets speak for their segment's middle.
    """
    ends = np.minimum(times[:, 1], duration)
    middle = (times[:, 0] + ends) / 2
    backbone = getattr(featurizer, "backbone", None) if hasattr(featurizer, "backbone_name") else None
    geometry = getattr(backbone, "frame_geometry", None)
    if geometry is None or not getattr(backbone, "evidence_at_frames", False):
        return middle
    hop = geometry.hop / backbone.sr
    offset = geometry.first_centre / backbone.sr
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
        """``threads`` ONNX Runtime threads for ``featurizer`` (for a combination: each member). The featurizer
        built its backbone already (checking the card builds it, with the card's settings: all cores), so the
        backbone is told too: its session is made on first use, with the threads it has then."""
        if threads is None:
            return
        for feat in (featurizer, *getattr(featurizer, "members", ())):
            if hasattr(feat, "threads"):
                feat.threads = threads
                backbone = getattr(feat, "backbone", None)
                if backbone is not None and hasattr(backbone, "threads"):
                    backbone.threads = threads

    @staticmethod
    def _describe(folder: Path, card: Any) -> dict[str, Any]:
        return {"name": folder.name, "task": card.task, "labels": card.labels, "features": card.featurizer,
                "model": card.model, "threshold": card.threshold, "created": card.created,
                "soundsort": card.versions.get("soundsort", "?")}

    def engine(self, native_sr: int, *, step_seconds: float | None = None, collect: bool = True,
               genre_windows: bool = True, tight: bool = False) -> ClassifyEngine:
        """An incremental pass over a stream at ``native_sr`` (see :class:`ClassifyEngine`)."""
        return ClassifyEngine(self, native_sr, step_seconds=step_seconds, collect=collect,
                              genre_windows=genre_windows, tight=tight)

    # ------------------------------------------------------------------------------------------ file

    def classify_file(self, path: str | Path) -> FileResult:
        """Classify one file; raises :class:`~soundsort.errors.SoundsortError` for bad input."""
        cfg = self.config
        native_sr = audio_info(path).sr  # the header is read again (and its messages kept) below
        said = DecoderMessages()
        eng = self.engine(native_sr)
        for blk in audio_stream(path, None, block_seconds=10.0, messages=said):
            eng.feed(blk)
        eng.finish()
        times_l, probs_l, thin, native = eng.times_l, eng.probs_l, eng.thin, eng.native
        next_w, threshold = eng.next_w, self.music_card.threshold
        if eng.decoded == 0:
            raise AudioError("zero duration (no audio frames decoded)", path)
        duration = eng.decoded / native_sr
        if not times_l:
            raise AudioError("too short to analyse", path)
        times, probs = np.concatenate(times_l), np.concatenate(probs_l)
        # a clip of fewer segments than the rule's min_segments: its segments (timeline) and mean alike
        probs = shrink_short_file(probs, short_rule(self.music_est))
        counts = None
        if any(c is not None for c in eng.counts_l):
            counts = np.concatenate([np.ones(len(p), bool) if c is None else c for c, p in zip(eng.counts_l, probs_l)])
        if thin is not None:  # the last whole windows, or the only (short) one
            self._offer_windows(thin, native, native_sr, times_l, probs_l, next_w, duration, threshold,
                                final=True)
        hop = self.music_feat.hop_seconds
        centres = evidence_centres(self.music_feat, times, duration)
        smoothed = smooth(probs, hop, cfg.smooth_seconds)
        segments = to_segments(smoothed, centres, hop_seconds=hop, duration=duration, threshold=threshold,
                               margin=cfg.margin, min_segment_seconds=cfg.min_segment_seconds,
                               labels=("music", "non-music"))
        mean_p = float(file_mean(probs, counts))  # over the segments that count (not silent ones, for some rules)
        share = music_share(segments)
        label = "music" if mean_p >= threshold else "non-music"
        if cfg.mixed is not None and cfg.mixed <= share <= 1.0 - cfg.mixed:
            label = "mixed"
        result = FileResult(str(path), "ok", round(duration, 3), round(mean_p, 4), round(share, 4), label,
                            [s.to_dict() for s in segments], models=self.models, warnings=said.summary())
        if thin is not None:
            result.genre, result.genre_windows, per_segment = self._genre(segments, thin, native_sr)
            for seg, (genre, n) in zip(result.timeline, per_segment):
                seg["genre"], seg["genre_windows"] = genre, n
        return result

    def _offer_windows(self, thin: _Thinner, native: RollingAudio, native_sr: int, times_l: list[np.ndarray],
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


class FrameScorer:
    """The music model's segments of a stream fed in blocks at the model's rate (``sr``), scored once final.

    Audio is featurized a step at a time with at least 1 s of audio before and after the step (whole segment
    hops, so the segment grid stays the stream's), which covers YAMNet's 0.975 s patches and STFT frames:
    segments come out as one pass over the whole stream would give them, with bounded memory. ``classify``
    steps a minute at a time; ``stream`` one segment hop at a time with ``tight`` look-ahead (1 s past the
    last segment of a step, not a whole-hop context after the step), for a short decision delay.
    """

    def __init__(self, featurizer: Any, estimator: Any, pos: int, sr: int, step_seconds: float,
                 tight: bool = False) -> None:
        self.featurizer, self.estimator, self.pos, self.sr = featurizer, estimator, pos, sr
        self.hop_n = int(round(featurizer.hop_seconds * sr))
        self.seg_n = int(round(featurizer.segment_seconds * sr))
        self.ctx_n = self.hop_n * math.ceil(sr / self.hop_n)
        self.step_n = max(1, int(round(step_seconds * sr / self.hop_n))) * self.hop_n
        # audio needed past the start of a step's last segment
        self.ahead_n = self.seg_n + (sr if tight else self.hop_n + self.ctx_n)
        self.buf = RollingAudio()
        self.done = 0  # segments starting before this sample have been scored
        #: per scored block, which of its segments count towards a file's probability (None: all; see
        #: :func:`~soundsort.models.segments.segment_counts`), in the order the blocks were returned
        self.counts: list[np.ndarray | None] = []

    @property
    def lookahead_seconds(self) -> float:
        """Seconds of audio a segment waits for after its start before it is scored (at most)."""
        return (self.step_n - self.hop_n + self.ahead_n) / self.sr

    def push(self, block: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Add audio; ``(segment times [n, 2] s, music probabilities [n])`` of each step now complete."""
        self.buf.append(block)
        out = []
        while self.buf.end >= self.done + self.step_n - self.hop_n + self.ahead_n:
            out += self._step(self.done + self.step_n, self.done + self.step_n - self.hop_n + self.ahead_n, False)
        return out

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The segments left at the end of the stream."""
        return self._step(self.buf.end, self.buf.end, True)

    def _step(self, emit_to: int, audio_end: int, final: bool) -> list[tuple[np.ndarray, np.ndarray]]:
        done, sr = self.done, self.sr
        lo = max(0, done - self.ctx_n)
        audio = self.buf.get(lo, audio_end)
        out = []
        if len(audio) and (final or emit_to > done):
            feats = featurize_array(self.featurizer, audio)
            starts = feats.times[:, 0] * sr + lo
            keep = (starts >= done - 0.5) & (starts < emit_to - 0.5)
            if keep.any():
                proba = proba_matrix(self.estimator, feats.values[keep], 2)[:, self.pos]
                out.append((feats.times[keep] + lo / sr, proba))
                self.counts.append(segment_counts(self.estimator, feats.values[keep]))
        self.done = emit_to
        self.buf.drop_before(emit_to - self.ctx_n)
        return out


class ClassifyEngine:
    """One incremental pass of a :class:`Classifier` over a stream: feed blocks of mono float32 audio at the
    stream's own rate; each :meth:`feed` / :meth:`finish` returns the music model's segments that became final
    (``(times [n, 2], probabilities [n])`` blocks). ``classify`` and ``stream`` both run on it.

    ``collect`` keeps every segment's probability (``times_l`` / ``probs_l``: a file's timeline is made from
    them at the end); ``genre_windows`` keeps classify's bounded, evenly thinned set of music-looking genre
    windows (``thin``). ``native`` holds the recent audio at the stream's rate while a genre model is loaded;
    without ``genre_windows`` the caller drops what it no longer needs from it.
    """

    def __init__(self, clf: Classifier, native_sr: int, *, step_seconds: float | None = None,
                 collect: bool = True, genre_windows: bool = True, tight: bool = False) -> None:
        self.clf, self.native_sr = clf, int(native_sr)
        self.sr = clf.music_feat.sr
        self.to_music = StreamResampler(self.native_sr, self.sr) if self.native_sr != self.sr else None
        step = clf.config.block_seconds if step_seconds is None else step_seconds
        self.scorer = FrameScorer(clf.music_feat, clf.music_est, clf.pos, self.sr, step, tight)
        self.native = RollingAudio() if clf.genre_feat is not None else None
        self.decoded = 0  # samples fed, at the stream's rate
        self.collect = collect
        self.times_l: list[np.ndarray] = []
        self.probs_l: list[np.ndarray] = []
        self.counts_l: list[np.ndarray | None] = []  # with collect: which segments count (None: all)
        self.thin = _Thinner(clf.config.max_genre_windows * 4) if genre_windows and self.native is not None else None
        self.next_w = 0.0  # start of the next genre window to decide

    @property
    def position(self) -> float:
        """Seconds of audio fed so far."""
        return self.decoded / self.native_sr

    def feed(self, block: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
        """Add the next samples of the stream; the segments now final."""
        if self.native is not None:
            self.native.append(block)
        self.decoded += len(block)
        return self._scored(self.scorer.push(self.to_music.process(block) if self.to_music else block))

    def finish(self) -> list[tuple[np.ndarray, np.ndarray]]:
        """The end of the stream: the last segments."""
        out = []
        if self.to_music is not None:
            out += self._scored(self.scorer.push(self.to_music.process(np.zeros(0, np.float32), last=True)))
        return out + self._scored(self.scorer.finish())

    def _scored(self, blocks: list[tuple[np.ndarray, np.ndarray]]) -> list[tuple[np.ndarray, np.ndarray]]:
        clf = self.clf
        counts, self.scorer.counts = self.scorer.counts, []  # one per block returned since the last call
        if self.collect:
            self.counts_l += counts
        for seg_times, p in blocks:
            if self.collect or self.thin is not None:
                self.times_l.append(seg_times)
                self.probs_l.append(p)
            if self.thin is not None:
                emitted = float(seg_times[-1, 0]) + clf.music_feat.hop_seconds
                self.next_w = clf._offer_windows(self.thin, self.native, self.native_sr, self.times_l,
                                                 self.probs_l, self.next_w, emitted, clf.music_card.threshold)
            if not self.collect and len(self.times_l) > 2:  # the genre windows look two blocks back
                del self.times_l[:-2], self.probs_l[:-2]
        return blocks
