"""Training presets: the exact recipes of the bundled default models, reproducible with one command.

    soundsort train --preset default-music      # music / non-music timeline model
    soundsort train --preset default-genre      # genre model (10 GTZAN genres)

Data defaults to ``../shared/data`` beside the repository (the project's benchmark data); pass folders to
train the same recipe on other data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundsort.errors import ConfigError

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
    data: tuple[str, ...]  # relative to SHARED_DATA
    group_pattern: str | None = None
    notes: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def data_paths(self) -> list[Path]:
        return [SHARED_DATA / d for d in self.data]

    def train_fields(self) -> dict[str, Any]:
        """The recipe as keyword arguments of :class:`soundsort.workflows.TrainConfig`."""
        return {"task": self.task, "features": self.features, "feature_params": dict(self.feature_params),
                "model": self.model, "model_params": dict(self.model_params), "group_pattern": self.group_pattern}

    def output(self) -> Path:
        return ASSET_MODELS / self.name


PRESETS: dict[str, Preset] = {
    "default-music": Preset(
        name="default-music",
        description="music / non-music on YAMNet frames (0.48 s), logistic regression",
        task="music",
        features="yamnet",
        feature_params={"segment_seconds": 0.48},
        model="logreg",
        model_params={"C": 0.1},
        data=("gtzan_music_speech", "esc10"),
        group_pattern=r"^(\d+)-",
        notes=("Trained on GTZAN music/speech (64 + 64 clips of 30 s) and ESC-10 (400 clips of 5 s). "
               "'music' means music is audible; speech, environmental sound, noise and silence are non-music. "
               "Speech over music and singing were scarce in training: expect lower confidence there."),
    ),
    "default-genre": Preset(
        name="default-genre",
        description="10 GTZAN genres on musicnn (MSD) embeddings of 3 s windows, logistic regression",
        task="genre",
        features="musicnn-msd",
        feature_params={},
        model="logreg",
        model_params={"C": 0.1},
        data=("gtzan_mini",),
        notes=("Knows only the 10 GTZAN genres (blues, classical, country, disco, hiphop, jazz, metal, pop, reggae, "
               "rock), learned from 100 clips: music of other genres gets the nearest of these. GTZAN has known "
               "artist repetitions; figures are cross-validated by clip."),
    ),
}


def get_preset(name: str) -> Preset:
    try:
        return PRESETS[name]
    except KeyError:
        raise ConfigError(f"unknown preset {name!r}; known: {', '.join(sorted(PRESETS))}") from None
