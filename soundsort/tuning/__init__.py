"""Hyperparameter search: an Optuna study over feature sets, their parameters, models and theirs.

A *search space* is a JSON file (shipped ones live in ``soundsort/assets/tune/``; see
:func:`shipped_spaces`)::

    {
      "description": "free text",
      "task": "genre",                                  # required: "music" (binary) or "genre" (any name)
      "folds": 5, "repeats": 1,                         # grouped, stratified CV of every trial
      "metric": "f1_macro",                             # default: f1 (of music) for music, f1_macro otherwise
      "group_pattern": "^(\\d+)-",                      # as `soundsort train --group-pattern`
      "features": {"choice": ["mel", "stft", "multi_stft"]},
      "feature_params": {
        "n_mels": {"int": [64, 128], "step": 32, "when": {"features": "mel"}},
        "n_fft": {"choice": [1024, 2048], "when": {"features": ["mel", "stft"]}},
        "hop_length": {"choice": [256, 512]},
        "n_ffts": {"choice": [[256, 512, 1024], [512, 1024, 2048]], "when": {"features": "multi_stft"}}
      },
      "model": "cnn",
      "model_params": {
        "lr": {"loguniform": [1e-4, 1e-2]},
        "dropout": {"uniform": [0.1, 0.6]},
        "max_epochs": 40
      },
      "default": {"features": "mel", "model": "cnn", "model_params": {"lr": 0.001}},
      "pruner": {"min_resource": 1, "reduction_factor": 3},
      "train": {"learning_curve": false}
    }

Every parameter (``features``, ``model`` and each entry of ``feature_params`` / ``model_params``) is one of

* a fixed value: any JSON value that is not an object (``40``, ``"mean"``, ``[256, 128]``), or
  ``{"value": ANY}`` (needed for an object value, or to give a fixed value a ``when``);
* ``{"choice": [v1, v2, ...]}``: one of the values (numbers, strings, booleans, null, lists, objects);
* ``{"int": [low, high]}``, optional ``"step"`` (``high - low`` a multiple of it) or ``"log": true``;
* ``{"uniform": [low, high]}``, optional ``"step"``;
* ``{"loguniform": [low, high]}`` with ``0 < low < high``.

``"when": {REF: VALUE or [VALUES...]}`` makes a parameter conditional: it is sampled (and passed on) only
when every REF currently holds VALUE (or one of VALUES; to compare with a list value write ``[[...]]``).
REF is ``features``, ``model``, ``feature_params.NAME``, ``model_params.NAME``, or a bare ``NAME`` of the
same section; it must be decided earlier (``features`` and ``model`` first, then ``feature_params`` and
``model_params`` in file order); a parameter that was not set never matches. ``"param": NAME`` lets
several entries (different keys, exclusive ``when``\\ s) set the same parameter with different ranges,
e.g. ``C`` of logreg and of svm. Without a ``when``, a parameter is passed whatever the feature set or
model; a combination a feature set or model refuses makes that trial *failed* (with its reason), and the
study goes on.

Every entry is passed under its own name to :func:`~soundsort.features.registry.get_featurizer` or
:func:`~soundsort.models.registry.make_model`: a new feature set or model (e.g. ``cnn``) is searched as
soon as it is registered, with the parameter names its factory takes.

``default`` is the baseline configuration (``features``, ``model`` — required when the space searches
them — and any ``feature_params`` / ``model_params``; unnamed parameters keep the feature set's and model's
own defaults, the space's fixed values apply): it is evaluated verbatim as trial 0 of a new study, and the
summary compares it with the best trial. ``pruner``: the Hyperband pruner's ``min_resource`` (default 1)
and ``reduction_factor`` (default 3; 2 with 3 folds or fewer), the resource being CV folds done, or
``false`` for none; a trial is never pruned after its last fold. ``train``: extra
:class:`~soundsort.workflows.TrainConfig` options for the final training of the best trial
(``learning_curve``, ``calibration``, ...).

:func:`run_study` runs the study: every trial is scored by grouped CV at the file level
(:func:`~soundsort.evaluation.crossval.cross_validate`: the same splits as ``soundsort train`` with the same
``random_state``); the running mean is reported after each fold so Hyperband can prune weak trials early.
Storage defaults to ``RUNS/tune/STUDY.db`` (SQLite), so running again continues the study (``n_trials``
more trials; TPE learns from the earlier ones). A configuration already scored in the study is not fitted
again. Feature tables are built once per distinct feature configuration (and come from the on-disk feature
cache after that). The best trial is then trained with
:func:`soundsort.workflows.train` exactly as ``soundsort train`` would, and ``tuning.json`` (study summary,
every trial) is written into its run folder.

The package: :mod:`~soundsort.tuning.space` (the search-space model), :mod:`~soundsort.tuning.parse`
(reading and validating space files), :mod:`~soundsort.tuning.study` (the Optuna runner) and
:mod:`~soundsort.tuning.results` (trial summaries, ``tuning.json``). optuna is imported lazily: importing this
package works without it.
"""

from __future__ import annotations

from soundsort.tuning.parse import SPACES_DIR, load_space, parse_space, shipped_spaces, space_path
from soundsort.tuning.results import StudyResult, TrialSummary, summarize_trial
from soundsort.tuning.space import ParamSpec, SearchSpace
from soundsort.tuning.study import default_storage, run_study

__all__ = [
    "SPACES_DIR", "ParamSpec", "SearchSpace", "StudyResult", "TrialSummary", "default_storage", "load_space",
    "parse_space", "run_study", "shipped_spaces", "space_path", "summarize_trial",
]
