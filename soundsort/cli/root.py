"""The ``soundsort`` app itself: the typer ``app`` every command registers on, the global options
(``--version``, ``-q``, ``-v``, also after the command) and :func:`main`, the console script.

Errors a user can cause print one line (``soundsort: <file>: <reason>``) on stderr and exit non-zero;
never a traceback. Progress bars go to stderr so stdout stays clean for JSON / CSV.

Exit status: 0 everything done; 1 done, but some inputs failed (a bad file, tags not written); 2 a usage
error (an unknown option or value, options that do not go together: nothing was run); 3 nothing could be done
(no input found, a model or dataset that cannot be used, an output that would be overwritten); 130
interrupted (Ctrl-C); 141 stdout was closed (``| head``): the command ends quietly.
"""

from __future__ import annotations

import errno
import os
import sys
from typing import Annotated

import typer

from soundsort.cli.common import (EXIT_CLOSED_STDOUT, EXIT_INTERRUPTED, EXIT_NOTHING_DONE, EXIT_OK, EXIT_USAGE,
                                  errline, invocation, usage)
from soundsort.errors import SoundsortError, display_path, os_reason

app = typer.Typer(no_args_is_help=True, pretty_exceptions_enable=False,
                  help="Music vs non-music detection and genre classification for audio files and collections.",
                  epilog="Exit status: 0 done, 1 some inputs failed, 2 usage error, 3 nothing could be done. "
                         "Defaults from ~/.config/soundsort/config.toml and SOUNDSORT_* variables "
                         "(`soundsort config`).")


def _version_callback(value: bool) -> None:
    if value:
        from importlib.metadata import PackageNotFoundError, version

        try:
            v = version("soundsort")
        except PackageNotFoundError:
            v = "unknown"
        sys.stdout.write(f"soundsort {v}\n")
        raise typer.Exit(0)


@app.callback()
def _root(
    version: Annotated[bool, typer.Option("--version", callback=_version_callback, is_eager=True,
                                          help="Print the version and exit.")] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Only errors on stderr: no progress, notes or "
                                        "summaries of what was written (also after the command: `soundsort "
                                        "classify -q ...`).")] = False,
    verbose: Annotated[bool, typer.Option("--verbose", "-v", help="More on stderr: what the decoder reported about "
                                          "files it still decoded (also after the command).")] = False,
) -> None:
    """Music vs non-music detection and genre classification for audio files and collections."""
    if quiet and verbose:
        usage("-q / --quiet and -v / --verbose do not go together")
    invocation.verbosity = -1 if quiet else 1 if verbose else 0


_GLOBAL_FLAGS = ("-q", "--quiet", "-v", "--verbose")


def _hoist_global_flags(argv: list[str]) -> list[str]:
    """``soundsort CMD ... -q`` means ``soundsort -q CMD ...``: the global flags move to the front (those
    after ``--`` stay where they are)."""
    front, rest = [], []
    end = argv.index("--") if "--" in argv else len(argv)
    for i, arg in enumerate(argv):
        if i < end and arg in _GLOBAL_FLAGS:
            front.append(arg)
        else:
            rest.append(arg)
    return front + rest


def main() -> None:
    """Entry point: run the app, turning soundsort errors into one line and the documented exit status.

    File names that are not UTF-8 reach stdout as the bytes they are (as ``ls`` prints them), never as an
    encoding error. An error soundsort did not foresee is still one line (``SOUNDSORT_DEBUG=1`` shows the
    traceback). A closed stdout (``soundsort classify ... | head``) ends the command quietly (status 141).
    """
    from soundsort.errors import ConfigError

    # typer carries its own copy of click: its usage errors derive from this ClickException
    click_error = next(c for c in typer.BadParameter.__mro__ if c.__name__ == "ClickException")

    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="surrogateescape")
    debug = os.environ.get("SOUNDSORT_DEBUG") == "1"
    code = EXIT_OK
    try:
        rv = app(args=_hoist_global_flags(sys.argv[1:]), prog_name="soundsort", standalone_mode=False)
        code = rv if isinstance(rv, int) else EXIT_OK
        if code == EXIT_INTERRUPTED and not invocation.interrupt_said:  # typer turns Ctrl-C into exit 130
            errline("soundsort: interrupted")
    except SystemExit:
        if "PacifyFlushWrapper" not in type(sys.stdout).__name__:
            raise
        _quiet_stdout()  # typer met the closed stdout (EPIPE) first and wrapped it: end quietly all the same
        code = EXIT_CLOSED_STDOUT
    except click_error as exc:  # usage errors (exit 2) and the like
        exc.show()
        code = exc.exit_code
    except (typer.Abort, KeyboardInterrupt):
        errline("soundsort: interrupted")
        code = EXIT_INTERRUPTED
    except ConfigError as exc:
        errline(f"soundsort: {exc}")
        code = EXIT_USAGE
    except SoundsortError as exc:
        errline(f"soundsort: {exc}")
        code = EXIT_NOTHING_DONE
    except OSError as exc:
        if isinstance(exc, BrokenPipeError) or getattr(exc, "errno", None) == errno.EPIPE:
            _quiet_stdout()
            code = EXIT_CLOSED_STDOUT
        else:
            if debug:
                raise
            where = f"{display_path(exc.filename)}: " if exc.filename is not None else ""
            errline(f"soundsort: {where}{os_reason(exc)}")
            code = EXIT_NOTHING_DONE
    except Exception as exc:
        if debug:
            raise
        errline(f"soundsort: unexpected error ({type(exc).__name__}: {exc}); SOUNDSORT_DEBUG=1 shows where")
        code = EXIT_NOTHING_DONE
    try:
        sys.stdout.flush()
    except (BrokenPipeError, OSError):
        _quiet_stdout()
        code = code or EXIT_CLOSED_STDOUT
    sys.exit(code)


def _quiet_stdout() -> None:
    """stdout was closed by its reader: point it at /dev/null so nothing more (the interpreter's last flush
    included) complains."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):
        pass

