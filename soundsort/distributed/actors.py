"""What runs on the cluster: the Ray Data read step, and the actors that hold loaded models.

Each actor loads its models once (:class:`~soundsort.inference.classify.Classifier`, or a featurizer), then
takes one file's bytes at a time: it writes them to a temporary file of its own (the decoders want a path;
the original suffix is kept), runs the local code on it (:func:`soundsort.inference.batch.classify_one`,
:func:`soundsort.features.extract.featurize_file`) and deletes the file; the temporary path in an error
message is replaced by the input's own name. Before it starts an input an actor asks the job's attempt
ledger (:mod:`soundsort.distributed.ledger`); an input on which actors died twice gets an error record
instead of a third try. An actor's temporary folder is
``$TMPDIR/soundsort-ray-<pid>-*``; an actor that finds one whose process is gone (a killed actor's)
removes it.
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.atomic import pid_alive
from soundsort.errors import display_path

_TMP_PREFIX = "soundsort-ray-"


def read_batch(batch: dict[str, np.ndarray]) -> dict[str, Any]:
    """Ray Data step: the bytes of each ``key``; ``readable`` False where there are none (then ``read_error``
    is the reason for a URI, "" for a local path that is no regular file: the classifier names what it is).

    No column holds nulls (Arrow would hand them on as NaN)."""
    from soundsort.distributed.inputs import read_key

    keys = [str(k) for k in batch["key"]]
    data, readable, reasons = [], [], []
    for key in keys:
        blob, reason = read_key(key)
        data.append(blob if blob is not None else b"")
        readable.append(blob is not None)
        reasons.append(reason or "")
    return {"key": keys, "data": data, "readable": np.array(readable, dtype=bool), "read_error": reasons}


def _remove_stale_folders() -> None:
    root = Path(tempfile.gettempdir())
    for entry in root.glob(_TMP_PREFIX + "*"):
        try:
            pid = int(entry.name[len(_TMP_PREFIX):].split("-", 1)[0])
        except ValueError:
            continue
        if not pid_alive(pid):
            shutil.rmtree(entry, ignore_errors=True)


def unpack_models(bundle: dict[str, dict[str, Any]] | None, into: Path) -> dict[str, Path]:
    """Model folders shipped as ``{role: {"name": folder name, "files": {relative path: bytes}}}``, written
    under ``into`` (each keeps its folder name: records name the model by it)."""
    folders = {}
    for role, shipped in (bundle or {}).items():
        folder = into / "models" / role / shipped["name"]
        for rel, blob in shipped["files"].items():
            target = folder / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(blob)
        folders[role] = folder
    return folders


def pack_model(folder: str | os.PathLike[str]) -> dict[str, bytes]:
    """A model folder's files as ``{relative path: bytes}`` (to ship to actors on other nodes)."""
    root = Path(folder)
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


class _FileActor:
    """Shared part: a temporary folder per actor, one file's bytes at a time written into it."""

    def __init__(self, ledger: Any = None) -> None:
        from threadpoolctl import threadpool_limits

        self.ledger = ledger  # the job's AttemptLedger actor (None: no counting)
        threadpool_limits(1, user_api="blas")  # as classify's workers: one core, no BLAS threads fighting
        _remove_stale_folders()
        self.tmp = Path(tempfile.mkdtemp(prefix=f"{_TMP_PREFIX}{os.getpid()}-"))
        self._n = 0

    def _temp_file(self, key: str, blob: bytes) -> Path:
        self._n += 1
        name = key.rstrip("/").rsplit("/", 1)[-1]
        suffix = Path(name).suffix if len(Path(name).suffix) <= 12 else ""
        target = self.tmp / f"input-{self._n}{suffix}"
        target.write_bytes(blob)
        return target

    def _may_start(self, key: str) -> bool:
        """Whether to read ``key`` (False: actors died on it :data:`~soundsort.distributed.ledger.MAX_ATTEMPTS`
        times already). The attempt is in the ledger's journal before this returns."""
        if self.ledger is None:
            return True
        import ray

        from soundsort.distributed.ledger import MAX_ATTEMPTS

        return ray.get(self.ledger.begin.remote(key, os.getpid())) <= MAX_ATTEMPTS

    def _finished(self, key: str) -> None:
        if self.ledger is not None:
            self.ledger.finish.remote(key)  # in order before this actor's next begin (same caller)

    def __del__(self) -> None:
        tmp = getattr(self, "tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _renamed(text: str | None, tmp: Path, key: str) -> str | None:
    if not text:
        return text
    return text.replace(display_path(tmp), display_path(key)).replace(str(tmp), display_path(key))


class ClassifyActor(_FileActor):
    """A Ray Data actor: the models loaded once; a batch of files' bytes in, their records (JSON) out."""

    def __init__(self, music_model: str | None, genre_model: str | None, config: Any,
                 bundle: dict[str, dict[str, Any]] | None = None, ledger: Any = None) -> None:
        super().__init__(ledger)
        from soundsort.inference.classify import Classifier

        shipped = unpack_models(bundle, self.tmp)  # model folders sent by the driver, else the paths given
        self.classifier = Classifier(shipped.get("music", music_model), shipped.get("genre", genre_model), config,
                                     threads=1)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[str]]:
        from soundsort.distributed.ledger import died_reason
        from soundsort.inference.batch import classify_one
        from soundsort.inference.classify import FileResult

        keys, records = [], []
        for key, blob, readable, reason in zip(batch["key"], batch["data"], batch["readable"], batch["read_error"]):
            key = str(key)
            if reason:
                rec = FileResult(key, "error", error=str(reason)).to_dict()
            elif not readable:  # not a regular readable file here: the classifier says what it is
                rec = classify_one(self.classifier, key)
            elif not self._may_start(key):
                rec = FileResult(key, "error", error=died_reason(key)).to_dict()
            else:
                tmp = self._temp_file(key, bytes(blob))
                try:
                    rec = classify_one(self.classifier, str(tmp))
                finally:
                    tmp.unlink(missing_ok=True)
                rec["path"] = key
                rec["error"] = _renamed(rec.get("error"), tmp, key)
                rec["warnings"] = [_renamed(w, tmp, key) for w in rec.get("warnings") or []]
                self._finished(key)
            keys.append(key)
            records.append(json.dumps(rec))
        return {"key": keys, "record": records}


class FeatureActor(_FileActor):
    """A Ray Data actor: a featurizer built once; a batch of files' bytes in, their cache entries out.

    Each file is featurized with :func:`~soundsort.features.extract.featurize_file` into a feature cache
    of the actor's own (empty) folder; the entries it wrote (one, or one per member of a combination) go back
    as ``{relative path: bytes}`` for the driver to store in the real cache, byte for byte.
    """

    def __init__(self, features: str, feature_params: dict[str, Any], ledger: Any = None) -> None:
        super().__init__(ledger)
        from soundsort.features.registry import get_featurizer

        self.featurizer = get_featurizer(features, **feature_params)

    def __call__(self, batch: dict[str, Any]) -> dict[str, list[Any]]:
        import pickle

        from soundsort.cache import FeatureCache
        from soundsort.distributed.ledger import died_reason
        from soundsort.errors import SoundsortError
        from soundsort.features.extract import featurize_file

        keys, entries, errors = [], [], []
        for key, blob, readable, reason in zip(batch["key"], batch["data"], batch["readable"], batch["read_error"]):
            key = str(key)
            keys.append(key)
            if reason or not readable:
                entries.append(b"")
                errors.append(str(reason) if reason else f"{display_path(key)}: not a readable file")
                continue
            if not self._may_start(key):
                entries.append(b"")
                errors.append(died_reason(key, "featurizing"))
                continue
            tmp = self._temp_file(key, bytes(blob))
            cache_dir = self.tmp / "cache"
            try:
                featurize_file(self.featurizer, str(tmp), cache=FeatureCache(cache_dir))
                written = {str(p.relative_to(cache_dir)): p.read_bytes() for p in cache_dir.rglob("*.npz")}
                entries.append(pickle.dumps(written))
                errors.append("")
            except SoundsortError as exc:
                entries.append(b"")
                errors.append(_renamed(str(exc), tmp, key))
            except Exception as exc:  # a library failure on one file must not end the job
                entries.append(b"")
                errors.append(f"{display_path(key)}: {type(exc).__name__}: {' '.join(str(exc).split())[:200]}")
            finally:
                tmp.unlink(missing_ok=True)
                shutil.rmtree(cache_dir, ignore_errors=True)
            self._finished(key)
        return {"key": keys, "entries": entries, "error": errors}
