"""Plot style and the small figures the notebooks share.

Every function takes an optional ``ax`` and returns the axes it drew on, so a
notebook can combine them in subplots and still add a title of its own.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["heatmap", "labelled_bars", "leaderboard", "long_tail", "rating_distribution", "set_style", "spy",
           "tradeoff"]


def set_style() -> None:
    """One consistent, readable style for every figure of the course."""
    plt.rcParams.update({
        "figure.figsize": (7.0, 4.0),
        "figure.dpi": 80,  # keeps the notebooks small; raise it for slides
        "axes.grid": True,
        "grid.alpha": 0.3,
        "axes.spines.top": False,
        "axes.spines.right": False,
        "axes.titleweight": "bold",
        "font.size": 11,
    })


def _axes(ax):
    return ax if ax is not None else plt.subplots()[1]


def rating_distribution(ratings: pd.DataFrame, ax=None, title: str = "How users rate"):
    """Bar chart of how many ratings each star value received."""
    ax = _axes(ax)
    counts = ratings["rating"].value_counts().sort_index()
    bars = ax.bar(counts.index.astype(str), counts.to_numpy(), color="tab:blue")
    ax.bar_label(bars, labels=[f"{c:,}" for c in counts], fontsize=9)
    ax.set(title=title, xlabel="rating (stars)", ylabel="number of ratings")
    return ax


def long_tail(counts: pd.Series, ax=None, what: str = "movie", log: bool = True, head: float = 0.2):
    """Ratings per user or per item, sorted by rank: the long tail.

    The most popular ``head`` fraction is shaded, and its share of all ratings
    is written in the legend.
    """
    ax = _axes(ax)
    values = np.sort(counts.to_numpy())[::-1]
    ranks = np.arange(1, len(values) + 1)
    n_head = int(np.ceil(head * len(values)))
    share = values[:n_head].sum() / values.sum()
    ax.fill_between(ranks[:n_head], values[:n_head], color="tab:orange", alpha=0.4,
                    label=f"top {head:.0%} of {what}s: {share:.0%} of ratings")
    ax.plot(ranks, values, color="tab:blue")
    if log:
        ax.set_yscale("log")
    ax.set(title=f"Ratings per {what}, most rated first", xlabel=f"{what} rank",
           ylabel="number of ratings" + (" (log scale)" if log else ""))
    ax.legend()
    return ax


def heatmap(matrix: pd.DataFrame, ax=None, title: str = "", annotate: bool = True, cmap: str = "viridis",
            label: str = "rating (stars)", vmin: float | None = 1, vmax: float | None = 5):
    """A labelled matrix; missing (NaN) cells stay blank so "unknown" never looks like 0."""
    ax = _axes(ax)
    values = matrix.to_numpy(dtype=float)
    image = ax.imshow(np.ma.masked_invalid(values), cmap=cmap, vmin=vmin, vmax=vmax, aspect="auto")
    ax.figure.colorbar(image, ax=ax, label=label)
    ax.set_xticks(range(values.shape[1]), [str(c) for c in matrix.columns], rotation=45, ha="right")
    ax.set_yticks(range(values.shape[0]), [str(r) for r in matrix.index])
    ax.grid(False)
    if annotate:
        for (r, c), v in np.ndenumerate(values):
            if not np.isnan(v):
                light = image.norm(v) > 0.6  # dark text on the bright end of the colour map
                ax.text(c, r, f"{v:g}", ha="center", va="center", color="black" if light else "white", fontsize=9)
    ax.set(title=title, xlabel=matrix.columns.name or "", ylabel=matrix.index.name or "")
    return ax


def spy(matrix, ax=None, title: str = "Which cells are known", markersize: float = 0.3):
    """Dot for every known cell of a (sparse) user-item matrix."""
    ax = _axes(ax)
    ax.spy(matrix, markersize=markersize, aspect="auto", color="tab:blue")
    ax.grid(False)
    ax.set(title=title, xlabel="item index", ylabel="user index")
    ax.xaxis.set_ticks_position("bottom")
    return ax


def leaderboard(table: pd.DataFrame, metric: str, ax=None, title: str | None = None):
    """Horizontal bars of one metric per model, best on top, with the confidence interval as error bars.

    ``table`` is ``metrics.leaderboard(...).table``: a row per model and the
    columns ``metric``, ``metric low`` and ``metric high``.
    """
    ax = _axes(ax)
    t = table.sort_values(metric)
    low, high = t[metric] - t[f"{metric} low"], t[f"{metric} high"] - t[metric]
    ax.barh(t.index.astype(str), t[metric], xerr=[low.to_numpy(), high.to_numpy()], color="tab:blue",
            alpha=0.8, error_kw={"ecolor": "black", "capsize": 3})
    ax.set(title=title or f"{metric} by model, with 95% bootstrap intervals", xlabel=metric, ylabel="model")
    ax.grid(axis="y", visible=False)
    return ax


def tradeoff(table: pd.DataFrame, x: str, y: str, ax=None, title: str | None = None, labels: bool = True):
    """Scatter of two metrics, one labelled point per model (e.g. NDCG against diversity)."""
    ax = _axes(ax)
    ax.scatter(table[x], table[y], s=50, color="tab:orange", zorder=3)
    if labels:
        for name, (xv, yv) in table[[x, y]].iterrows():
            ax.annotate(str(name), (xv, yv), textcoords="offset points", xytext=(5, 4), fontsize=9)
    ax.set(title=title or f"{y} against {x}", xlabel=x, ylabel=y)
    return ax


def labelled_bars(values: pd.Series, ax=None, title: str = "", xlabel: str = "", ylabel: str = "",
                  fmt: str = "{:.3f}", colors=None):
    """Horizontal bars of one number per row of ``values``, first row on top, each bar labelled with its value.

    For a handful of models compared on one metric, when the numbers matter as
    much as the lengths. The axis starts at 0 so that lengths stay proportional
    to the values, and leaves room on the right for the labels. ``colors``: one
    colour per row (e.g. to set a reference row apart), default all blue.
    """
    ax = _axes(ax)
    names = [str(name) for name in values.index][::-1]
    numbers = values.to_numpy(dtype=float)[::-1]
    color = list(colors)[::-1] if colors is not None else "tab:blue"
    bars = ax.barh(names, numbers, color=color, alpha=0.85)
    ax.bar_label(bars, labels=[fmt.format(v) for v in numbers], padding=3, fontsize=10)
    top = np.nanmax(numbers) if len(numbers) and np.nanmax(numbers) > 0 else 1.0
    ax.set_xlim(0, top * 1.2)
    ax.set(title=title, xlabel=xlabel, ylabel=ylabel)
    ax.grid(axis="y", visible=False)
    return ax
