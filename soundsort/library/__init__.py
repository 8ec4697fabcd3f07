"""Collections: a library of embeddings for finding similar songs, clustering, and near-duplicates.

Built by ``soundsort embed`` (:func:`embed_collection`) and used by ``soundsort similar`` (:func:`similar`),
``soundsort cluster`` (:func:`cluster_library`) and ``soundsort duplicates`` (:func:`find_duplicates`).
This layer sits above audio / dataset / features / backbones / models / inference and below the interfaces;
nothing below it imports it.
"""

from soundsort.library.cluster import Cluster, Clustering, cluster_library, organize_plan, write_html, write_png
from soundsort.library.duplicates import DuplicateGroup, find_duplicates
from soundsort.errors import LibraryError
from soundsort.library.config import DEFAULT_FEATURES, EmbedConfig, config_for
from soundsort.library.embed import EmbedReport, embed_collection
from soundsort.library.similar import Neighbour, Query, query_for, similar
from soundsort.library.store import FileEntry, Library, SegmentEntry
from soundsort.library.vectors import VectorIndex

__all__ = [
    "Cluster", "Clustering", "DEFAULT_FEATURES", "DuplicateGroup", "EmbedConfig", "EmbedReport", "FileEntry",
    "Library", "LibraryError", "Neighbour", "Query", "SegmentEntry", "VectorIndex", "cluster_library",
    "config_for", "embed_collection", "find_duplicates", "organize_plan", "query_for", "similar", "write_html",
    "write_png",
]
