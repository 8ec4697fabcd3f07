"""soundsort's PyTorch estimators, CPU-only, with scikit-learn's conventions.

* :mod:`~soundsort.models.torch.engine` — the lazy torch import, the torch session (threads, determinism,
  RNG), the shared :class:`~soundsort.models.torch.engine.TrainingParams` and the epoch loop;
* :mod:`~soundsort.models.torch.base` — :class:`~soundsort.models.torch.base.TorchClassifier`: input checks,
  fit, predict and torch-free persistence around the engine;
* :mod:`~soundsort.models.torch.nets` — the network classes (the only module importing torch at its top);
* :mod:`~soundsort.models.torch.heads` — ``mlp`` and ``attention``;
* :mod:`~soundsort.models.torch.cnn` — ``cnn``, ``yamnet-finetune``, ``cnn-backbone`` and the CNN bodies.

Importing any of these but ``nets`` works without torch; fitting then raises
:class:`~soundsort.errors.ConfigError` saying how to install it.
"""
