"""Hyperparameter search: space files, conditional sampling, a tiny study end to end, resuming, pruning, failures."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from sklearn.base import BaseEstimator, ClassifierMixin

optuna = pytest.importorskip("optuna")

from soundsort.errors import ConfigError, ModelError  # noqa: E402
from soundsort.features.registry import get_featurizer  # noqa: E402
from soundsort.models.registry import MODELS, make_model  # noqa: E402
from soundsort.models.io import load_model  # noqa: E402
from soundsort.tuning import load_space, parse_space, run_study, shipped_spaces  # noqa: E402
from soundsort.workflows import TrainConfig  # noqa: E402

_FIELDS = {f.name for f in dataclasses.fields(TrainConfig)}
#: the final training without its slow extras (learning curve, profiling in a fresh process, t-SNE map)
FAST = {k: False for k in ("learning_curve", "profile", "embedding_map", "mlflow") if k in _FIELDS}


class AlwaysNonMusic(ClassifierMixin, BaseEstimator):
    """A deliberately useless model: every segment is non-music (class 1), so F1 of music is 0."""

    def fit(self, X: Any, y: Any) -> AlwaysNonMusic:
        self.classes_ = np.unique(y)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        p = np.zeros((len(X), len(self.classes_)))
        p[:, -1] = 1.0
        return p

    def predict(self, X: Any) -> np.ndarray:
        return np.full(len(X), self.classes_[-1])


MODELS.register("always-non-music", lambda random_state=0, n_jobs=1: AlwaysNonMusic(), "test: predicts non-music")


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from soundsort.examples import make_example_dataset

    return make_example_dataset(tmp_path_factory.mktemp("tune-data"), n_per_class=5, seconds=4.0, seed=3)


BASE: dict[str, Any] = {
    "task": "music",
    "folds": 3,
    "features": {"choice": ["handcrafted", "mfcc"]},
    "feature_params": {"n_mfcc": {"int": [10, 20], "step": 10, "when": {"features": "mfcc"}}},
    "model": {"choice": ["logreg", "svm"]},
    "model_params": {"C_logreg": {"param": "C", "loguniform": [0.01, 10.0], "when": {"model": "logreg"}},
                     "C_svm": {"param": "C", "choice": [1.0, 10.0], "when": {"model": "svm"}}},
    "default": {"features": "mfcc", "model": "logreg"},
}


def _write(tmp: Path, doc: dict, name: str = "space.json") -> Path:
    path = tmp / name
    path.write_text(json.dumps(doc))
    return path


# ------------------------------------------------------------------------------------------ validation


def _with(change: dict | None = None, drop: str | None = None, **sections: Any) -> dict:
    doc = copy.deepcopy(BASE)
    if drop:
        doc.pop(drop)
    doc.update(change or {})
    for sec, entries in sections.items():
        doc[sec] = {**doc.get(sec, {}), **entries}
    return doc


@pytest.mark.parametrize("doc, expected", [
    (_with(drop="task"), "task: missing"),
    (_with({"task": "musik"}), "task: unknown task 'musik' (did you mean 'music'?); known: music, genre"),
    (_with({"foldz": 3}), "foldz: unknown key"),
    (_with({"folds": 1}), "folds: must be an integer >= 2"),
    (_with({"metric": "f1_macro_typo"}), "metric: 'f1_macro_typo' is not one of"),
    (_with({"task": "genre", "metric": "pr_auc"}), "metric: 'pr_auc' is not one of"),
    (_with({"model": {"choice": ["logreg", "nonsense"]}}), "model: unknown model 'nonsense'"),
    (_with({"features": {"choice": ["mfcc", "mfcc"]}}), "features.choice: has the same value twice"),
    (_with({"features": {"int": [1, 2]}}), "features: must be a name or"),
    (_with(model_params={"lr": {"loguniform": [0, 1]}}), "model_params.lr.loguniform: needs 0 < low"),
    (_with(model_params={"lr": {"uniform": [2, 1]}}), "model_params.lr.uniform: needs low < high"),
    (_with(model_params={"n": {"int": [1.5, 3]}}), "model_params.n.int: bounds must be integers"),
    (_with(model_params={"n": {"int": [64, 128], "step": 30}}), "model_params.n.step: high - low (64)"),
    (_with(model_params={"n": {"choice": []}}), "model_params.n.choice: must be a non-empty list"),
    (_with(model_params={"n": {"uniform": [0, 1], "log": True}}), "model_params.n.log: unknown key"),
    (_with(model_params={"n": {"choice": [1], "uniform": [0, 1]}}), "model_params.n: has both"),
    (_with(model_params={"n": {"low": 1}}), "model_params.n: an object needs exactly one of"),
    (_with(model_params={"n": {"value": 1, "when": {"bogus": 1}}}), "model_params.n.when.bogus: refers to no"),
    (_with(feature_params={"a": {"value": 1, "when": {"b": 1}}, "b": 1}), "feature_params.a.when.b: refers to a "
                                                                           "parameter decided later"),
    (_with(model_params={"n": {"value": 1, "when": {"features": "mell"}}}), "'mell' is never a value of features"),
    (_with(model_params={"C2": {"param": "C", "value": 1.0}}), "model_params.C2: sets 'C' like model_params.C_logreg"),
    (_with({"default": {"model": "logreg"}}), "default.features: missing"),
    (_with({"default": {"features": "mfcc", "model": "logreg", "modle_params": {}}}), "default.modle_params"),
    (_with({"train": {"bogus": 1}}), "train.bogus: not a training option"),
    (_with({"train": {"folds": 2}}), "train.folds: not a training option"),
    (_with({"train": {"random_state": 2}}), "train.random_state: not a training option"),
    (_with({"train": {"seed": 2}}), "train.seed: not a training option"),  # its name before the rename
    (_with({"pruner": {"reduction_factor": 1}}), "pruner.reduction_factor: must be an integer >= 2"),
])
def test_space_errors_are_one_line_and_name_the_key(doc: dict, expected: str) -> None:
    with pytest.raises(ConfigError) as err:
        parse_space(doc, source="my-space.json")
    msg = str(err.value)
    assert "\n" not in msg and msg.startswith("my-space.json: ")
    assert expected in msg, msg


def test_space_files(tmp_path: Path) -> None:
    bad = tmp_path / "bad.json"
    bad.write_text('{"task": "music",\n "folds": 3,,}')
    with pytest.raises(ConfigError, match=r"bad.json: not valid JSON \(line 2"):
        load_space(bad)
    dup = tmp_path / "dup.json"
    dup.write_text('{"task": "music", "task": "genre"}')
    with pytest.raises(ConfigError, match="duplicate key 'task'"):
        load_space(dup)
    with pytest.raises(ConfigError, match="neither a file nor a shipped space .*music-classical"):
        load_space("no-such-space")
    assert load_space(_write(tmp_path, BASE)).name == "space"


def test_shipped_spaces_are_valid_and_build() -> None:
    """Every shipped space parses, and its sampled configurations build featurizers and models (no fitting)."""
    names = shipped_spaces()
    assert {"genre-cnn", "genre-embeddings", "music-classical", "music-embeddings"} <= set(names)
    for name in names:
        space = load_space(name, check_names=False)
        assert space.description and space.default is not None
        study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=0))
        configs = [space.fixed_config(space.default)]
        study.optimize(lambda t: configs.append(space.sample(t)) or 0.0, n_trials=25)
        for cfg in configs:
            get_featurizer(cfg["features"], **cfg["feature_params"])  # embeddings load their backbone lazily
            if cfg["model"] in MODELS:
                make_model(cfg["model"], **cfg["model_params"])


def test_conditional_params_only_when_their_condition_holds() -> None:
    doc = _with(feature_params={"deltas": {"choice": [False, True], "when": {"n_mfcc": 20}},
                                "stats": {"choice": [["mean", "std"], ["mean", "std", "skew"]]}},
                model_params={"gamma": {"choice": ["scale", 0.01], "when": {"model": "svm"}}})
    space = parse_space(doc)
    study = optuna.create_study(sampler=optuna.samplers.RandomSampler(seed=1))
    configs: list[dict] = []
    study.optimize(lambda t: configs.append(space.sample(t)) or 0.0, n_trials=40)
    assert {c["features"] for c in configs} == {"handcrafted", "mfcc"} and {c["model"] for c in configs} == {
        "logreg", "svm"}
    for cfg, trial in zip(configs, study.trials):
        fp, mp = cfg["feature_params"], cfg["model_params"]
        assert ("n_mfcc" in fp) == (cfg["features"] == "mfcc")
        assert ("deltas" in fp) == (fp.get("n_mfcc") == 20)
        assert fp["stats"] in (["mean", "std"], ["mean", "std", "skew"])  # list choices come back as lists
        assert "C" in mp and ("gamma" in mp) == (cfg["model"] == "svm")
        if cfg["model"] == "svm":
            assert mp["C"] in (1.0, 10.0) and "model_params.C_svm" in trial.params
        else:
            assert 0.01 <= mp["C"] <= 10.0 and "model_params.C_svm" not in trial.params
        assert ("feature_params.n_mfcc" in trial.params) == (cfg["features"] == "mfcc")


# ---------------------------------------------------------------------------------------------- studies


def test_tiny_study_saves_the_best_trial_and_resumes(data: Path, tmp_path: Path) -> None:
    space = _write(tmp_path, BASE)
    runs = tmp_path / "runs"
    lines: list[str] = []
    logged: list[str] = []
    res = run_study([data], space, n_trials=4, random_state=0, runs_dir=runs, train_options=FAST,
                    progress=lambda d, t, line: lines.append(line), log=logged.append)
    assert res.n_trials == res.n_new == 4 and res.n_complete + res.n_pruned + res.n_failed == 4
    assert len(lines) == 4 and lines[0].startswith("trial 0:") and "(default)" in lines[0]
    assert res.default_trial == 0 and res.default_value is not None
    assert res.trials[0].config == {"features": "mfcc", "feature_params": {}, "model": "logreg", "model_params": {}}
    assert (runs / "tune" / "space.db").is_file()
    # one index, and one feature table per distinct feature configuration
    assert sum(line.startswith("indexed ") for line in logged) == 1
    distinct = {json.dumps(get_featurizer(t.config["features"], **t.config["feature_params"]).params(),
                           sort_keys=True) for t in res.trials if t.state != "failed"}
    assert sum(line.startswith("features ") and " files, " in line for line in logged) == len(distinct)
    best = res.best_config
    assert res.best_value == max(t.value for t in res.trials if t.value is not None)

    # the best trial is a normal model: loadable, its card holds the best trial's parameters
    assert res.model_dir == runs / "tune" / "space-model"
    estimator, card = load_model(res.model_dir)
    assert estimator is not None and card.task == "music"
    assert card.featurizer == best["features"] and card.model == best["model"]
    assert card.model_params == best["model_params"]
    expected = json.loads(json.dumps(get_featurizer(best["features"], **best["feature_params"]).params()))
    assert card.featurizer_params == expected
    assert "soundsort tune" in card.notes
    assert res.final_cv == pytest.approx(res.best_value)  # same splits, same random_state: the same score
    doc = json.loads(res.tuning_json.read_text())
    assert res.tuning_json.parent == res.run_dir and (res.run_dir / "report.md").is_file()
    assert doc["best"]["trial"] == res.best_trial and doc["best"]["config"] == best
    assert doc["counts"]["total"] == 4 and len(doc["trials"]) == 4 and doc["default"]["trial"] == 0
    assert doc["random_state"] == 0
    assert "## Hyperparameter search" in (res.run_dir / "report.md").read_text()

    # the same command again continues the study (same default storage) instead of starting over
    again = run_study([data], space, n_trials=2, random_state=0, runs_dir=runs, train_options=FAST)
    assert again.n_trials == 6 and again.n_new == 2
    assert [t.number for t in again.trials] == list(range(6))
    assert sum(t.role == "default" for t in again.trials) == 1  # the default is evaluated once
    assert [t.config for t in again.trials[:4]] == [t.config for t in res.trials]
    assert again.best_value >= res.best_value

    # a study begun before the rename recorded its random state as "seed": it continues, and only with that value
    study = optuna.load_study(study_name="space", storage=f"sqlite:///{(runs / 'tune' / 'space.db').resolve()}")
    recorded = dict(study.user_attrs["soundsort"])
    recorded["seed"] = recorded.pop("random_state")
    study.set_user_attr("soundsort", recorded)
    old = run_study([data], space, n_trials=1, random_state=0, runs_dir=runs, train_options=FAST)
    assert old.n_trials == 7 and old.n_new == 1
    with pytest.raises(ConfigError, match=r"was started with another random_state \(0\)"):
        run_study([data], space, n_trials=1, random_state=1, runs_dir=runs, train_options=FAST)

    # a study cannot be continued with another space, and an explicit model folder is not overwritten
    changed = _write(tmp_path, _with({"folds": 4}))
    with pytest.raises(ConfigError, match="was started with another search space"):
        run_study([data], changed, n_trials=1, runs_dir=runs, train_options=FAST)
    with pytest.raises(ModelError, match="model already exists"):
        run_study([data], space, n_trials=1, runs_dir=runs, model_dir=res.model_dir, train_options=FAST)


def test_pruner_stops_a_bad_trial_and_failed_trials_are_recorded(data: Path, tmp_path: Path) -> None:
    doc = {
        "task": "music", "folds": 3,
        "features": "mfcc",
        "model": {"choice": ["always-non-music", "svm"]},
        "model_params": {"bogus": {"value": 1, "when": {"model": "svm"}}},  # svm takes no 'bogus': trial fails
        "default": {"model": "logreg"},
        "pruner": {"reduction_factor": 4},  # 3 folds → one Hyperband bracket, compared after fold 1
    }
    res = run_study([data], _write(tmp_path, doc), n_trials=5, random_state=0, runs_dir=tmp_path / "runs",
                    train_options=FAST)
    by_state = {s: [t for t in res.trials if t.state == s] for s in ("complete", "pruned", "failed")}
    assert [t.number for t in by_state["complete"]] == [0] and res.best_trial == 0
    assert res.trials[0].config["model"] == "logreg" and res.best_value > 0.5
    assert by_state["pruned"] and all(t.config["model"] == "always-non-music" for t in by_state["pruned"])
    for t in by_state["pruned"]:
        assert t.folds_done == 1 and t.last_value == 0.0 and "pruned after fold 1" in t.reason
    assert by_state["failed"] and all(t.config["model"] == "svm" and "bogus" in t.reason
                                      for t in by_state["failed"])
    assert res.n_pruned == len(by_state["pruned"]) and res.n_failed == len(by_state["failed"])
    _, card = load_model(res.model_dir)
    assert card.model == "logreg"


def test_no_completed_trial_is_a_clear_error(data: Path, tmp_path: Path) -> None:
    doc = {"task": "music", "folds": 3, "features": "mfcc", "model": "logreg", "model_params": {"bogus": 1}}
    with pytest.raises(ConfigError, match=r"no trial of study 'space' completed \(0 pruned, 2 failed; e.g. .*bogus"):
        run_study([data], _write(tmp_path, doc), n_trials=2, runs_dir=tmp_path / "runs", train_options=FAST)


def test_cli_command(data: Path, tmp_path: Path) -> None:
    import typer
    from typer.testing import CliRunner

    from soundsort.cli.tune import tune

    app = typer.Typer()
    app.command("tune")(tune)
    app.command("other")(lambda: None)  # two commands: "tune" is a sub-command, as in soundsort's app
    doc = {"task": "music", "folds": 3, "features": "mfcc", "model": "logreg", "train": FAST,
           "model_params": {"C": {"choice": [0.1, 1.0]}}}
    out = tmp_path / "model"
    result = CliRunner().invoke(app, ["tune", str(data), "--space", str(_write(tmp_path, doc)), "--trials", "2",
                                      "--runs", str(tmp_path / "runs"), "--output", str(out), "-j", "1"])
    assert result.exit_code == 0, result.output
    assert "best trial" in result.output and "top 2 of 2 complete trials" in result.output
    assert (out / "model.json").is_file()
    # with --mlflow the best run goes to the local MLflow store, tuning summary included
    pytest.importorskip("mlflow")
    result = CliRunner().invoke(app, ["tune", str(data), "--space", str(_write(tmp_path, doc)), "--trials", "1",
                                      "--runs", str(tmp_path / "runs"), "--output", str(out), "--overwrite",
                                      "-j", "1", "--mlflow"])
    assert result.exit_code == 0, result.output
    from mlflow.tracking import MlflowClient

    client = MlflowClient(f"sqlite:///{(tmp_path / 'runs').absolute() / 'mlflow.db'}")
    (run,) = client.search_runs([client.get_experiment_by_name("soundsort").experiment_id])
    assert run.data.metrics["trials_complete"] == 3 and "best_f1" in run.data.metrics
    assert "tuning.json" in {a.path for a in client.list_artifacts(run.info.run_id)}
    result = CliRunner().invoke(app, ["tune", str(data), "--space", "nope", "--runs", str(tmp_path / "runs")])
    assert isinstance(result.exception, ConfigError) and "shipped space" in str(result.exception)
