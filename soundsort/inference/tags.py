"""Pretrained taggers on whole files: top AudioSet classes (YAMNet) and top MSD / MTT tags (musicnn)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from soundsort.audio import load

TAGGERS = ("yamnet", "musicnn-msd", "musicnn-mtt")


@dataclass
class FileTags:
    """Per tagger, the top ``(tag, score)`` pairs, scores averaged over the file's patches."""

    path: str
    duration: float
    tags: dict[str, list[tuple[str, float]]] = field(default_factory=dict)


class Tagger:
    """Loads the requested taggers once; :meth:`tag_file` decodes a file once (16 kHz) for all of them."""

    def __init__(self, taggers: tuple[str, ...] = TAGGERS, *, top_k: int = 5, threads: int | None = None) -> None:
        from soundsort.backbones import get_backbone

        unknown = sorted(set(taggers) - set(TAGGERS))
        if unknown:
            from soundsort.errors import ConfigError

            raise ConfigError(f"unknown tagger(s) {', '.join(unknown)}; choose from {', '.join(TAGGERS)}")
        self.top_k = top_k
        self.backbones = {name: get_backbone(name, threads=threads) for name in taggers}

    def tag_signal(self, y: np.ndarray, sr: int) -> dict[str, list[tuple[str, float]]]:
        out: dict[str, list[tuple[str, float]]] = {}
        for name, bb in self.backbones.items():
            if name == "yamnet":
                scores, _ = bb.predict_classes(y, sr)
                names = bb.class_names()
            else:
                scores = bb.tags(y, sr).values
                names = bb.tag_names()
            mean = np.asarray(scores, dtype=float).mean(axis=0)
            top = np.argsort(-mean)[: self.top_k]
            out[name] = [(names[i], round(float(mean[i]), 4)) for i in top]
        return out

    def tag_file(self, path: str | Path) -> FileTags:
        y, sr = load(path, 16000)
        return FileTags(str(path), len(y) / sr, self.tag_signal(y, sr))
