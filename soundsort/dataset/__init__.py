"""Datasets: discover labelled audio folders, check every file, record groups, and split without leakage."""

from soundsort.dataset.index import (
    INDEX_VERSION,
    DatasetIndex,
    IndexItem,
    SkippedFile,
    build_index,
    check_file,
    discover,
    discover_mapped,
    group_from_name,
    make_label_map,
    read_groups_csv,
)
from soundsort.dataset.splits import (
    expand_to_segments,
    grouped_kfold,
    grouped_train_val_test_split,
    repeated_grouped_kfold,
)

__all__ = [
    "INDEX_VERSION", "DatasetIndex", "IndexItem", "SkippedFile", "build_index", "check_file", "discover",
    "discover_mapped", "expand_to_segments", "group_from_name", "grouped_kfold", "grouped_train_val_test_split",
    "make_label_map", "read_groups_csv", "repeated_grouped_kfold",
]
