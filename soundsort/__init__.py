"""soundsort: music vs non-music detection, music timelines and genre classification.

The package is laid out along the pipeline, and data flows one way:

``audio`` (decode, resample, blocks) → ``dataset`` (index, splits, segments) →
``features`` (handcrafted, spectrograms, cache) / ``backbones`` (pretrained embeddings) →
``models`` (scikit-learn style heads, safe save/load) → ``evaluation`` / ``inference`` → ``cli``.
"""

from soundsort.errors import AudioError, ModelError, SoundsortError

__version__ = "0.1.0"

__all__ = ["AudioError", "ModelError", "SoundsortError", "__version__"]
