"""Writing the genre into a file's own tags with mutagen (ID3, Vorbis comments, MP4), keeping every other tag.

Only done when the user asks (``classify --write-tags``).
"""

from __future__ import annotations

from pathlib import Path

from soundsort.errors import SoundsortError


class TagError(SoundsortError):
    """A file's tags could not be read or written."""


def write_genre(path: str | Path, genre: str) -> None:
    """Set the file's genre tag to ``genre``; other tags are left as they are."""
    import mutagen

    path = Path(path)
    try:
        audio = mutagen.File(path, easy=True)
    except Exception as exc:
        raise TagError(f"cannot read tags ({type(exc).__name__}: {exc})", path) from None
    try:
        if audio is None:
            raise TagError(f"cannot write tags: no tag format known for {path.suffix or 'this'} files", path)
        if audio.tags is None:
            audio.add_tags()
        if _is_wave(audio):  # WAV keeps an ID3 chunk; its tags are ID3 frames, not the easy interface
            from mutagen.id3 import TCON

            audio.tags.add(TCON(encoding=3, text=[genre]))
        else:
            audio["genre"] = [genre]
        audio.save()
    except TagError:
        raise
    except Exception as exc:
        raise TagError(f"cannot write tags ({type(exc).__name__}: {exc})", path) from None


def read_genre(path: str | Path) -> str | None:
    """The file's genre tag, or None."""
    import mutagen

    audio = mutagen.File(Path(path), easy=True)
    if audio is None or audio.tags is None:
        return None
    if _is_wave(audio):
        frame = audio.tags.get("TCON")
        return str(frame.text[0]) if frame else None
    values = audio.get("genre")
    return str(values[0]) if values else None


def _is_wave(audio) -> bool:
    return type(audio).__name__ in ("WAVE", "AIFF")
