"""Audio I/O: decode any common format to mono float32, resample with soxr, read long files in blocks."""

from soundsort.audio.decode import AUDIO_EXTENSIONS, AudioInfo, info, is_audio_path, load, stream
from soundsort.audio.multirate import load_at_rates, stream_at_rates
from soundsort.audio.resample import StreamResampler, resample, resampled_length
from soundsort.audio.windows import frame_segments, segment_bounds

__all__ = [
    "AUDIO_EXTENSIONS", "AudioInfo", "StreamResampler", "frame_segments", "info", "is_audio_path", "load",
    "load_at_rates", "resample", "resampled_length", "segment_bounds", "stream", "stream_at_rates",
]
