"""The shape of the package, read from its source: data flows one way, no import circles, rooms of one size.

Every module of ``soundsort`` is parsed with :mod:`ast` and every import in it is an edge, wherever it is
written: at the top, inside a function (a lazy import), under ``if TYPE_CHECKING:``, in a ``try``. Edges:

- ``import a.b.c`` and ``from a.b.c import x`` point at module ``a.b.c`` (or, when ``x`` is itself a module,
  ``a.b.c.x``); relative imports are resolved against the importing module's package.
- Importing ``a.b.c`` also runs ``a/__init__.py`` and ``a/b/__init__.py``; those implicit parent-package
  edges are *not* counted. A package's ``__init__`` loads its own built-ins (``features/__init__`` imports
  its featurizer modules) while those modules import the package's base modules, so counting the implicit
  edge to the parent would make every package a circle by construction; an explicit import of the
  package (``from soundsort.features import get_featurizer``) is an edge to ``soundsort.features`` and
  counts like any other.

Rules, each a test that names every offending edge or module:

1. **No import from a lower layer to a higher one** (:data:`LAYERS`, lowest first; a module is in the layer
   of its longest listed prefix). Lazy imports count: a function-level import still makes the lower module
   depend on the higher one.
2. **No import circle**: the strongly connected components of the module graph all have one module.
   Lazy imports count here too: a lazy import only postpones the circle to the first call (where a
   half-initialized module is met, as the CI failure fixed in db89b6a did), and a circle still means
   neither module can be read or changed without the other.
3. **No module over** :data:`MAX_LINES` **lines** without its reason at its top: a ``# size: <reason>``
   comment, or a ``Size: <reason>`` line in its docstring.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = "soundsort"
ROOT = Path(__file__).resolve().parent.parent / PACKAGE

#: The layers, lowest first; a module may import its own layer and the layers below, never one above.
#: ``soundsort`` (the package's ``__init__``) and the helpers every layer uses sit at the bottom.
LAYERS: list[tuple[str, tuple[str, ...]]] = [
    ("helpers", ("soundsort", "soundsort.errors", "soundsort.atomic", "soundsort.paths", "soundsort.settings",
                 "soundsort.system", "soundsort.suggest", "soundsort.registry", "soundsort.cache")),
    ("audio", ("soundsort.audio", "soundsort.examples")),  # examples: synthesized music, speech, noise
    ("dataset", ("soundsort.dataset",)),
    ("features/backbones", ("soundsort.features", "soundsort.backbones")),
    ("models", ("soundsort.models",)),
    ("evaluation/inference/library", ("soundsort.evaluation", "soundsort.inference", "soundsort.library")),
    ("tuning/workflows", ("soundsort.tuning", "soundsort.workflows", "soundsort.presets")),  # presets: recipes
    ("interfaces", ("soundsort.cli", "soundsort.serve", "soundsort.stream", "soundsort.distributed",
                    "soundsort.__main__")),
]

MAX_LINES = 500
_SIZE_REASON = re.compile(r"^\s*(#\s*size:|size:)\s*\S", re.IGNORECASE | re.MULTILINE)


def _module_name(path: Path) -> str:
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _modules() -> dict[str, Path]:
    return {_module_name(p): p for p in sorted(ROOT.rglob("*.py")) if "__pycache__" not in p.parts}


MODULES = _modules()


def _resolve(name: str) -> str | None:
    """The module ``name`` is, or the longest prefix of it that is one (None outside the package)."""
    parts = name.split(".")
    while parts:
        candidate = ".".join(parts)
        if candidate in MODULES:
            return candidate
        parts.pop()
    return None


def _base_for_relative(module: str, is_package: bool, level: int) -> str:
    package = module if is_package else module.rpartition(".")[0]
    for _ in range(level - 1):
        package = package.rpartition(".")[0]
    return package


def _imports(module: str, source: str, *, is_package: bool = False) -> list[tuple[str, int]]:
    """``(imported module, line)`` for every import of a package module in ``source``, at any depth."""
    tree = ast.parse(source)
    found: list[tuple[str, int]] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name == PACKAGE or alias.name.startswith(PACKAGE + "."):
                    target = _resolve(alias.name)
                    if target:
                        found.append((target, node.lineno))
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = _base_for_relative(module, is_package, node.level)
                source = f"{base}.{node.module}" if node.module else base
            else:
                source = node.module or ""
            if not (source == PACKAGE or source.startswith(PACKAGE + ".")):
                continue
            for alias in node.names:
                sub = f"{source}.{alias.name}"
                target = sub if sub in MODULES else _resolve(source)
                if target:
                    found.append((target, node.lineno))
    return found


def _graph() -> dict[str, dict[str, int]]:
    """``{module: {imported module: first line}}`` (self-imports left out)."""
    graph: dict[str, dict[str, int]] = {}
    for module, path in MODULES.items():
        edges: dict[str, int] = {}
        for target, line in _imports(module, path.read_text(encoding="utf-8"), is_package=path.name == "__init__.py"):
            if target != module:
                edges.setdefault(target, line)
        graph[module] = edges
    return graph


def layer_of(module: str) -> int:
    """The index in :data:`LAYERS` of the longest listed prefix of ``module`` (``soundsort`` itself is only the
    package's ``__init__``: a new top-level module must be given its layer)."""
    best, best_len = None, -1
    for i, (_, prefixes) in enumerate(LAYERS):
        for prefix in prefixes:
            inside = module == prefix or (prefix != PACKAGE and module.startswith(prefix + "."))
            if inside and len(prefix) > best_len:
                best, best_len = i, len(prefix)
    if best is None:
        raise KeyError(module)
    return best


def _strongly_connected(graph: dict[str, dict[str, int]]) -> list[list[str]]:
    """Tarjan's algorithm, iterative (the graph may be deep)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    on_stack: set[str] = set()
    stack: list[str] = []
    components: list[list[str]] = []
    counter = 0
    for start in graph:
        if start in index:
            continue
        work = [(start, iter(graph[start]))]
        index[start] = low[start] = counter
        counter += 1
        stack.append(start)
        on_stack.add(start)
        while work:
            node, children = work[-1]
            for child in children:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph[child])))
                    break
                if child in on_stack:
                    low[node] = min(low[node], index[child])
            else:
                work.pop()
                if work:
                    parent = work[-1][0]
                    low[parent] = min(low[parent], low[node])
                if low[node] == index[node]:
                    component = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        component.append(member)
                        if member == node:
                            break
                    components.append(sorted(component))
    return components


def _where(module: str, line: int) -> str:
    return f"{MODULES[module].relative_to(ROOT.parent)}:{line}"


def test_every_module_has_a_layer() -> None:
    missing = []
    for module in MODULES:
        try:
            layer_of(module)
        except KeyError:
            missing.append(module)
    assert not missing, "modules in no layer (add them to LAYERS): " + ", ".join(missing)


def test_no_import_from_a_lower_layer_to_a_higher_one() -> None:
    graph = _graph()
    upward = []
    for module, edges in sorted(graph.items()):
        for target, line in sorted(edges.items()):
            lo, hi = layer_of(module), layer_of(target)
            if hi > lo:
                upward.append(f"{_where(module, line)}: {module} ({LAYERS[lo][0]}) imports {target} "
                              f"({LAYERS[hi][0]})")
    assert not upward, f"{len(upward)} imports run up a layer:\n" + "\n".join(upward)


def test_no_import_circle() -> None:
    graph = _graph()
    circles = [c for c in _strongly_connected(graph) if len(c) > 1]
    lines = []
    for comp in circles:
        members = set(comp)
        edges = [f"    {_where(m, line)}: {m} -> {t}" for m in comp for t, line in sorted(graph[m].items())
                 if t in members]
        lines.append(f"circle of {len(comp)} modules: {', '.join(comp)}\n" + "\n".join(edges))
    assert not circles, f"{len(circles)} import circles:\n" + "\n".join(lines)


def test_no_module_over_the_size_limit_without_a_reason() -> None:
    too_big = []
    for module, path in sorted(MODULES.items()):
        text = path.read_text(encoding="utf-8")
        n = text.count("\n") + (not text.endswith("\n") and bool(text))
        if n <= MAX_LINES:
            continue
        tree = ast.parse(text)
        doc = ast.get_docstring(tree) or ""
        head = "\n".join(text.splitlines()[:40])
        comments = "\n".join(line for line in head.splitlines() if line.lstrip().startswith("#"))
        if _SIZE_REASON.search(doc) or _SIZE_REASON.search(comments):
            continue
        too_big.append(f"{path.relative_to(ROOT.parent)}: {n} lines (over {MAX_LINES}, no '# size: <reason>' "
                       "or 'Size: <reason>' at its top)")
    assert not too_big, f"{len(too_big)} modules over {MAX_LINES} lines without a reason:\n" + "\n".join(too_big)


# ------------------------------------------------------------------------ the checker itself, on known graphs

def test_tarjan_finds_a_lazy_circle_and_leaves_a_chain_alone() -> None:
    assert sorted(len(c) for c in _strongly_connected({"a": {"b": 1}, "b": {"c": 1}, "c": {}})) == [1, 1, 1]
    comps = _strongly_connected({"a": {"b": 1}, "b": {"c": 1}, "c": {"a": 9}, "d": {"a": 1}})
    assert sorted(map(tuple, comps)) == [("a", "b", "c"), ("d",)]


def test_imports_are_found_at_any_depth() -> None:
    """A lazy import inside a method, a relative import and ``from package import submodule`` are edges."""
    src = ("from __future__ import annotations\n"
           "from . import errors\n"
           "from soundsort.audio import decode\n"
           "class A:\n"
           "    def f(self):\n"
           "        if True:\n"
           "            from soundsort.cli.root import app\n"
           "        import soundsort.models.io as io\n")
    found = _imports("soundsort.registry", src)
    assert {t for t, _ in found} >= {"soundsort.errors", "soundsort.audio.decode", "soundsort.cli.root",
                                           "soundsort.models.io"}
    assert layer_of("soundsort.cli.root") > layer_of("soundsort.registry")


@pytest.mark.parametrize("module, layer", [("soundsort.cli.common", "interfaces"), ("soundsort.features.base",
                                                                                   "features/backbones"),
                                           ("soundsort.errors", "helpers"), ("soundsort", "helpers"),
                                           ("soundsort.inference.predict", "evaluation/inference/library")])
def test_layer_table(module: str, layer: str) -> None:
    assert LAYERS[layer_of(module)][0] == layer


def test_an_unlisted_top_level_module_has_no_layer() -> None:
    with pytest.raises(KeyError):
        layer_of("soundsort.cli_tune")
