"""Feature sets: a signal at a featurizer's ``sr`` → one vector or image per segment.

The package, room by room: :mod:`.base` (the :class:`Featurizer` contract, :class:`SegmentFeatures`, the
validated :class:`Segmenting`), :mod:`.registry` (name → factory), :mod:`.extract` (arrays and files, cache
keys, rebuilding from saved parameters), the feature sets (:mod:`.handcrafted_featurizer` on
:mod:`.handcrafted`, :mod:`.spectrogram_featurizer` on :mod:`.spectrograms`, :mod:`.embeddings` on
:mod:`.frames` and :mod:`.pooling`, :mod:`.patches`), :mod:`.combined` (``"a+b"`` combinations) and
:mod:`.batch` (many short signals at once). Importing the package registers the built-in feature sets;
librosa is imported only when a librosa feature set computes something.
"""

from soundsort.audio.resample import resampled_length
from soundsort.features import combined as _combined
from soundsort.features import embeddings as _embeddings
from soundsort.features import handcrafted_featurizer as _handcrafted
from soundsort.features import patches as _patches
from soundsort.features import spectrogram_featurizer as _spectrogram
from soundsort.features.base import SEGMENT_KEYS, Featurizer, SegmentFeatures, Segmenting, SegmentingFeaturizer
from soundsort.features.batch import segment_vectors_batch
from soundsort.features.combined import CombinedFeaturizer, combined_featurizer
from soundsort.features.embeddings import EMBEDDING_FEATURE_SETS, OUTPUTS, EmbeddingFeaturizer, embedding_factory
from soundsort.features.extract import cache_params, featurize_array, featurize_file, featurizer_from_params
from soundsort.features.frames import (
    BLOCK_SECONDS,
    FrameGeometry,
    FrameOutputs,
    backbone_outputs,
    embed_signal,
    frame_geometry,
    run_backbone,
    signal_outputs,
)
from soundsort.features.handcrafted_featurizer import MFCC_BASELINE, HandcraftedFeaturizer
from soundsort.features.patches import YamnetPatchFeaturizer, patches_per_segment
from soundsort.features.pooling import POOLINGS, SCORE_STATS, pool_frames, pool_stats, segment_frame_ranges
from soundsort.features.registry import FEATURIZERS, featurizer_names, get_featurizer, register_featurizer
from soundsort.features.spectrogram_featurizer import SPECTROGRAM_KINDS, SpectrogramConfig, SpectrogramFeaturizer

for _module in (_handcrafted, _spectrogram, _embeddings, _patches, _combined):
    _module.register_builtin()
del _module

__all__ = [
    "BLOCK_SECONDS", "EMBEDDING_FEATURE_SETS", "FEATURIZERS", "MFCC_BASELINE", "OUTPUTS", "POOLINGS", "SCORE_STATS",
    "SEGMENT_KEYS", "SPECTROGRAM_KINDS", "CombinedFeaturizer", "EmbeddingFeaturizer", "Featurizer", "FrameGeometry",
    "FrameOutputs", "HandcraftedFeaturizer", "SegmentFeatures", "Segmenting", "SegmentingFeaturizer",
    "SpectrogramConfig", "SpectrogramFeaturizer", "YamnetPatchFeaturizer", "backbone_outputs", "cache_params",
    "combined_featurizer", "embed_signal", "embedding_factory", "featurize_array", "featurize_file",
    "featurizer_from_params", "featurizer_names", "frame_geometry", "get_featurizer", "patches_per_segment",
    "pool_frames", "pool_stats", "register_featurizer", "resampled_length", "run_backbone", "segment_frame_ranges",
    "segment_vectors_batch", "signal_outputs",
]
