"""What the pretrained networks already say: AudioSet class groups and a compact music summary of YAMNet scores.

YAMNet scores 521 AudioSet classes per 0.48 s frame (sigmoid probabilities, in the ontology order of
``soundsort/assets/yamnet_class_map.csv``). :func:`music_summary` condenses the frames of one segment into
the :data:`MUSIC_SUMMARY` columns (feature set ``yamnet-music``, :mod:`soundsort.features.embeddings`);
why these:

* ``music_max_of_mean`` / ``music_max_of_max``: the strongest class of AudioSet's *Music* subtree
  (:data:`MUSIC_CLASSES`, indices 132 "Music" … 276 "Scary music": genres, instruments, moods), from the
  segment-mean and from the segment-max scores. The mean is steady evidence, the max catches music that is
  audible for only part of the segment. The first is the zero-shot music score
  (:class:`soundsort.models.zeroshot.ScoreThresholdClassifier` thresholds it).
* ``speech_mean`` (class 0 "Speech") and ``speechlike_max_of_mean`` (:data:`SPEECH_CLASSES`, 0–6: speech,
  child speech, conversation, narration, babbling, synthesized speech, shout): speech is the commonest
  non-music, and speech over music keeps some music score, so the two together tell a voice-over apart.
* ``singing_max_of_mean`` (:data:`SINGING_CLASSES`, 24–31: singing, choir, yodeling, chant, mantra, child
  and synthetic singing, rapping): singing is music in soundsort's sense, but AudioSet files it under the
  human voice, outside the Music subtree; a cappella singing would otherwise look like speech.
* ``tonal_max_of_mean`` (:data:`TONAL_CLASSES`: alarms, sirens, horns, bells, beeps, dial tones, whistles,
  hum, sine waves, bird song): the pitched, harmonic sounds that are not music, which pitch- or
  harmonicity-based features confuse with music most.
* ``nonmusic_max_of_mean``: the strongest class that is neither music nor singing, nor a description of
  the recording rather than of a sound source (:data:`CONTEXT_CLASSES`: room acoustics, reverberation, echo,
  "Television", "Radio", "Field recording", which fire along with music as readily as without it), nor
  musical equipment filed outside the Music subtree (:data:`MUSIC_EQUIPMENT_CLASSES`: "Electronic tuner",
  "Effects unit", "Chorus effect", which fire on plain synthesized notes).
* ``silence_mean`` (class 494 "Silence"): near-silent segments score nothing anywhere; this says so.
* ``music_frame_share``: the share of the segment's frames whose strongest music-or-singing class beats
  their strongest non-music class: where in the segment music wins, which the means and maxima blur.
* ``musical_max_of_mean``: the strongest class of the Music subtree *or* of singing in the segment-mean
  scores; the score the bundled ``default-music`` rule thresholds (a cappella singing counts as music).

Ten columns: small enough for a model trained on a few hundred files not to fit the training set's
quirks (the point of these features is to hold up on audio unlike the training data), and each one says
something the others do not.

A separate output, ``"noise"`` (one column, ``noise_max_of_mean``; :func:`noise_summary`): the strongest of
the classes that name noise itself rather than a source (:data:`NOISE_CLASSES`: hiss, noise, environmental
noise, static, white and pink noise, hum, mains hum). Music under stationary noise keeps its music score in
the frames where the music is loud and loses it where only the noise is heard; this says which frames those
are. It is its own output (``outputs=["music", "noise"]``), so the ten columns above, and every cache and
model made of them, stay as they are.
"""

from __future__ import annotations

import re

import numpy as np

from soundsort.errors import ConfigError

__all__ = [
    "CONTEXT_CLASSES", "MUSIC_CLASSES", "MUSIC_EQUIPMENT_CLASSES", "MUSIC_SUMMARY", "MUSIC_SUMMARY_VERSION",
    "NOISE_CLASSES", "NONMUSIC_CLASSES", "N_AUDIOSET", "SILENCE",
    "SINGING_CLASSES", "SPEECH", "SPEECH_CLASSES", "TONAL_CLASSES", "music_summary", "noise_summary", "slug",
]

#: Classes YAMNet scores (AudioSet's 521).
N_AUDIOSET = 521
#: AudioSet's "Music" subtree: 132 "Music" … 276 "Scary music" (contiguous in ontology order).
MUSIC_CLASSES = np.arange(132, 277)
SPEECH = 0
#: Speech, child speech, conversation, narration, babbling, speech synthesizer, shout.
SPEECH_CLASSES = np.arange(0, 7)
#: Singing, choir, yodeling, chant, mantra, child singing, synthetic singing, rapping.
SINGING_CLASSES = np.arange(24, 32)
SILENCE = 494
#: Pitched non-music: whistling 35, bird song 107-108, vehicle / air horn 302 / 312, car alarm 304, reversing
#: beeps 313, sirens 316-319, train whistle / horn 324-325, doorbell, ding-dong 349-350, alarm, telephone
#: bell, DTMF, dial tone, busy signal, alarm clock, sirens, buzzer, smoke / fire alarm, foghorn, whistles
#: 382, 384, 386-397 (not 385 "Ringtone", often a melody), beep, ping, ding 475-477, hum 490, sine wave,
#: harmonic, chirp tone 495-497, mains hum 510, sidetone 512.
TONAL_CLASSES = np.array([35, 107, 108, 302, 304, 312, 313, 316, 317, 318, 319, 324, 325, 349, 350, 382, 384,
                          *range(386, 398), 475, 476, 477, 490, 495, 496, 497, 510, 512])
#: Descriptions of the recording, not of a source: inside small / large room, public space, outside urban /
#: rural, reverberation, echo (500-506); television, radio, field recording (518-520).
CONTEXT_CLASSES = np.array([*range(500, 507), 518, 519, 520])
#: Noise as such: hiss 79, hum 490, noise 507, environmental noise 508, static 509, mains hum 510, white noise
#: 514, pink noise 515 (not rain, wind or traffic: those are sources, and soundsort's non-music).
NOISE_CLASSES = np.array([79, 490, 507, 508, 509, 510, 514, 515])
#: The column of :func:`noise_summary`.
NOISE_SUMMARY = ("noise_max_of_mean",)
#: Electronic tuner, effects unit, chorus effect: musical equipment outside the Music subtree.
MUSIC_EQUIPMENT_CLASSES = np.arange(456, 459)
#: Every other class: the sources that are not music.
NONMUSIC_CLASSES = np.setdiff1d(np.arange(N_AUDIOSET), np.concatenate([MUSIC_CLASSES, SINGING_CLASSES,
                                                                       CONTEXT_CLASSES, MUSIC_EQUIPMENT_CLASSES]))
_MUSICAL = np.concatenate([MUSIC_CLASSES, SINGING_CLASSES])

#: Bumped whenever :data:`MUSIC_SUMMARY` changes (2: ``musical_max_of_mean`` added); the feature-set version
#: of every set with the ``"music"`` output, so caches and saved models of other columns are told apart.
MUSIC_SUMMARY_VERSION = 2
#: The columns of :func:`music_summary`, in order.
MUSIC_SUMMARY = (
    "music_max_of_mean", "music_max_of_max", "speech_mean", "speechlike_max_of_mean", "singing_max_of_mean",
    "tonal_max_of_mean", "nonmusic_max_of_mean", "silence_mean", "music_frame_share", "musical_max_of_mean",
)


def music_summary(scores: np.ndarray) -> np.ndarray:
    """The :data:`MUSIC_SUMMARY` of one segment's YAMNet frames ``scores[T, 521]`` (``T >= 1``): float32 ``(10,)``.

    Means are taken in float64; see the module docstring for what each column is.
    """
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[1] != N_AUDIOSET or len(s) == 0:
        raise ConfigError(f"music_summary needs AudioSet scores shaped [frames >= 1, {N_AUDIOSET}], got {s.shape}")
    mean = s.mean(axis=0, dtype=np.float64)
    peak = s.max(axis=0)
    wins = s[:, _MUSICAL].max(axis=1) > s[:, NONMUSIC_CLASSES].max(axis=1)
    return np.array([
        mean[MUSIC_CLASSES].max(), peak[MUSIC_CLASSES].max(), mean[SPEECH], mean[SPEECH_CLASSES].max(),
        mean[SINGING_CLASSES].max(), mean[TONAL_CLASSES].max(), mean[NONMUSIC_CLASSES].max(), mean[SILENCE],
        wins.mean(dtype=np.float64), mean[_MUSICAL].max(),
    ], dtype=np.float32)


def noise_summary(scores: np.ndarray) -> np.ndarray:
    """The :data:`NOISE_SUMMARY` of one segment's YAMNet frames ``scores[T, 521]``: float32 ``(1,)``, the
    strongest :data:`NOISE_CLASSES` score of the segment mean (taken in float64)."""
    s = np.asarray(scores)
    if s.ndim != 2 or s.shape[1] != N_AUDIOSET or len(s) == 0:
        raise ConfigError(f"noise_summary needs AudioSet scores shaped [frames >= 1, {N_AUDIOSET}], got {s.shape}")
    return np.array([s.mean(axis=0, dtype=np.float64)[NOISE_CLASSES].max()], dtype=np.float32)


def slug(name: str) -> str:
    """A class or tag name as a column-name part: lower case, runs of anything but letters / digits as ``_``."""
    return re.sub(r"[^0-9a-z]+", "_", str(name).lower()).strip("_")
