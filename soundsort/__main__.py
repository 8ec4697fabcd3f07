"""``python -m soundsort`` runs the command line."""

from soundsort.cli import main

main()
