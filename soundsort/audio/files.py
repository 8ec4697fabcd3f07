"""Finding audio files under the paths a user gives, without ever stopping at an odd entry.

* A path given on the command line is kept as it is, whatever it is (missing, a name too long, a FIFO):
  the decoder then says what is wrong with it, as for any bad file.
* Folders are walked recursively (hidden files and folders skipped, symlinked folders not followed).
  Every entry with an audio name is listed, also when it is no regular file (a FIFO, a link to a device,
  a symlink loop, a broken link): the decoder reports each of those instead of them vanishing silently.
* A folder that cannot be listed (no permission, or nested deeper than the system's path limit) is
  reported in :attr:`FoundAudio.unlisted` with the reason; the walk goes on with the rest.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass, field
from pathlib import Path

from soundsort.audio.decode import is_audio_path
from soundsort.errors import os_reason


@dataclass
class FoundAudio:
    files: list[Path] = field(default_factory=list)
    #: ``(folder, reason)`` for every folder that could not be listed
    unlisted: list[tuple[str, str]] = field(default_factory=list)


def _is_dir(path: Path) -> bool:
    try:
        return path.is_dir()
    except OSError:  # a name too long, a loop...: not a folder; the decoder says what it is
        return False


def walk_folder(folder: Path, found: FoundAudio) -> None:
    """Add the audio entries under ``folder`` (sorted) to ``found``; folders that cannot be listed too."""
    entries: list[Path] = []

    def unlisted(exc: OSError) -> None:
        found.unlisted.append((exc.filename if exc.filename is not None else str(folder),
                               f"cannot list folder: {os_reason(exc)}"))

    for dirpath, dirnames, filenames in os.walk(folder, onerror=unlisted):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        entries.extend(Path(dirpath, n) for n in filenames if not n.startswith(".") and is_audio_path(n))
    found.files.extend(sorted(entries))


def find_audio(items: Iterable[str | os.PathLike[str]]) -> FoundAudio:
    """Files as given; folders walked for audio files (see the module's notes)."""
    found = FoundAudio()
    for item in items:
        path = Path(item)
        if _is_dir(path):
            walk_folder(path, found)
        else:
            found.files.append(path)
    return found
