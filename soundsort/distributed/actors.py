"""What runs on the cluster: the actors that hold loaded models and read and process their own inputs.

Each actor loads its models once (:class:`~soundsort.inference.classify.Classifier`, or a featurizer), then
takes a block of input keys per call (Ray Data hands it no bytes: reading in the actor saves a pipeline
stage of read tasks and a copy through the object store). A classify actor classifies a local path where it
is (:func:`soundsort.inference.batch.classify_one`, exactly the local ``classify``); a URI's bytes (and, for
featurizing, any input's) are written to a temporary file of its own (the decoders want a path; the original
suffix is kept), processed (:func:`~soundsort.inference.batch.classify_one`,
:func:`soundsort.features.extract.featurize_file`) and deleted; the temporary path in an error
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

from soundsort.atomic import pid_alive
from soundsort.errors import display_path

_TMP_PREFIX = "soundsort-ray-"


def fetch(key: str) -> tuple[Path | str | None, bytes | None, str | None]:
    """What an actor classifies for ``key``: ``(key, None, None)`` for a local path (read where it is, as the
    local ``classify`` reads it: a path that is no regular readable file gets the classifier's own error);
    ``(None, bytes, None)`` for a URI read whole; ``(None, None, reason)`` for a URI that cannot be read."""
    from soundsort.distributed.inputs import is_uri, read_key

    if not is_uri(key):
        return key, None, None
    blob, reason = read_key(key)
    return None, blob, reason


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

        self.ledger = ledger  # the job's JobLedger (None: no counting)
        self._done: str | None = None  # an input finished, not yet told to the ledger
        # as classify's worker processes (inference.batch._init_worker): one thread in every thread pool
        # threadpoolctl knows (BLAS, OpenMP), and the classifier's ONNX Runtime sessions one thread each
        threadpool_limits(1)
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

        done, self._done = self._done, None  # the input finished before this one: told in the same call
        return ray.get(self.ledger.begin(key, os.getpid(), done=done)) <= MAX_ATTEMPTS

    def _finished(self, key: str) -> None:
        """``key``'s record is made: the ledger hears it with the next input's begin (one round trip a file),
        or at the block's end (:meth:`_block_done`)."""
        self._done = key

    def _block_done(self) -> None:
        if self.ledger is not None and self._done is not None:
            self.ledger.finish(self._done)  # not waited for: in order before this actor's next begin
        self._done = None

    def __del__(self) -> None:
        tmp = getattr(self, "tmp", None)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)


def _renamed(text: str | None, tmp: Path, key: str) -> str | None:
    if not text:
        return text
    return text.replace(display_path(tmp), display_path(key)).replace(str(tmp), display_path(key))


class ClassifyActor(_FileActor):
    """A Ray Data actor: the models loaded once; a batch of input keys in, their records (JSON) out."""

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

        keys = [str(k) for k in batch["key"]]
        records = []
        for key in keys:
            if not self._may_start(key):  # per file: a kill counts against the one input it was on
                rec = FileResult(key, "error", error=died_reason(key)).to_dict()
                records.append(json.dumps(rec))
                continue
            local, blob, reason = fetch(key)
            if reason:
                rec = FileResult(key, "error", error=reason).to_dict()
            elif local is not None:  # a local path: classified where it is, exactly as the local classify does
                rec = classify_one(self.classifier, key)
            else:
                tmp = self._temp_file(key, blob or b"")
                try:
                    rec = classify_one(self.classifier, str(tmp))
                finally:
                    tmp.unlink(missing_ok=True)
                rec["path"] = key
                rec["error"] = _renamed(rec.get("error"), tmp, key)
                rec["warnings"] = [_renamed(w, tmp, key) for w in rec.get("warnings") or []]
            self._finished(key)
            records.append(json.dumps(rec))
        self._block_done()
        return {"key": keys, "record": records}


class FeatureActor(_FileActor):
    """A Ray Data actor: a featurizer built once; a batch of input keys in, their cache entries out.

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
        from soundsort.distributed.inputs import read_key
        from soundsort.distributed.ledger import died_reason
        from soundsort.errors import SoundsortError
        from soundsort.features.extract import featurize_file

        keys, entries, errors = [], [], []
        for key in batch["key"]:
            key = str(key)
            keys.append(key)
            if not self._may_start(key):
                entries.append(b"")
                errors.append(died_reason(key, "featurizing"))
                continue
            blob, reason = read_key(key)
            if blob is None:
                entries.append(b"")
                errors.append(reason or f"{display_path(key)}: not a readable file")
                self._finished(key)
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
        self._block_done()
        return {"key": keys, "entries": entries, "error": errors}
