"""A run folder: the exact configuration, metrics as JSON, plots as PNG, and a readable Markdown report."""

from __future__ import annotations

import csv
import datetime as _dt
import re
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.atomic import atomic_open, write_json
from soundsort.evaluation import plots
from soundsort.evaluation.metrics import pr_curve


def new_run_dir(base: str | Path, name: str) -> Path:
    """A fresh folder ``base/YYYYmmdd-HHMMSS-name`` (suffixed when it exists: nothing is overwritten)."""
    stamp = _dt.datetime.now().strftime("%Y%m%d-%H%M%S")
    safe = re.sub(r"[^A-Za-z0-9_.-]+", "-", name).strip("-") or "run"
    path = Path(base) / f"{stamp}-{safe}"
    i = 1
    while path.exists():
        path = Path(base) / f"{stamp}-{safe}-{i}"
        i += 1
    path.mkdir(parents=True)
    return path


def _fmt(stat: dict[str, float] | float | None) -> str:
    if stat is None:
        return "–"
    if isinstance(stat, dict):
        return f"{stat['mean']:.3f} ± {stat['std']:.3f}" if stat.get("n", 1) > 1 else f"{stat['mean']:.3f}"
    return f"{stat:.3f}"


def per_class_table(metrics: dict[str, Any]) -> str:
    rows = ["| class | precision | recall | F1 | support |", "|---|---|---|---|---|"]
    for name, m in metrics["per_class"].items():
        rows.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {m['support']} |")
    return "\n".join(rows)


def _share(value: float | None) -> str:
    return "–" if value is None else f"{value:.3f}"


def source_section(lso: dict[str, Any], head: Sequence[str], *, binary: bool) -> list[str]:
    """Markdown lines of the leave-source-out results: pooled scores, a per-source table, untested sources."""
    pooled = lso["pooled"]
    lines = [f"## Leave-source-out cross-validation ({lso['tested']} of {lso['sources']} sources, file level)", "",
             "Each fold tests on one whole data source and trains on the others (files sharing a group with the "
             "test source are left out of training), so these are scores on audio from a source the model "
             "never saw."
             + (f" Decisions at threshold {lso['threshold']:.2f}." if binary and lso.get("threshold") is not None
                else ""), "",
             f"Pooled out-of-source ({pooled['n']} files, all held-out predictions together):", "",
             "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
             "| " + " | ".join(_fmt(pooled.get(h)) for h in head) + " |", ""]
    if binary:
        lines += ["| source | files | trained on | accuracy | music files | music recall | non-music files "
                  "| non-music called music |", "|---|---|---|---|---|---|---|---|"]
    else:
        lines += ["| source | files | trained on | accuracy | labels not seen in training |", "|---|---|---|---|---|"]
    untested = []
    for name, e in lso["per_source"].items():
        if not e["tested"]:
            untested.append(f"- {name} ({e['files']} files): not tested: {e['reason']}")
            continue
        row = [name, str(e["files"]), str(e["train_files"]), _share(e["accuracy"])]
        if binary:
            row += [str(e["music_files"]), _share(e["music_recall"]), str(e["non_music_files"]),
                    _share(e["non_music_called_music"])]
        else:
            row += [", ".join(e["unseen_labels"]) or "–"]
        lines.append("| " + " | ".join(row) + " |")
    lines += [""]
    if untested:
        lines += untested + [""]
    if lso.get("members"):
        lines += ["### Ensemble members, pooled out-of-source (same splits)", "",
                  "| member | " + " | ".join(head) + " |", "|---|" + "---|" * len(head)]
        lines += [f"| {name} | " + " | ".join(_fmt(m.get(h)) for h in head) + " |"
                  for name, m in lso["members"].items()]
        lines += [""]
    return lines


def write_evaluation(
    run_dir: str | Path,
    *,
    title: str,
    config: dict[str, Any],
    overall: dict[str, Any],
    y_true: np.ndarray,
    proba: np.ndarray,
    labels: Sequence[str],
    paths: Sequence[str],
    positive: int | None = None,
    cv_summary: dict[str, dict[str, float]] | None = None,
    cv_folds: list[dict[str, Any]] | None = None,
    learning: dict[str, Any] | None = None,
    timing: dict[str, Any] | None = None,
    failed: Sequence[tuple[str, str]] = (),
    members: dict[str, dict[str, dict[str, float]]] | None = None,
    calibration: dict[str, Any] | None = None,
    operating: dict[str, Any] | None = None,
    figures: Sequence[str] = (),
    leave_source_out: dict[str, Any] | None = None,
) -> Path:
    """Write config.json, metrics.json, confusion matrix (PNG + JSON), PR curve (binary), learning curve,
    predictions.csv and report.md into ``run_dir``. Returns the report's path.

    ``leave_source_out`` (from :func:`~soundsort.evaluation.crossval.source_cv_summary`) adds the
    out-of-source scores, pooled and per source, next to the grouped cross-validation."""
    run = Path(run_dir)
    run.mkdir(parents=True, exist_ok=True)
    write_json(run / "config.json", config)
    metrics_doc: dict[str, Any] = {"overall": overall}
    if cv_summary is not None:
        metrics_doc["cv_summary"] = cv_summary
    if cv_folds is not None:
        metrics_doc["cv_folds"] = [{k: v for k, v in f.items() if k not in ("per_class",)} for f in cv_folds]
    if timing:
        metrics_doc["timing"] = timing
    if members:
        metrics_doc["members"] = members
    if calibration:
        metrics_doc["calibration"] = calibration
    if operating:
        metrics_doc["operating_point"] = operating
    if leave_source_out:
        metrics_doc["leave_source_out"] = leave_source_out
    if learning:
        metrics_doc["learning_curve"] = learning
    metrics_doc["failed_files"] = [{"path": p, "reason": r} for p, r in failed]
    write_json(run / "metrics.json", metrics_doc)

    write_json(run / "confusion_matrix.json", {"labels": list(labels), "matrix": overall["confusion_matrix"]})
    plots.plot_confusion_matrix(overall["confusion_matrix"], labels, run / "confusion_matrix.png")
    extra_figures = list(figures)
    figures = ["confusion_matrix.png"]
    curves = {k: v["reliability"] for k, v in (calibration or {}).items() if isinstance(v, dict) and "reliability" in v}
    if curves:
        plots.plot_reliability(curves, run / "reliability.png")
        figures.append("reliability.png")
    if positive is not None and "pr_auc" in overall:
        curve = pr_curve(y_true, proba[:, positive], positive)
        write_json(run / "pr_curve.json", curve)
        plots.plot_pr_curve(curve["precision"], curve["recall"], run / "pr_curve.png", pr_auc=overall["pr_auc"],
                            positive=labels[positive], threshold_point=(overall["recall"], overall["precision"]))
        figures.append("pr_curve.png")
    if learning:
        plots.plot_learning_curve(learning["sizes"], np.array(learning["train"]), np.array(learning["validation"]),
                                  run / "learning_curve.png", metric=learning["metric"])
        figures.append("learning_curve.png")

    with atomic_open(run / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "true", "predicted", *[f"p_{name}" for name in labels]])
        pred = proba.argmax(axis=1)
        if positive is not None and len(labels) == 2:
            pred = np.where(proba[:, positive] >= overall.get("threshold", 0.5), positive, 1 - positive)
        for path, t, p, row in zip(paths, y_true, pred, proba):
            w.writerow([path, labels[int(t)], labels[int(p)], *[f"{v:.4f}" for v in row]])

    lines = [f"# {title}", "", f"Created {_dt.datetime.now().isoformat(timespec='seconds')}.", ""]
    lines += ["## Configuration", "", "```json"]
    import json

    lines += [json.dumps(config, indent=2, default=str), "```", ""]
    head = ["accuracy", "precision", "recall", "f1", "pr_auc"] if positive is not None else \
        ["accuracy", "precision_macro", "recall_macro", "f1_macro"]
    if positive is not None:
        head += ["f1_macro"]
    if cv_summary is not None:
        lines += [f"## Cross-validation ({len(cv_folds or [])} folds, file level, mean ± std)", "",
                  "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
                  "| " + " | ".join(_fmt(cv_summary.get(h)) for h in head) + " |", ""]
    if members:
        lines += ["### Ensemble members (same splits)", "", "| member | " + " | ".join(head) + " |",
                  "|---|" + "---|" * len(head)]
        lines += [f"| {name} | " + " | ".join(_fmt(summ.get(h)) for h in head) + " |" for name, summ in members.items()]
        lines += [""]
    if leave_source_out:
        lines += source_section(leave_source_out, head, binary=positive is not None)
    lines += [f"## Overall ({overall['n']} files{', out-of-fold' if cv_summary is not None else ''})", "",
              "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
              "| " + " | ".join(_fmt(overall.get(h)) for h in head) + " |", "",
              "### Per class", "", per_class_table(overall), ""]
    if positive is not None:
        lines += [f"Positive class: **{labels[positive]}**, threshold {overall.get('threshold', 0.5):.2f}.", ""]
    if operating:
        lines += ["## Operating point", "",
                  f"Threshold **{operating['threshold']:.3f}** on the {labels[positive]} probability, chosen by "
                  f"{operating['rule']} on the out-of-fold predictions: precision {operating['precision']:.3f}, "
                  f"recall {operating['recall']:.3f}. Saved with the model; `classify` and `predict` use it.", ""]
    if curves:
        lines += ["## Calibration", "", "| probabilities | Brier score | expected calibration error |", "|---|---|---|"]
        for k, v in calibration.items():
            if isinstance(v, dict) and "brier" in v:
                lines.append(f"| {k} | {v['brier']:.4f} | {v['ece']:.4f} |")
        if calibration.get("method"):
            lines += ["", f"Calibration: {calibration['method']} fitted on a held-out quarter of each training "
                          "split (grouped by recording)."]
        lines += [""]
    if timing:
        inference = timing.get("inference")
        lines += ["## Timing", ""] + [f"- {k}: {v}" for k, v in timing.items() if k != "inference"] + [""]
        if isinstance(inference, dict) and "error" not in inference:
            lines += ["## Inference cost (this model, end to end from the file, fresh process)", "",
                      "| files | audio (s) | seconds per second of audio | × real time | model load (s) | peak memory |",
                      "|---|---|---|---|---|---|",
                      f"| {inference['files']} | {inference['audio_seconds']} | {inference['seconds_per_audio_second']} "
                      f"| {inference['realtime_factor']} | {inference['load_seconds']} | "
                      f"{inference['peak_rss_mib']} MiB |", ""]
        elif isinstance(inference, dict):
            lines += [f"Inference profiling failed: {inference['error']}", ""]
    figures += extra_figures
    lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    if failed:
        lines += ["## Files skipped", ""] + [f"- {r}" for _, r in failed] + [""]
    report = run / "report.md"
    with atomic_open(report, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return report
