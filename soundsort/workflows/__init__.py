"""The jobs behind ``soundsort index``, ``train`` and ``evaluate``: typed configuration in, plain results out;
the CLI only parses options and prints.

- :mod:`~soundsort.workflows.config`: :class:`TrainConfig` and the ensemble part of it;
- :mod:`~soundsort.workflows.data`: index the dataset roots, featurize them for a task (:func:`prepare`), augment;
- :mod:`~soundsort.workflows.training`: :func:`train`, in steps, returning a :class:`TrainResult`;
- :mod:`~soundsort.workflows.evaluating`: :func:`evaluate` a saved model on labelled data;
- :mod:`~soundsort.workflows.records`: training-file hashes, calibration summaries, tracking.

Predicting with a saved model is :mod:`soundsort.inference.predict` (a layer below: it imports no training code).
"""

from soundsort.workflows.config import CV_METHODS, TrainConfig, ensemble_method, parse_members
from soundsort.workflows.data import Prepared, Progress, augmented_for, index_dataset, label_mapping, prepare
from soundsort.workflows.evaluating import evaluate
from soundsort.workflows.records import HASH_DIGITS
from soundsort.workflows.training import TrainResult, train

__all__ = ["CV_METHODS", "HASH_DIGITS", "Prepared", "Progress", "TrainConfig", "TrainResult", "augmented_for",
           "ensemble_method", "evaluate", "index_dataset", "label_mapping", "parse_members", "prepare", "train"]
