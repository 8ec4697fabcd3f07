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


#: at most this many files listed per report section (all are in predictions.csv)
_LISTED = 50


def _misclassified_section(wrong: Sequence[tuple[str, str, str, float, Any]], n: int, *, with_fold: bool) -> list[str]:
    """Markdown lines listing the misclassified files, the most confident mistakes first."""
    if not wrong:
        return [f"## Misclassified files (0 of {n})", "", "None.", ""]
    lines = [f"## Misclassified files ({len(wrong)} of {n})", "",
             "Most confident mistakes first" + (f"; the first {_LISTED} (all are in predictions.csv)"
                                                if len(wrong) > _LISTED else "") + ".", "",
             "| file | true | predicted | p(predicted) |" + (" fold |" if with_fold else ""),
             "|---|---|---|---|" + ("---|" if with_fold else "")]
    for path, t, p, conf, fold in wrong[:_LISTED]:
        lines.append(f"| {path} | {t} | {p} | {conf:.3f} |" + (f" {'' if fold is None else fold} |" if with_fold else ""))
    return lines + [""]


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
    absent = set(metrics.get("absent_classes") or [])
    for name, m in metrics["per_class"].items():
        support = f"{m['support']} (no file: left out of the macro averages)" if name in absent else str(m["support"])
        rows.append(f"| {name} | {m['precision']:.3f} | {m['recall']:.3f} | {m['f1']:.3f} | {support} |")
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
    folds: Sequence[int | None] | None = None,
    warnings: Sequence[str] = (),
    trained_on: Sequence[str] = (),
    model_name: str | None = None,
) -> Path:
    """Write config.json, metrics.json, confusion matrix (PNG + JSON), PR curve (binary), learning curve,
    predictions.csv and report.md into ``run_dir``. Returns the report's path.

    The report gives results first (warnings, scores, the misclassified files, figures) and the exact
    configuration last. ``folds`` (the out-of-fold fold of each of ``paths``) becomes predictions.csv's
    ``fold`` column; ``warnings`` open the report; ``trained_on`` lists files the model was trained on;
    ``model_name`` names the model in plot titles (with the run folder's name). ``leave_source_out`` (from
    :func:`~soundsort.evaluation.crossval.source_cv_summary`) adds the out-of-source scores, pooled and per
    source, next to the grouped cross-validation."""
    run = Path(run_dir)
    who = f"{run.name}" + (f" ({model_name})" if model_name else "")
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
    plots.plot_confusion_matrix(overall["confusion_matrix"], labels, run / "confusion_matrix.png",
                                title=f"Confusion matrix — {who}")
    extra_figures = list(figures)
    figures = ["confusion_matrix.png"]
    curves = {k: v["reliability"] for k, v in (calibration or {}).items() if isinstance(v, dict) and "reliability" in v}
    if curves:
        plots.plot_reliability(curves, run / "reliability.png", title=f"Reliability diagram — {who}")
        figures.append("reliability.png")
    if positive is not None and "pr_auc" in overall:
        curve = pr_curve(y_true, proba[:, positive], positive)
        write_json(run / "pr_curve.json", {k: [round(float(v), 4) for v in vs] for k, vs in curve.items()})
        plots.plot_pr_curve(curve["precision"], curve["recall"], run / "pr_curve.png", pr_auc=overall["pr_auc"],
                            positive=labels[positive], threshold_point=(overall["recall"], overall["precision"]),
                            title=f"Precision-recall curve — {who}")
        figures.append("pr_curve.png")
    if learning:
        plots.plot_learning_curve(learning["sizes"], np.array(learning["train"]), np.array(learning["validation"]),
                                  run / "learning_curve.png", metric=learning["metric"],
                                  title=f"Learning curve — {who}")
        figures.append("learning_curve.png")

    pred = proba.argmax(axis=1)
    if positive is not None and len(labels) == 2:
        pred = np.where(proba[:, positive] >= overall.get("threshold", 0.5), positive, 1 - positive)
    fold_of = list(folds) if folds is not None else [None] * len(paths)
    with atomic_open(run / "predictions.csv", "w", newline="", encoding="utf-8") as fh:
        w = csv.writer(fh)
        w.writerow(["path", "true", "predicted", *([] if folds is None else ["fold"]),
                    *[f"p_{name}" for name in labels]])
        for path, t, p, f, row in zip(paths, y_true, pred, fold_of, proba):
            w.writerow([path, labels[int(t)], labels[int(p)], *([] if folds is None else ["" if f is None else f]),
                        *[f"{v:.4f}" for v in row]])
    wrong = [(path, labels[int(t)], labels[int(p)], float(row[int(p)]), f)
             for path, t, p, f, row in zip(paths, y_true, pred, fold_of, proba) if int(t) != int(p)]
    wrong.sort(key=lambda w_: -w_[3])  # the most confident mistakes first

    lines = [f"# {title}", "", f"Created {_dt.datetime.now().isoformat(timespec='seconds')}. Results first; the "
             "exact configuration is at the end (and in config.json).", ""]
    if warnings:
        lines += ["## Warnings", ""] + [f"- {w_}" for w_ in warnings] + [""]
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
    lines += _misclassified_section(wrong, len(paths), with_fold=folds is not None)
    if trained_on:
        lines += [f"## Files the model was trained on ({len(trained_on)})", "",
                  "Their content is among the model's training files (content hashes in its card): scores on "
                  "them are no test.", ""] + [f"- {p}" for p in trained_on[:_LISTED]]
        lines += ([f"- … and {len(trained_on) - _LISTED} more"] if len(trained_on) > _LISTED else []) + [""]
    figures += extra_figures
    lines += ["## Figures", ""] + [f"![{f}]({f})" for f in figures] + [""]
    if failed:
        lines += ["## Files skipped", ""] + [f"- {r}" for _, r in failed] + [""]
    import json

    lines += ["## Configuration", "", "```json", json.dumps(config, indent=2, default=str), "```", ""]
    report = run / "report.md"
    with atomic_open(report, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines))
    return report
