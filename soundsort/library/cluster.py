"""``soundsort cluster``: the groups a library falls into, named, mapped, and optionally sorted into folders.

* ``k`` given: k-means (scikit-learn) on the library's search-space vectors; ``auto``: HDBSCAN, which finds
  the number of clusters itself and leaves files that belong to none as noise (cluster -1, "unclustered"),
  on the first :data:`HDBSCAN_DIMS` principal components. The map's t-SNE runs on at most :data:`PCA_DIMS`.
* Each cluster is named by its dominant genre (with its share) and its top tags (mean tag scores of its
  files, the genre's own name left out), e.g. ``rock 80% · guitar, classic rock``.
* A 2-D map (t-SNE; PCA for tiny libraries) as a PNG (matplotlib) and as an HTML page that works offline:
  inline SVG, one circle per file with its name on hover, a few lines of inline script to colour the
  points by cluster or by genre. Nothing is loaded from elsewhere.
* ``organize``: copy, link or move each file into ``DEST/<cluster name>/`` with the safe file operations of
  :mod:`soundsort.inference.organize` (never overwrites; a move keeps the file at the source, the
  destination, or both at every instant).
"""

from __future__ import annotations

import html
import json
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from soundsort.errors import LibraryError
from soundsort.library.store import Library

PCA_DIMS = 50
#: HDBSCAN's density estimates work on this many principal components (better than 50 on GTZAN: BENCHMARKS.md)
HDBSCAN_DIMS = 10
#: above this many files the map is PCA (t-SNE would take minutes)
TSNE_UP_TO = 20_000
_PALETTE = ["#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f", "#bcbd22",
            "#17becf", "#393b79", "#637939", "#8c6d31", "#843c39", "#7b4173", "#3182bd", "#e6550d", "#31a354",
            "#756bb1", "#636363"]


@dataclass
class Cluster:
    id: int
    name: str
    size: int
    genre: str | None
    genre_share: float
    tags: list[str]
    paths: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dict(self.__dict__)


@dataclass
class Clustering:
    method: str
    labels: np.ndarray  # cluster id per file row (-1: unclustered)
    clusters: list[Cluster]
    map2d: np.ndarray | None = None

    def name_of(self, cluster_id: int) -> str:
        for c in self.clusters:
            if c.id == cluster_id:
                return c.name
        return "unclustered"


def _reduced(x: np.ndarray, dims: int = PCA_DIMS, seed: int = 0) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_comp = min(dims, x.shape[0] - 1, x.shape[1])
    if n_comp < 2:
        return x
    return PCA(n_components=n_comp, random_state=seed).fit_transform(x)


def cluster_labels(x: np.ndarray, *, k: int | None = None, auto: bool = False, min_cluster_size: int | None = None,
                   seed: int = 0) -> tuple[str, np.ndarray]:
    """``(method, labels)`` for the vectors ``x`` (k-means with ``k``, or HDBSCAN with ``auto``)."""
    n = len(x)
    if (k is None) == (not auto):
        raise LibraryError("give the number of clusters (--k N) or --auto, not both")
    if k is not None:
        if not 1 <= k <= n:
            raise LibraryError(f"--k {k}: the library has {n} files (need 1 <= k <= {n})")
        from sklearn.cluster import KMeans

        return f"k-means (k={k})", KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(x).astype(int)
    from sklearn.cluster import HDBSCAN

    if n < 3:
        raise LibraryError(f"--auto needs at least 3 files, the library has {n}")
    size = min_cluster_size or max(3, min(50, int(round(np.sqrt(n) / 3))))
    labels = HDBSCAN(min_cluster_size=size, copy=True).fit_predict(_reduced(x, HDBSCAN_DIMS, seed)).astype(int)
    return f"HDBSCAN (min cluster size {size})", labels


def _name(library: Library, rows: np.ndarray, used: Counter) -> tuple[str, str | None, float, list[str]]:
    genres = Counter(library.files[i].genre for i in rows if library.files[i].genre)
    genre, share = (None, 0.0)
    if genres:
        genre, count = genres.most_common(1)[0]
        share = count / len(rows)
    tags: list[str] = []
    names = library.config.get("tag_names") or []
    if names and library.tag_scores.shape[1] == len(names) and len(rows):
        mean = library.tag_scores[rows].astype(np.float64).mean(axis=0)
        for t in np.argsort(-mean):
            tag = names[int(t)]
            if genre is None or tag.strip().lower().replace("-", "") != genre.lower().replace("-", ""):
                tags.append(tag)
            if len(tags) == 2:
                break
    shares = [library.files[i].music_share for i in rows if library.files[i].music_share is not None]
    if genre:
        name = f"{genre} {share:.0%}"
    elif shares and float(np.mean(shares)) < 0.5:
        name = "non-music"
    else:
        name = ""  # no genre known (e.g. embedded with --no-describe): the tags alone
    if tags:
        name += (" · " if name else "") + ", ".join(tags)
    name = name or "cluster"
    used[name] += 1
    if used[name] > 1:
        name += f" #{used[name]}"
    return name, genre, share, tags


def cluster_library(library: Library, *, k: int | None = None, auto: bool = False,
                    min_cluster_size: int | None = None, seed: int = 0, map2d: bool = True) -> Clustering:
    """Cluster the library's files and name each cluster (module docstring)."""
    if len(library) == 0:
        raise LibraryError("the library is empty", library.folder)
    x = library.normalized(library.vectors)
    method, labels = cluster_labels(x, k=k, auto=auto, min_cluster_size=min_cluster_size, seed=seed)
    used: Counter = Counter()
    clusters = []
    ids = sorted(set(labels.tolist()) - {-1}, key=lambda c: (-(labels == c).sum(), c))
    renumber = {old: new for new, old in enumerate(ids)}
    labels = np.array([renumber.get(int(c), -1) for c in labels], dtype=int)
    for c in range(len(ids)):
        rows = np.flatnonzero(labels == c)
        name, genre, share, tags = _name(library, rows, used)
        clusters.append(Cluster(c, name, len(rows), genre, round(share, 4), tags,
                                [library.files[i].path for i in rows]))
    result = Clustering(method, labels, clusters)
    if map2d:
        result.map2d = embedding_map(x, seed=seed)
    return result


def embedding_map(x: np.ndarray, seed: int = 0) -> np.ndarray:
    """2-D coordinates of the vectors: t-SNE on the principal components (PCA alone when tiny or huge)."""
    n = len(x)
    if n == 1:
        return np.zeros((1, 2))
    if n < 5 or n > TSNE_UP_TO:
        from sklearn.decomposition import PCA

        out = PCA(n_components=min(2, n, x.shape[1]), random_state=seed).fit_transform(x)
        return out if out.shape[1] == 2 else np.column_stack([out[:, 0], np.zeros(n)])
    from sklearn.manifold import TSNE

    return TSNE(n_components=2, perplexity=min(30.0, (n - 1) / 3.0), init="pca", random_state=seed).fit_transform(
        _reduced(x, seed=seed))


def _colour(i: int) -> str:
    return "#b0b0b0" if i < 0 else _PALETTE[i % len(_PALETTE)]


def write_png(library: Library, result: Clustering, path: str | Path, title: str = "") -> Path:
    """The map as a PNG, points coloured by cluster, with a legend of the cluster names."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    assert result.map2d is not None
    xy = result.map2d
    fig, ax = plt.subplots(figsize=(9, 7), dpi=110)
    for c in [-1] + [cl.id for cl in result.clusters]:
        rows = result.labels == c
        if not rows.any():
            continue
        label = "unclustered" if c < 0 else result.name_of(c)
        ax.scatter(xy[rows, 0], xy[rows, 1], s=22, color=_colour(c), label=f"{label} ({int(rows.sum())})",
                   alpha=0.85, edgecolors="none")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(title or f"{len(library)} files, {len(result.clusters)} clusters ({result.method})")
    ax.legend(fontsize=7, loc="center left", bbox_to_anchor=(1.0, 0.5), frameon=False)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out)
    plt.close(fig)
    return out


_HTML = """<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{title}</title>
<style>
body{{font:14px sans-serif;margin:16px;color:#222}} svg{{border:1px solid #ddd;background:#fff}}
circle{{stroke:#fff;stroke-width:.6}} circle:hover{{stroke:#000;stroke-width:1.5}}
#legend span{{display:inline-block;margin:2px 10px 2px 0}} #legend i{{display:inline-block;width:10px;height:10px;
border-radius:5px;margin-right:4px}}
</style></head><body>
<h2>{title}</h2>
<p>{subtitle} Colour by <label><input type="radio" name="by" value="cluster" checked> cluster</label>
<label><input type="radio" name="by" value="genre"> genre</label>. Hover a point for its file.</p>
<div id="legend"></div>
<svg viewBox="0 0 {w} {h}" width="{w}" height="{h}" role="img" aria-label="map of the library">
{points}
</svg>
<script>
var colours = {colours};
function paint(by) {{
  var seen = {{}};
  document.querySelectorAll("circle").forEach(function (c) {{
    var key = c.getAttribute("data-" + by);
    c.setAttribute("fill", colours[by][key]);
    seen[key] = (seen[key] || 0) + 1;
  }});
  var legend = document.getElementById("legend");
  legend.textContent = "";
  Object.keys(seen).sort().forEach(function (key) {{
    var s = document.createElement("span"), dot = document.createElement("i");
    dot.style.background = colours[by][key];
    s.appendChild(dot);
    s.appendChild(document.createTextNode(key + " (" + seen[key] + ")"));
    legend.appendChild(s);
  }});
}}
document.querySelectorAll("input[name=by]").forEach(function (r) {{
  r.addEventListener("change", function () {{ paint(r.value); }});
}});
paint("cluster");
</script>
</body></html>
"""


def write_html(library: Library, result: Clustering, path: str | Path, title: str = "") -> Path:
    """The map as one self-contained HTML file (inline SVG and script; nothing fetched)."""
    assert result.map2d is not None
    w, h, pad = 900, 640, 20
    xy = np.asarray(result.map2d, dtype=float)
    lo, hi = xy.min(axis=0), xy.max(axis=0)
    span = np.where(hi - lo > 0, hi - lo, 1.0)
    pts = pad + (xy - lo) / span * np.array([w - 2 * pad, h - 2 * pad])
    cluster_names = {c: ("unclustered" if c < 0 else result.name_of(c)) for c in set(result.labels.tolist())}
    genres = sorted({e.genre or "unknown" for e in library.files})
    colours = {"cluster": {cluster_names[c]: _colour(c) for c in cluster_names},
               "genre": {g: _PALETTE[i % len(_PALETTE)] for i, g in enumerate(genres)}}
    circles = []
    for i, e in enumerate(library.files):
        c = int(result.labels[i])
        tip = f"{Path(e.path).name} — {cluster_names[c]}; genre {e.genre or 'unknown'}"
        circles.append(f'<circle cx="{pts[i, 0]:.1f}" cy="{h - pts[i, 1]:.1f}" r="5" fill="{_colour(c)}" '
                       f'data-cluster="{html.escape(cluster_names[c])}" data-genre="{html.escape(e.genre or "unknown")}">'
                       f"<title>{html.escape(tip)}</title></circle>")
    title = title or "soundsort library map"
    doc = _HTML.format(title=html.escape(title), w=w, h=h, points="\n".join(circles),
                       subtitle=html.escape(f"{len(library)} files, {len(result.clusters)} clusters "
                                            f"({result.method})."),
                       colours=json.dumps(colours).replace("</", "<\\/"))
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    from soundsort.atomic import atomic_open

    with atomic_open(out, "w", encoding="utf-8") as fh:
        fh.write(doc)
    return out


def folder_name(name: str) -> str:
    """A cluster name as a folder name (no separators or odd characters)."""
    safe = "".join(ch if ch.isalnum() or ch in " -_.&+,%" else "_" for ch in name).strip(" .")
    return safe[:120] or "cluster"


def organize_plan(library: Library, result: Clustering, dest: str | Path, mode: str = "copy"):
    """One :class:`soundsort.inference.organize.Action` per file: into ``DEST/<cluster folder>/``."""
    from soundsort.inference.organize import MODES, Action

    if mode not in MODES:
        raise LibraryError(f"--mode must be one of {', '.join(MODES)}, got {mode!r}")
    dest = Path(dest)
    actions = []
    for i, e in enumerate(library.files):
        c = int(result.labels[i])
        name = "unclustered" if c < 0 else result.name_of(c)
        actions.append(Action(Path(e.path), dest / folder_name(name), mode, name))
    return actions


__all__ = ["Cluster", "Clustering", "cluster_labels", "cluster_library", "embedding_map", "folder_name",
           "organize_plan", "write_html", "write_png"]
