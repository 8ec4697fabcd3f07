"""Datasets: discover labelled audio folders, check every file, record groups, and split without leakage."""

from soundsort.dataset.build import build_index
from soundsort.dataset.check import check_file
from soundsort.dataset.discover import discover, discover_mapped, make_label_map
from soundsort.dataset.groups import group_from_name, read_groups_csv
from soundsort.dataset.index import INDEX_VERSION, DatasetIndex, IndexItem, SkippedFile
from soundsort.dataset.sources import DataRoot, parse_roots, read_sources_csv
from soundsort.dataset.splits import (
    SourceSplit,
    expand_to_segments,
    grouped_kfold,
    grouped_train_val_test_split,
    leave_source_out,
    repeated_grouped_kfold,
)

__all__ = [
    "INDEX_VERSION", "DataRoot", "DatasetIndex", "IndexItem", "SkippedFile", "SourceSplit", "build_index",
    "check_file", "discover", "discover_mapped", "expand_to_segments", "group_from_name", "grouped_kfold",
    "grouped_train_val_test_split", "leave_source_out", "make_label_map", "parse_roots", "read_groups_csv",
    "read_sources_csv", "repeated_grouped_kfold",
]
