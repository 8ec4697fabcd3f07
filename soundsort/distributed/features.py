"""``soundsort train ... --engine ray``: a dataset's features / embeddings computed on a Ray cluster, into the
normal feature cache (:class:`soundsort.cache.FeatureCache`), so training then reads them all from disk.

The actors (:class:`~soundsort.distributed.actors.FeatureActor`) run the local
:func:`~soundsort.features.extract.featurize_file` into a cache folder of their own and send back the
entries it wrote; the driver stores them byte for byte under the same keys (content hash + parameters), each
written atomically. Keys depend on a file's content, not its name, so the entries are exactly those the
local training would have written. Files whose entries are already in the cache are not sent; a rerun after
a crash computes only what is missing.
"""

from __future__ import annotations

import os
import pickle
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from soundsort.atomic import atomic_open
from soundsort.distributed.classify import RayConfig, run_pipeline
from soundsort.distributed.cluster import cluster_cpus, connected, require_ray
from soundsort.distributed.ledger import start_ledger, stop_ledger


@dataclass
class FeaturizeSummary:
    """What a cluster featurization did."""

    total: int
    cached: int  # already in the cache before the job
    computed: int = 0
    failed: list[tuple[str, str]] = field(default_factory=list)  # (path, one-line reason)


def _members(featurizer: Any) -> list[Any]:
    """The featurizers whose cache entries a file gets: a combination's members, else the featurizer."""
    members = getattr(featurizer, "members", None)
    return list(members) if callable(getattr(featurizer, "featurize_file", None)) and members else [featurizer]


def is_cached(featurizer: Any, path: str, cache: Any) -> bool:
    """Whether every cache entry ``featurize_file(featurizer, path, cache)`` reads is there already."""
    from soundsort.errors import SoundsortError
    from soundsort.features.extract import cache_params

    try:
        return all(cache.entry_path(path, cache_params(m)).exists() for m in _members(featurizer))
    except SoundsortError:  # missing / unreadable: the job reports it
        return False


def featurize(paths: Sequence[str | os.PathLike[str]], features: str, feature_params: dict[str, Any] | None = None,
              *, cache: Any = None, ray_config: RayConfig = RayConfig(),
              progress: Callable[[int, int, str], None] | None = None) -> FeaturizeSummary:
    """Compute feature set ``features`` (with ``feature_params``) of every file in ``paths`` on Ray, into
    ``cache`` (a :class:`~soundsort.cache.FeatureCache`; None: the default one).

    Files already cached are skipped; files that fail are listed with their reason (training then reports
    and skips them as it always does). Local paths only: training reads the same files afterwards.
    """
    from soundsort.cache import FeatureCache
    from soundsort.distributed.actors import FeatureActor
    from soundsort.features.registry import get_featurizer

    require_ray()
    feature_params = dict(feature_params or {})
    cache = cache if cache is not None else FeatureCache()
    featurizer = get_featurizer(features, **feature_params)  # a bad name fails here, before Ray starts
    keys = list(dict.fromkeys(str(p) for p in paths))
    todo = [k for k in keys if not is_cached(featurizer, k, cache)]
    summary = FeaturizeSummary(len(keys), len(keys) - len(todo))
    if not todo or not cache.enabled:
        return summary
    root = Path(cache.root)
    with connected(ray_config.address, num_cpus=ray_config.num_cpus) as ray:
        n_actors = max(1, min(ray_config.num_actors or cluster_cpus(ray), len(todo)))
        ledger = start_ledger(ray, None)  # counts in memory: a featurization has no output folder
        ds = run_pipeline(ray, todo, FeatureActor, {"features": features, "feature_params": feature_params,
                                                    "ledger": ledger}, n_actors, ray_config.files_per_block)
        seen: set[str] = set()
        try:
            for row in ds.iter_rows():
                key = str(row["key"])
                if key in seen:
                    continue
                seen.add(key)
                if row["error"]:
                    summary.failed.append((key, str(row["error"])))
                else:
                    for rel, blob in pickle.loads(row["entries"]).items():
                        with atomic_open(root / rel, "wb") as fh:
                            fh.write(blob)
                    summary.computed += 1
                if progress is not None:
                    progress(len(seen), len(todo), key)
        finally:
            stop_ledger(ray, ledger)
    return summary


def featurize_dataset(roots: Sequence[str | os.PathLike[str]], cfg: Any, *, ray_config: RayConfig = RayConfig(),
                      log: Callable[[str], None] = lambda s: None,
                      progress: Callable[[int, int, str], None] | None = None) -> list[FeaturizeSummary]:
    """Every feature set a training run of ``cfg`` (a :class:`~soundsort.workflows.TrainConfig`) reads, computed
    on Ray into the feature cache, for the files of the dataset it indexes: one summary per feature set.

    Training then finds them all in the cache (augmented copies, when ``cfg.augment`` asks for them, are still
    computed by the training itself).
    """
    from soundsort.dataset.table import LabelsTable
    from soundsort.errors import ConfigError
    from soundsort.workflows import ensemble_method, index_dataset, parse_members

    if not cfg.cache:
        raise ConfigError("--engine ray computes the features into the feature cache: it needs --cache")
    method = ensemble_method(cfg.model)
    specs = parse_members(cfg.members) if method else [(cfg.features, cfg.model)]
    index = index_dataset(roots, group_pattern=cfg.group_pattern, groups_csv=cfg.groups_csv,
                          sources_csv=cfg.sources_csv, jobs=1,
                          labels_table=LabelsTable(**cfg.labels_csv) if cfg.labels_csv else None)
    paths = [str(index.abs_path(it)) for it in index.items]
    out = []
    for features in dict.fromkeys(f for f, _ in specs):
        params = dict(cfg.feature_params) if not method else {}
        summary = featurize(paths, features, params, ray_config=ray_config, progress=progress)
        log(f"ray: {features}: {summary.computed} files featurized on the cluster, {summary.cached} already cached"
            + (f", {len(summary.failed)} failed (training reports them)" if summary.failed else ""))
        out.append(summary)
    return out
