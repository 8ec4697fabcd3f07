"""The ``soundsort`` command line (typer + rich): ``soundsort = "soundsort.cli:main"`` and ``python -m soundsort``.

Layout: :mod:`~soundsort.cli.root` holds the typer ``app``, the global options (``--version``, ``-q``, ``-v``) and
:func:`main`; :mod:`~soundsort.cli.common` the helpers every command shares (one-line messages and usage errors,
exit statuses, the progress bar, inputs from folders or stdin, atomic outputs, ``--jobs``, output formats); then
one module per group of commands, each registering its commands on ``app`` when imported:

- :mod:`~soundsort.cli.training`: ``index``, ``train``, ``evaluate``
- :mod:`~soundsort.cli.classify`: ``predict``, ``classify``
- :mod:`~soundsort.cli.organize`: ``organize``, ``tags``
- :mod:`~soundsort.cli.library`: ``embed``, ``similar``, ``cluster``, ``duplicates``
- :mod:`~soundsort.cli.components`: ``list``, ``config``, ``demo``
- :mod:`~soundsort.cli.tune`: ``tune``
- :mod:`~soundsort.cli.serve`: ``serve``; :mod:`~soundsort.cli.stream`: ``stream``
- :mod:`~soundsort.cli.ray_engine`: ``classify`` / ``train --engine ray`` (no command of its own)

Adding a command (e.g. ``soundsort serve`` in ``soundsort/cli/serve.py``) is one new module and one import line:

1. write the module: ``from soundsort.cli.root import app``, the helpers you need from
   ``soundsort.cli.common`` (``errline``, ``usage``, ``fail``, ``info``, ``progress``, ``expand``, ``emit``,
   ``thread_count``, ``examples``, ``JOBS_HELP``, ...), and the command as ``@app.command(epilog=examples(...))``;
   import the heavy parts (models, servers, ray) inside the command function, so that ``soundsort --help`` and the
   other commands never pay for them (``tests/test_fast_path.py`` checks what the classify path imports);
2. add its name to the import line below (``--help`` lists the commands in this order).

A new option of an existing command (e.g. ``classify --engine ray``) goes into that command's module. Errors a
user can cause are :class:`~soundsort.errors.SoundsortError`\\ s (or ``usage(...)`` / ``fail(...)``): ``main``
prints them as one line with the documented exit status. The CLI is the top layer: nothing else in the package
imports from ``soundsort.cli`` (``tests/test_architecture.py``).
"""

from soundsort.cli.root import app, main

# each module registers its commands on ``app`` (the order here is the order in ``soundsort --help``)
from soundsort.cli import training, classify, organize, library, components, tune, serve, stream  # noqa: E402,F401,I001

__all__ = ["app", "main"]
