"""``soundsort list`` (every registered component), ``config`` (the defaults in effect) and ``demo``."""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from soundsort.cli.classify import FORMATS, classifier_factory, print_classify_table
from soundsort.cli.training import print_summary
from soundsort.cli.common import JOBS_HELP, examples, out, outline, process_count, progress, shown_names, thread_count
from soundsort.cli.root import app
from soundsort.registry import Registry


def catalogue() -> list[tuple[str, Registry]]:
    """Every registry ``soundsort list`` shows, with its heading, in the order shown."""
    from soundsort.backbones import BACKBONES
    from soundsort.dataset.tasks import TASKS
    from soundsort.features import FEATURIZERS
    from soundsort.models.registry import CNN_BACKBONES, MODELS
    from soundsort.presets import RECIPES
    from soundsort.tuning.parse import SPACES

    return [("tasks", TASKS), ("features", FEATURIZERS), ("backbones", BACKBONES), ("models", MODELS),
            ("CNN bodies (--model cnn-backbone)", CNN_BACKBONES), ("presets", RECIPES), ("tune spaces", SPACES),
            ("classify formats", FORMATS)]


@app.command("list")
def list_components() -> None:
    """List the tasks, feature sets, backbones, models, CNN bodies, presets, tune search spaces and output formats,
    each with its description."""
    for heading, registry in catalogue():
        names = registry.names()
        out.print(f"[bold]{heading}[/bold]:" + ("" if names else " none"))
        width = max((len(n) for n in names), default=0)
        for name in names:
            what = registry.describe(name)
            outline(f"  {name:{width}s}  {what}".rstrip())
        if heading == "models":
            outline("  ensemble-mean, ensemble-vote, ensemble-max  over --member FEATURES:MODEL pairs")


@app.command("config", epilog=examples("soundsort config", "soundsort config --path"))
def show_config(
    path_only: Annotated[bool, typer.Option("--path", help="Only print where the config file is read from.")] = False,
) -> None:
    """Show the defaults in effect (models, jobs, output format, cache folder) and where each comes from.

    The config file is TOML with top-level keys music_model, genre_model, jobs, format and cache_dir, read from
    $SOUNDSORT_CONFIG, else $XDG_CONFIG_HOME/soundsort/config.toml, else ~/.config/soundsort/config.toml; the
    variables SOUNDSORT_MUSIC_MODEL, SOUNDSORT_GENRE_MODEL, SOUNDSORT_JOBS, SOUNDSORT_FORMAT and
    SOUNDSORT_CACHE_DIR override it, and command-line options override both.
    """
    from soundsort.settings import config_path, current, describe

    where = config_path()
    if path_only:
        outline("" if where is None else str(where))
        return
    settings = current()
    state = "none (SOUNDSORT_CONFIG is empty)" if where is None else (
        f"{where}" + ("" if settings.file else " (not there: built-in defaults)"))
    outline(f"config file: {state}")
    table = Table(title="defaults in effect")
    for col in ("setting", "value", "from"):
        table.add_column(col, overflow="fold")
    for key, value, source in describe(settings):
        table.add_row(key, value, source)
    out.print(table)


@app.command(epilog=examples('soundsort demo --workdir demo_out', 'soundsort demo --workdir demo_out --train -j 2'))
def demo(
    workdir: Annotated[Optional[Path], typer.Option(help="Folder for the example audio (and model, report).")] = None,
    train_model: Annotated[bool, typer.Option("--train", help="Also train and cross-validate a model on the examples.")] = False,
    jobs: Annotated[Optional[int], typer.Option("--jobs", "-j", help=JOBS_HELP, show_default=False)] = None,
) -> None:
    """Generate example audio and run the main job on it: music timeline and genre with the bundled models."""
    import soundfile as sf

    from soundsort.examples import have_espeak, make_mixed_recording, synth_music, synth_noise, synth_speech
    from soundsort.inference.batch import run_batch

    work = workdir or Path(tempfile.mkdtemp(prefix="soundsort-demo-"))
    audio = work / "audio"
    audio.mkdir(parents=True, exist_ok=True)
    speech = "espeak-ng speech" if have_espeak() else "formant-synthesized speech (install espeak-ng for real speech)"
    out.print(f"[bold]1.[/bold] generating example audio in {audio}: synthesized music, {speech}, street-like noise")
    sr = 22050
    make_mixed_recording(audio / "radio_show.flac", [("speech", 10.0), ("music", 20.0), ("speech", 8.0),
                                                     ("noise", 5.0), ("music", 15.0), ("silence", 3.0)], sr=sr, seed=7)
    sf.write(audio / "song.flac", synth_music(25.0, sr, seed=991), sr)
    sf.write(audio / "interview.wav", synth_speech(15.0, sr, seed=992), sr)
    sf.write(audio / "street.ogg", synth_noise(10.0, sr, seed=993), sr)
    out.print("[bold]2.[/bold] soundsort classify: where the music is, and its genre (bundled models, "
              "YAMNet + musicnn, 10 GTZAN genres)")
    files = sorted(str(p) for p in audio.iterdir())
    records: list[dict] = []
    n_jobs = process_count(jobs, len(files))
    factory = classifier_factory(None, None, True, 2.0, 3, 1 if n_jobs > 1 else None)
    with progress("classifying") as update:
        run_batch(files, factory, jobs=n_jobs, on_result=records.append, progress=update)
    print_classify_table(records, shown_names(files, [audio]))
    out.print("(the music here is synthesized, so its genre is a guess among the 10 genres the model knows)")
    if train_model:
        from soundsort.examples import make_example_dataset
        from soundsort.workflows import TrainConfig
        from soundsort.workflows import train as run_train

        data = work / "dataset"
        out.print(f"[bold]3.[/bold] training music vs non-music on generated clips in {data} (5-fold CV)")
        make_example_dataset(data, n_per_class=10, seconds=6.0, seed=0)
        cfg = TrainConfig(task="music", features="handcrafted", model="logreg", jobs=thread_count(jobs))
        with progress("extracting features") as update:
            res = run_train([data], cfg, model_dir=work / "model-music", runs_dir=work / "runs", overwrite=True,
                            progress=update)
        print_summary(res.cv, res.labels, title="5-fold cross-validation (files)")
        out.print(f"report: {res.report}")
    out.print(f"everything is in {work}; try: soundsort classify {audio} --format json")
