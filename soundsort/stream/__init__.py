"""Live input: music / non-music and genre events while a broadcast plays (``soundsort stream``).

- :mod:`~soundsort.stream.sources`: standard input (any container, or raw PCM), http(s) / Icecast URLs with
  reconnects, files (optionally paced in real time), sound cards (optional ``sounddevice``);
- :mod:`~soundsort.stream.run`: :func:`follow` — a source through the live classifier
  (:mod:`soundsort.inference.online`, on classify's engine) to events;
- :mod:`~soundsort.stream.schema`: the events' JSON Schema; :mod:`~soundsort.stream.output`: JSON lines or a
  live table.
"""

from soundsort.stream.run import follow
from soundsort.stream.schema import schema
from soundsort.stream.sources import open_source

__all__ = ["follow", "open_source", "schema"]
