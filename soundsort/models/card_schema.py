"""The model card (``model.json``) schema: every field checked once, when a model folder is opened.

A model folder can come from anyone. Its card is parsed as plain JSON (bounded in size and nesting) and
validated here with pydantic (strict types: ``"0.5"`` is no number); the first problem becomes one line
naming the field, e.g. ``model.json: threshold: must be a number, not '0.5'``. Nothing in a card names code
to run: feature sets and models are looked up in soundsort's own registries, and ensemble members must be
plain sub-folders of the ensemble's folder.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Annotated, Any

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from soundsort.errors import ModelError

#: A ``model.json`` larger than this is no model card.
MAX_CARD_BYTES = 64 << 20
#: Deeper nesting than this is no model card (and would exhaust the JSON parser's recursion).
MAX_DEPTH = 64
ENSEMBLE_METHODS = ("vote", "mean", "max")

_NonEmpty = Annotated[str, Field(min_length=1)]


class CardSchema(BaseModel):
    """What a card must hold; unknown fields are ignored (newer soundsorts may add some)."""

    model_config = ConfigDict(strict=True, extra="ignore")

    task: _NonEmpty
    labels: Annotated[list[_NonEmpty], Field(min_length=1)]
    featurizer: str
    featurizer_params: dict[str, Any]
    model: _NonEmpty
    model_params: dict[str, Any] = {}
    positive_label: str | None = None
    threshold: float = 0.5
    aggregation: str = "mean"
    metrics: dict[str, Any] = {}
    training_data: dict[str, Any] = {}
    notes: str = ""
    versions: dict[str, Any] = {}
    created: str = ""
    format_version: int = 1

    @field_validator("labels")
    @classmethod
    def _unique(cls, labels: list[str]) -> list[str]:
        dup = sorted({x for x in labels if labels.count(x) > 1})
        if dup:
            raise ValueError(f"the same label twice ({', '.join(map(repr, dup))})")
        return labels

    @field_validator("threshold")
    @classmethod
    def _probability(cls, value: float) -> float:
        if not math.isfinite(value) or not 0.0 <= value <= 1.0:
            raise ValueError(f"must be a probability between 0 and 1, not {value!r}")
        return value

    @field_validator("aggregation")
    @classmethod
    def _aggregation(cls, value: str) -> str:
        if value not in ("mean", "vote"):
            raise ValueError(f"must be 'mean' or 'vote', not {value!r}")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> CardSchema:
        if self.positive_label is not None:
            if self.positive_label not in self.labels:
                raise _FieldProblem("positive_label", f"{self.positive_label!r} is not one of the labels "
                                    f"{self.labels}")
            if len(self.labels) != 2:
                raise _FieldProblem("labels", f"a binary model (positive_label set) has 2 labels, not "
                                    f"{len(self.labels)}")
        if self.model.startswith("ensemble"):
            method = self.model_params.get("method")
            if method not in ENSEMBLE_METHODS:
                raise _FieldProblem("model_params.method", f"an ensemble needs a method ({', '.join(ENSEMBLE_METHODS)})"
                                    f", got {method!r}")
            members = self.model_params.get("members")
            if not isinstance(members, list) or not members:
                raise _FieldProblem("model_params.members", f"an ensemble needs a list of member folders, got "
                                    f"{_short(members)}")
            for i, m in enumerate(members):
                if not isinstance(m, str) or not _plain_name(m):
                    raise _FieldProblem(f"model_params.members[{i}]", f"a member must be a sub-folder of the "
                                        f"ensemble's folder (a plain name), not {_short(m)}")
        return self


class _FieldProblem(ValueError):
    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field, self.message = field, message


def _plain_name(name: str) -> bool:
    return name not in ("", ".", "..") and "/" not in name and "\\" not in name and "\x00" not in name


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _depth(text: str) -> int:
    """How deeply the JSON text nests (brackets outside strings), without parsing it."""
    depth = deepest = 0
    in_str = escaped = False
    for ch in text:
        if in_str:
            if escaped:
                escaped = False
            elif ch == "\\":
                escaped = True
            elif ch == '"':
                in_str = False
        elif ch == '"':
            in_str = True
        elif ch in "[{":
            depth += 1
            if depth > deepest:
                deepest = depth
                if deepest > MAX_DEPTH:
                    return deepest
        elif ch in "]}":
            depth -= 1
    return deepest


_TYPE_WORDS = {"string_type": "a string", "float_type": "a number", "int_type": "an integer",
               "list_type": "a list", "dict_type": "an object", "bool_type": "true or false"}


def _explain(err: ValidationError) -> tuple[str, str]:
    first = err.errors()[0]
    loc = "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in first["loc"]).lstrip(".") or "(card)"
    kind = first["type"]
    if kind == "missing":
        return loc, "missing"
    if kind in _TYPE_WORDS:
        return loc, f"must be {_TYPE_WORDS[kind]}, not {_short(first.get('input'))}"
    if kind == "too_short":
        return loc, "must not be empty"
    ctx_err = (first.get("ctx") or {}).get("error")
    if isinstance(ctx_err, _FieldProblem):
        return ctx_err.field, ctx_err.message
    msg = first["msg"]
    return loc, msg.split(", ", 1)[1] if msg.startswith("Value error, ") else msg


def read_card(path: Path, folder: Path, format_version: int) -> dict[str, Any]:
    """Parse and validate a ``model.json``; returns its fields. Raises one-line :class:`ModelError`."""
    try:
        size = path.stat().st_size
        if size > MAX_CARD_BYTES:
            raise ModelError(f"model.json is too large for a model card ({size >> 20} MB)", folder)
        raw = path.read_bytes()
    except OSError as exc:
        raise ModelError(f"model.json is unreadable ({exc.strerror or exc})", folder) from None
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ModelError(f"model.json is not UTF-8 text (byte {exc.start})", folder) from None
    if not text.strip():
        raise ModelError("model.json is empty", folder)
    if _depth(text) > MAX_DEPTH:
        raise ModelError(f"model.json is nested more than {MAX_DEPTH} levels deep: not a model card", folder)
    try:
        data = json.loads(text)
    except (json.JSONDecodeError, RecursionError) as exc:
        where = f" (line {exc.lineno}, column {exc.colno})" if isinstance(exc, json.JSONDecodeError) else ""
        raise ModelError(f"model.json is not valid JSON{where}", folder) from None
    if not isinstance(data, dict):
        raise ModelError(f"model.json must hold a JSON object (a model card), not a {type(data).__name__}",
                         folder)
    version = data.get("format_version", 1)
    if isinstance(version, int) and not isinstance(version, bool) and version > format_version:
        raise ModelError(f"model format {version} is newer than this soundsort understands ({format_version}); "
                         "upgrade soundsort", folder)
    try:
        card = CardSchema.model_validate(data)
    except ValidationError as exc:
        field, problem = _explain(exc)
        raise ModelError(f"model.json: {field}: {problem}", folder) from None
    return card.model_dump()
