"""Training presets: the exact recipes of the bundled default models, reproducible with one command.

    soundsort train --preset default-music      # music / non-music timeline model
    soundsort train --preset default-genre      # genre model (10 GTZAN genres)

Data defaults to ``../shared/data`` beside the repository (the project's benchmark data); pass folders to
train the same recipe on other data.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from soundsort.registry import Registry

SHARED_DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
ASSET_MODELS = Path(__file__).resolve().parent / "assets" / "models"


@dataclass(frozen=True)
class Preset:
    name: str
    description: str
    task: str
    features: str
    feature_params: dict[str, Any]
    model: str
    model_params: dict[str, Any]
    data: tuple[str, ...]  # relative to SHARED_DATA; "LABEL=folder" gives every file under folder that label
    group_pattern: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)
    cv: str = "grouped"  # "leave-source-out": the card also carries the out-of-source figures

    def data_paths(self) -> list[str]:
        """The dataset roots as ``train`` takes them (``PATH`` or ``LABEL=PATH``, absolute)."""
        out = []
        for d in self.data:
            label, sep, folder = d.partition("=")
            out.append(f"{label}={SHARED_DATA / folder}" if sep else str(SHARED_DATA / d))
        return out

    def data_dirs(self) -> list[Path]:
        """The folders themselves (to check that the data is there)."""
        return [SHARED_DATA / d.partition("=")[2] if "=" in d else SHARED_DATA / d for d in self.data]

    def train_fields(self) -> dict[str, Any]:
        """The recipe as keyword arguments of :class:`soundsort.workflows.TrainConfig`."""
        return {"task": self.task, "features": self.features, "feature_params": dict(self.feature_params),
                "model": self.model, "model_params": dict(self.model_params), "group_pattern": self.group_pattern,
                "cv": self.cv}

    def output(self) -> Path:
        return ASSET_MODELS / self.name


#: Every music and non-music collection of the shared data (one source each; ``music=`` marks whole collections).
MUSIC_SOURCES = ("gtzan_music_speech", "esc10", "dcase2016_office_events", "speech_commands_noise", "freesound_clips",
                 "music=fsdkaggle2018_instruments", "music=gtzan_excerpts", "music=mirdata_music_fixtures",
                 "music=gtzan_mini")

PRESETS: dict[str, Preset] = {
    "default-music": Preset(
        name="default-music",
        description=("music / non-music zero-shot from YAMNet's own AudioSet scores: the strongest Music-subtree or "
                     "singing class of each 0.48 s frame, music from 0.1; silent and noise-only frames do not vote "
                     "on a file, and a clip under three frames needs more evidence"),
        task="music",
        features="yamnet-music",
        feature_params={"segment_seconds": 0.48, "outputs": ["music", "noise"]},
        model="score-threshold",
        model_params={"column": 9, "threshold": 0.1, "mapping": "logistic", "silence_column": 7, "noise_column": 10,
                      "min_segments": 3},
        data=MUSIC_SOURCES,
        group_pattern=r"^(\d+)-",
        cv="leave-source-out",
        notes=("Chosen by leave-one-source-out over the nine music and non-music collections of the shared data "
               "(benchmarks/bench_generalization.py): YAMNet's own Music-subtree-or-singing score, thresholded, "
               "carries over to collections it never saw far better than heads trained on its embeddings "
               "(pooled F1 0.973 vs 0.912), because those learn the few hundred training clips. Frames YAMNet "
               "hears as silence (its 'Silence' score 0.5 or more) or as noise only (its strongest noise class, "
               "e.g. 'Pink noise' or 'Static', at 0.05 or more and above the music score) keep their place in "
               "the timeline but do not count towards a file's music probability, so notes with long rests are "
               "music (0.980) and music under steady noise is found more often (0.903 vs 0.873 at 10 dB SNR). "
               "A clip shorter than three frames (about 1.4 s) is judged as if padded to three with non-music "
               "frames: one knock or door slam scoring as percussion is not enough for music (0.983; office "
               "sounds called music 3.8 % -> 0.8 %). It learns nothing "
               "from the data (the card's figures are measured, not fitted). 'music' means music is audible; "
               "speech, environmental sound, noise and silence are non-music. Known limits: clock ticks and "
               "ringing phones are sometimes called music (up to 1 % of a collection); soft solo-instrument "
               "notes and one-shot samples under 1.4 s (92 % found), near-silent recordings (a -86 dBFS "
               "excerpt scores as silence) and music under loud noise (10 dB SNR) are missed more often."),
    ),
    "default-genre": Preset(
        name="default-genre",
        description=("10 GTZAN genres on musicnn (MSD) + YAMNet embeddings of 3 s windows (one network pass each), "
                     "logistic regression"),
        task="genre",
        features="musicnn-msd+yamnet",
        feature_params={},
        model="logreg",
        model_params={"C": 0.01},
        data=("gtzan_mini", "gtzan_excerpts"),
        cv="leave-source-out",
        notes=("Knows only the 10 GTZAN genres (blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, "
               "rock), learned from 100 clips of 30 s (gtzan_mini) and 160 excerpts of 2-3 s of other GTZAN "
               "recordings (gtzan_excerpts, no classical or metal): music of other genres gets the nearest of "
               "these. musicnn and YAMNet together carry over to other recordings better than either alone "
               "(0.70 vs 0.62 on gtzan_excerpts trained on gtzan_mini; benchmarks/bench_generalization.py). GTZAN "
               "has known artist repetitions; figures are by clip. Band-limited (telephone) and noisy audio "
               "lower the accuracy markedly (0.63 / 0.49 on the excerpts' 8 kHz / 10 dB SNR copies)."),
    ),
}


#: The presets as a registry (``soundsort list``, :func:`get_preset`): name → ``factory() -> Preset``.
RECIPES: Registry[Callable[[], Preset]] = Registry("preset")
for _name, _preset in PRESETS.items():
    RECIPES.register(_name, partial(PRESETS.__getitem__, _name), _preset.description)
del _name, _preset


def get_preset(name: str) -> Preset:
    """The preset ``name``; an unknown name is a :class:`~soundsort.errors.ConfigError` naming the close one."""
    return RECIPES.get(name)()
