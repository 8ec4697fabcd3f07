"""Optional experiment tracking with MLflow.

Every train / evaluate / tune run writes its run folder regardless; with tracking on, its parameters,
metrics and artifacts (the report, confusion matrix, PR curve, learning curve, reliability diagram, ...)
also go to MLflow: by default a local store in the runs folder (``sqlite:///<runs>/mlflow.db``, artifacts in
``<runs>/mlartifacts``), or any tracking server named by the usual ``MLFLOW_TRACKING_URI``.

Tracking is on when asked (``--mlflow``) or when ``MLFLOW_TRACKING_URI`` is set; MLflow itself is an
optional extra (``pip install 'soundsort[mlflow]'``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from soundsort.errors import ConfigError

EXPERIMENT = "soundsort"


def tracking_wanted(flag: bool | None) -> bool:
    """``--mlflow`` / ``--no-mlflow`` when given, else on exactly when ``MLFLOW_TRACKING_URI`` is set."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI")) if flag is None else flag


def _flatten(prefix: str, obj: Any, out: dict[str, Any]) -> None:
    if isinstance(obj, Mapping):
        for k, v in obj.items():
            _flatten(f"{prefix}.{k}" if prefix else str(k), v, out)
    elif isinstance(obj, (list, tuple)) and len(obj) <= 10 and all(not isinstance(v, (dict, list)) for v in obj):
        out[prefix] = ",".join(map(str, obj))
    elif not isinstance(obj, (list, tuple)):
        out[prefix] = obj


def log_run(run_dir: str | Path, *, name: str, params: Mapping[str, Any], metrics: Mapping[str, float],
            runs_dir: str | Path, tags: Mapping[str, str] | None = None) -> str:
    """Log one run (params, numeric metrics, every file of ``run_dir`` as artifacts); returns the run id."""
    try:
        import mlflow
    except ImportError:
        raise ConfigError("MLflow tracking needs mlflow: pip install 'soundsort[mlflow]' (or mlflow-skinny)") from None
    runs_dir = Path(runs_dir).absolute()
    external = os.environ.get("MLFLOW_TRACKING_URI")  # read first: set_tracking_uri sets this variable itself
    mlflow.set_tracking_uri(external or f"sqlite:///{runs_dir / 'mlflow.db'}")
    if mlflow.get_experiment_by_name(EXPERIMENT) is None:
        artifacts = None if external else (runs_dir / "mlartifacts").as_uri()
        mlflow.create_experiment(EXPERIMENT, artifact_location=artifacts)
    mlflow.set_experiment(EXPERIMENT)
    flat: dict[str, Any] = {}
    _flatten("", params, flat)
    clean_params = {k[:250]: str(v)[:500] for k, v in flat.items()}
    clean_metrics = {k: float(v) for k, v in metrics.items() if isinstance(v, (int, float))}
    try:
        with mlflow.start_run(run_name=name, tags=dict(tags or {})) as run:
            if clean_params:
                mlflow.log_params(clean_params)
            if clean_metrics:
                mlflow.log_metrics(clean_metrics)
            mlflow.log_artifacts(str(run_dir))
            return run.info.run_id
    finally:  # leave the process's environment as it was
        if external is None:
            os.environ.pop("MLFLOW_TRACKING_URI", None)


def summary_metrics(cv_summary: Mapping[str, Mapping[str, float]] | None, overall: Mapping[str, Any] | None
                    ) -> dict[str, float]:
    """Scalar metrics for tracking: ``cv_<metric>_mean/std`` and ``<metric>`` of the overall scores."""
    out: dict[str, float] = {}
    for k, s in (cv_summary or {}).items():
        out[f"cv_{k}_mean"] = s["mean"]
        out[f"cv_{k}_std"] = s["std"]
    for k, v in (overall or {}).items():
        if isinstance(v, (int, float)) and not isinstance(v, bool):
            out[k] = v
    return out
