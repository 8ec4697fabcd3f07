"""The task registry: ``music`` and ``genre`` on the generic :class:`~soundsort.registry.Registry`, the names
``train --task`` accepts, the messages for unknown names, and tasks of saved models read back."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from soundsort.dataset.tasks import MUSIC, NON_MUSIC, TASKS, Task, check_task, get_task, task_names
from soundsort.errors import ConfigError
from soundsort.registry import Registry


def test_the_registry_holds_music_and_genre() -> None:
    assert isinstance(TASKS, Registry) and TASKS.kind == "task"
    assert TASKS.names() == ["genre", "music"] and task_names() == ["music", "genre"]
    assert "music" in TASKS and "musik" not in TASKS and len(TASKS) == 2
    assert "non-music" in TASKS.describe("music") and "one class per folder" in TASKS.describe("genre")
    assert TASKS.get("music")() == Task("music") and TASKS.get("genre")() == Task("genre")
    assert get_task("music").binary and get_task("music").positive_label == MUSIC
    assert not get_task("genre").binary and get_task("genre").positive_label is None


def test_unknown_task_messages_are_as_before() -> None:
    with pytest.raises(ConfigError) as err:
        check_task("musik")
    assert str(err.value) == ("unknown task 'musik' (did you mean 'music'?); known: music, genre (genre learns one "
                              "class per folder, whatever the folders are named)")
    with pytest.raises(ConfigError) as err:
        check_task("instruments")
    assert str(err.value) == ("unknown task 'instruments'; known: music, genre (genre learns one class per folder, "
                              "whatever the folders are named)")
    with pytest.raises(ConfigError, match=r"^unknown task 'genres' \(did you mean 'genre'\?\); known: genre, music$"):
        TASKS.get("genres")  # the registry's own lookup names its entries alphabetically


@given(st.sampled_from(["music", "genre"]), st.lists(st.booleans(), min_size=5, max_size=5),
       st.text(" \t", max_size=2), st.text(" \t", max_size=2))
def test_check_task_normalizes_case_and_spaces(name: str, upper: list[bool], before: str, after: str) -> None:
    spelled = before + "".join(c.upper() if u else c for c, u in zip(name, upper)) + after
    assert check_task(spelled) == name
    assert get_task(spelled) == Task(name)


@given(st.text(min_size=1, max_size=12))
def test_any_other_name_is_refused_in_one_line(name: str) -> None:
    if name.strip().lower() in ("music", "genre"):
        assert check_task(name) == name.strip().lower()
        return
    with pytest.raises(ConfigError) as err:
        check_task(name)
    msg = str(err.value)
    assert msg.startswith(f"unknown task {name!r}") and "; known: music, genre (" in msg


def test_a_saved_model_of_another_task_reads_back_as_one_class_per_folder() -> None:
    mood = get_task(" Mood ")
    assert mood == Task("mood") and not mood.binary
    assert mood.class_of("calm") == "calm" and mood.classes(["sad", "calm", "sad"]) == ["calm", "sad"]
    music = get_task("music")
    assert [music.class_of(f) for f in ("Music_piano", "music-live", "musical", "speech")] == [
        MUSIC, MUSIC, NON_MUSIC, NON_MUSIC]
    with pytest.raises(ConfigError):
        check_task("mood")  # but training one is refused
