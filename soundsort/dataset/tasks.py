"""Tasks: how a dataset's folder labels become the classes a model learns.

``music``: binary. A folder named ``music``, or ``music_*`` / ``music-*`` (``music_piano``,
``music-live``; any case), is the positive class "music"; every other folder (speech, noise,
environmental sounds, silence, ...) is "non-music". ``genre``: multi-class, one class per folder (whatever
the folders are: genres, instruments, moods). Saved models of other task names still load and predict.

:data:`TASKS` is the task registry (a :class:`soundsort.registry.Registry`: name → a factory of the
:class:`Task`); :func:`check_task` is how ``train --task`` and search spaces accept a name, :func:`get_task`
how a saved model's task is read back.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import partial

from soundsort.registry import Registry

MUSIC = "music"
NON_MUSIC = "non-music"
GENRE = "genre"


def is_music_label(folder_label: str) -> bool:
    """True for the folder labels the music task counts as music: ``music``, ``music_*``, ``music-*``."""
    name = folder_label.strip().lower()
    return name == MUSIC or (len(name) > len(MUSIC) + 1 and name.startswith(MUSIC) and name[len(MUSIC)] in "_-")


@dataclass(frozen=True)
class Task:
    """A learning task: its name and whether it is the binary music / non-music one."""

    name: str

    @property
    def binary(self) -> bool:
        return self.name == "music"

    @property
    def positive_label(self) -> str | None:
        return MUSIC if self.binary else None

    def class_of(self, folder_label: str) -> str:
        """The class a file with this folder label belongs to."""
        if not self.binary:
            return folder_label
        return MUSIC if is_music_label(folder_label) else NON_MUSIC

    def classes(self, folder_labels: Iterable[str]) -> list[str]:
        """Sorted class names this task has for the given folder labels (deterministic class indices)."""
        if self.binary:
            return [MUSIC, NON_MUSIC]
        return sorted(set(folder_labels))


#: The tasks ``train --task`` accepts: ``music`` (binary) and ``genre`` (one class per folder, whatever the
#: folders are: genres, instruments, moods). Any other name is refused, so a typo never trains a surprise.
TASKS: Registry[Callable[[], Task]] = Registry("task")
TASKS.register(MUSIC, partial(Task, MUSIC), "binary: folders named music, music_* or music-* against every other "
                                           "folder (non-music)")
TASKS.register(GENRE, partial(Task, GENRE), "multi-class: one class per folder, whatever the folders are (genres, "
                                           "instruments, moods)")
_FIRST = (MUSIC, GENRE)  # the order messages and ``soundsort list`` name the built-ins in


def task_names() -> list[str]:
    """The registered task names: ``music``, ``genre``, then any other in alphabetical order."""
    names = TASKS.names()
    return [n for n in _FIRST if n in names] + [n for n in names if n not in _FIRST]


def check_task(name: str) -> str:
    """``name`` normalized when it is a registered task, else a :class:`ConfigError` suggesting the close one."""
    norm = str(name).strip().lower()
    if norm not in TASKS:
        from soundsort.errors import ConfigError
        from soundsort.suggest import unknown

        raise ConfigError(unknown("task", name, task_names()) + " (genre learns one class per folder, whatever the "
                          "folders are named)")
    return norm


def get_task(name: str) -> Task:
    """The :class:`Task` of ``name`` (normalized); a name no task is registered for (a saved model of
    another task) is a multi-class task of that name."""
    norm = name.strip().lower()
    return TASKS.get(norm)() if norm in TASKS else Task(norm)
