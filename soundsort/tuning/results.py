"""What a study found: one :class:`TrialSummary` per trial, the :class:`StudyResult` of
:func:`~soundsort.tuning.study.run_study`, and ``tuning.json`` plus the report section written beside the model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from soundsort.tuning.space import Config, SearchSpace, fmt_value

if TYPE_CHECKING:
    from soundsort.workflows.training import TrainResult

@dataclass
class TrialSummary:
    """One trial, as the summary shows it."""

    number: int
    state: str  # complete, pruned, failed, running, waiting
    value: float | None  # the mean CV score (complete trials)
    last_value: float | None  # the last running mean reported (pruned trials: where they stopped)
    folds_done: int
    config: Config
    params: dict[str, Any]  # the searched values (Optuna names)
    seconds: float | None
    reason: str = ""  # failed: why; pruned: where
    role: str = ""  # "default" for the baseline trial
    duplicate_of: int | None = None
    searched: dict[str, Any] = field(default_factory=dict)  # searched parameter name → value (no features/model)

    def short_params(self) -> str:
        """``n_mels=96 lr=0.0012`` of the searched parameters (features and model left out)."""
        return " ".join(f"{k}={fmt_value(v)}" for k, v in self.searched.items())


@dataclass
class StudyResult:
    """What :func:`run_study` did and found."""

    study_name: str
    storage: str
    metric: str
    best_trial: int
    best_value: float
    best_params: dict[str, Any]
    best_config: Config
    n_complete: int
    n_pruned: int
    n_failed: int
    n_trials: int  # every trial of the study, this run's and earlier ones
    n_new: int  # trials run by this call
    trials: list[TrialSummary]
    top: list[TrialSummary]
    default_trial: int | None = None
    default_value: float | None = None
    final_cv: float | None = None  # the best configuration's mean CV score in the final training run
    model_dir: Path | None = None
    run_dir: Path | None = None
    report: Path | None = None
    tuning_json: Path | None = None
    train_result: TrainResult | None = field(default=None, repr=False)
    interrupted: bool = False
    seconds: float = 0.0


def _trial_seconds(t: Any) -> float | None:
    if t.datetime_start is None:
        return None
    end = t.datetime_complete
    if end is None:
        return None
    return round((end - t.datetime_start).total_seconds(), 2)


def summarize_trial(space: SearchSpace, t: Any) -> TrialSummary:
    """A :class:`TrialSummary` of an Optuna ``FrozenTrial`` of a study over ``space``."""
    state = t.state.name.lower()
    state = {"fail": "failed"}.get(state, state)
    steps = sorted(t.intermediate_values)
    last = float(t.intermediate_values[steps[-1]]) if steps else None
    reason = str(t.user_attrs.get("fail_reason", "")) if state == "failed" else ""
    if state == "failed" and not reason:
        reason = "interrupted" if t.user_attrs.get("interrupted") else "lost: its process stopped (no reason recorded)"
    if state == "pruned" and steps:
        reason = f"pruned after fold {steps[-1]} (running mean {last:.3f})"
    cfg = t.user_attrs.get("config") or {}
    params = space.decode_params(t.params)
    searched = {}
    for name, value in params.items():
        spec = space.spec_by_name(name)
        if spec is not None and spec.section not in ("features", "model"):
            searched[spec.param] = value
    return TrialSummary(number=t.number, state=state, value=None if t.value is None else float(t.value),
                        last_value=last, folds_done=len(steps), config=cfg, params=params,
                        seconds=_trial_seconds(t), reason=reason, role=str(t.user_attrs.get("role", "")),
                        duplicate_of=t.user_attrs.get("duplicate_of"), searched=searched)


def _trial_doc(s: TrialSummary) -> dict[str, Any]:
    return {"number": s.number, "state": s.state, "value": s.value, "last_value": s.last_value,
            "folds_done": s.folds_done, "seconds": s.seconds, "role": s.role or None, "reason": s.reason or None,
            "duplicate_of": s.duplicate_of, "params": s.params, "config": s.config}


def write_summary(r: StudyResult, space: SearchSpace, data: list[str], random_state: int) -> Path:
    """``tuning.json`` in the run folder, and a section appended to its report."""
    from soundsort.atomic import atomic_open, write_json

    assert r.run_dir is not None
    doc = {
        "study_name": r.study_name, "storage": r.storage, "space_name": space.name, "space_source": space.source,
        "space": space.raw, "data": data, "random_state": random_state, "metric": r.metric, "direction": "maximize",
        "best": {"trial": r.best_trial, "value": r.best_value, "params": r.best_params, "config": r.best_config},
        "final_cv": r.final_cv,
        "default": None if r.default_trial is None else {
            "trial": r.default_trial, "value": r.default_value,
            "improvement": None if r.default_value is None else r.best_value - r.default_value},
        "counts": {"total": r.n_trials, "complete": r.n_complete, "pruned": r.n_pruned, "failed": r.n_failed,
                   "this_run": r.n_new},
        "interrupted": r.interrupted, "seconds": r.seconds,
        "model_dir": str(r.model_dir) if r.model_dir else None,
        "top": [s.number for s in r.top],
        "trials": [_trial_doc(s) for s in r.trials],
    }
    path = r.run_dir / "tuning.json"
    write_json(path, doc)
    if r.report is not None and r.report.is_file():
        lines = ["", "## Hyperparameter search", "",
                 f"Study **{r.study_name}** ({r.storage}), search space `{space.name}`, maximizing mean CV "
                 f"{r.metric}: {r.n_trials} trials ({r.n_complete} complete, {r.n_pruned} pruned, "
                 f"{r.n_failed} failed; {r.n_new} in this run). This model is trial {r.best_trial}: "
                 f"{r.metric} {r.best_value:.3f}"
                 + (f"; the default configuration (trial {r.default_trial}) scored {r.default_value:.3f}"
                    if r.default_value is not None else "") + ". Every trial is in `tuning.json`.", "",
                 f"| rank | trial | {r.metric} | features | model | parameters |", "|---|---|---|---|---|---|"]
        for i, s in enumerate(r.top, start=1):
            lines.append(f"| {i} | {s.number} | {s.value:.3f} | {s.config.get('features')} | "
                         f"{s.config.get('model')} | {s.short_params() or '–'} |")
        lines.append("")
        text = r.report.read_text(encoding="utf-8")
        with atomic_open(r.report, "w", encoding="utf-8") as fh:
            fh.write(text.rstrip("\n") + "\n" + "\n".join(lines) + "\n")
    return path

