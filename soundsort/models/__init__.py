"""Heads: scikit-learn style classifiers on segment features, their ensembles and safe persistence.

The package imports nothing by itself: :mod:`soundsort.models.classical` (the model registry) registers every
built-in model when it is imported, and :mod:`soundsort.models.io` loads saved models, the bundled linear
heads without scikit-learn (:mod:`soundsort.models.linear_head`).
"""
