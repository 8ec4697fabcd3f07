"""Catalogue scale on Ray: classify and featurize on a cluster (Ray Data + actors holding the models).

``pip install 'soundsort[ray]'``. :func:`classify` writes one record per input into Parquet (or JSONL)
partitions, resumable and exactly once; :func:`featurize` computes training features into the normal
feature cache; :func:`read_results` reads an output folder back. Importing this package does not import
Ray; a call without Ray raises :class:`RayUnavailable` with one line saying how to install it.
"""

from soundsort.distributed.classify import RayConfig, RunSummary, classify
from soundsort.distributed.cluster import NO_RAY, RayUnavailable, require_ray
from soundsort.distributed.features import FeaturizeSummary, featurize
from soundsort.distributed.inputs import expand_inputs
from soundsort.distributed.output import read_results

__all__ = ["NO_RAY", "FeaturizeSummary", "RayConfig", "RayUnavailable", "RunSummary", "classify", "expand_inputs",
           "featurize", "read_results", "require_ray"]
