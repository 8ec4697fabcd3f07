"""Heads: scikit-learn style classifiers on segment features, their ensembles and safe persistence.

Importing this package registers every built-in model (classical pipelines and the PyTorch heads).
"""

import soundsort.models.classical  # noqa: F401  (registers logreg, linear-svm, svm, random-forest, xgboost)
import soundsort.models.torch_heads  # noqa: F401  (registers mlp, attention)
import soundsort.models.cnn  # noqa: F401  (registers cnn, yamnet-finetune, cnn-backbone)
import soundsort.models.zeroshot  # noqa: F401  (registers score-threshold)
