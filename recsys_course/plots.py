"""Plot style and the small figures the notebooks share.

Every function takes an optional ``ax`` and returns the axes it drew on, so a
notebook can combine them in subplots and still add a title of its own.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
import pandas as pd

__all__ = ["heatmap", "labelled_bars", "leaderboard", "long_tail", "rating_distribution", "rating_span",
           "ratings_per_week", "set_style", "slope", "spy", "tradeoff", "tradeoff_spread"]


def set_style() -> None:
    """One consistent, readable style for every figure of the course."""
    plt.rcParams.update({
        "figure.figsize": (7.0, 4.0),
        "figure.dpi": 120,  # sharp enough for a projector at the back of a room
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


# notebook 01

def ratings_per_week(ratings: pd.DataFrame, ax=None, title: str = "Ratings per week"):
    """Bars of how many ratings arrived in each week, weeks counted from the day of the first rating.

    A last week that the end of the data cuts short is hatched, so that its lower bar is not read as
    a drop in activity.
    """
    import matplotlib.dates as mdates

    ax = _axes(ax)
    start = ratings["timestamp"].min().normalize()
    week = (ratings["timestamp"] - start).dt.days // 7
    counts = week.value_counts().reindex(range(int(week.max()) + 1), fill_value=0)
    starts = start + pd.to_timedelta(counts.index.to_numpy() * 7, unit="D")
    bars = ax.bar(starts, counts.to_numpy(), width=6, align="edge", color="tab:blue")
    last_day = ratings["timestamp"].max().normalize()
    if last_day < starts[-1] + pd.Timedelta(days=6):  # the data stops before the week's seventh day
        bars[-1].set(hatch="//", facecolor="white", edgecolor="tab:blue", label="partial week")
        ax.legend()
    ax.xaxis.set_major_formatter(mdates.ConciseDateFormatter(ax.xaxis.get_major_locator()))
    ax.set(title=title, xlabel="week (date it starts)", ylabel="ratings per week")
    return ax


_SPANS = {"1 min": 1 / 60, "10 min": 1 / 6, "1 hour": 1.0, "1 day": 24.0, "1 week": 168.0, "1 month": 730.0,
          "6 months": 4380.0, "1 year": 8760.0}


def rating_span(ratings: pd.DataFrame, ax=None, title: str = "How long each user kept rating"):
    """Histogram of each user's time from first to last rating, on a log scale from a minute to months.

    Spans under a minute are counted in the first bin. The median user is marked.
    """
    ax = _axes(ax)
    times = ratings.groupby("user_id")["timestamp"]
    hours = ((times.max() - times.min()).dt.total_seconds() / 3600).clip(lower=_SPANS["1 min"])
    top = max(float(hours.max()), _SPANS["1 day"])
    ax.hist(hours, bins=np.geomspace(_SPANS["1 min"], top * 1.01, 41), color="tab:blue")
    median = float(hours.median())
    ax.axvline(median, color="tab:orange", linestyle="--", label=f"median user: {_duration(median)}")
    ax.set_xscale("log")
    shown = {name: h for name, h in _SPANS.items() if h <= top * 1.01}
    ax.set_xticks(list(shown.values()), list(shown.keys()))
    ax.xaxis.set_minor_locator(plt.NullLocator())
    ax.set(title=title, xlabel="time from a user's first to last rating (log scale)", ylabel="number of users")
    ax.legend()
    return ax


def _duration(hours: float) -> str:
    if hours < 1:
        return f"{hours * 60:.0f} minutes"
    if hours < 48:
        return f"{hours:.1f} hours"
    return f"{hours / 24:.0f} days"


def slope(table: pd.DataFrame, start: str, end: str, ax=None, title: str | None = None, ylabel: str | None = None,
          colors: dict | None = None, min_gap: float = 0.04):
    """Slope chart: one line per row of ``table``, from its ``start`` column to its ``end`` column.

    Shows who gains and who loses between two conditions (e.g. a random and a
    temporal split). Rows with identical values in both columns share one line
    and one label; labels at the right end are pushed apart by at least
    ``min_gap`` of the axis height so that none overlap. ``colors`` maps a row
    name to a colour (default: one colour for all).
    """
    ax = _axes(ax)
    groups = table[[start, end]].groupby([table[start], table[end]], sort=False)
    lines = [(", ".join(map(str, g.index)), g.index[0], a, b) for (a, b), g in groups]
    low = min(table[start].min(), table[end].min())
    high = max(table[start].max(), table[end].max())
    ax.set_ylim(0 if low >= 0 else low * 1.1, high * 1.1)  # from zero: a drop is drawn to scale
    gap = min_gap * (ax.get_ylim()[1] - ax.get_ylim()[0])
    placed = []
    for label, first, a, b in sorted(lines, key=lambda line: line[3]):
        y = b if not placed else max(b, placed[-1] + gap)
        placed.append(y)
        color = (colors or {}).get(first, "tab:blue")
        ax.plot([0, 1], [a, b], marker="o", color=color, lw=2)
        ax.annotate(f"{label} ({b:.3f})", (1, b), xytext=(1.04, y), textcoords="data", va="center", fontsize=9,
                    color=color, arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if y != b else None)
    ax.set_xlim(-0.15, 1.9)
    ax.set_xticks([0, 1], [start, end])
    ax.grid(axis="x", visible=False)
    ax.set(title=title or f"{ylabel or 'metric'}: {start} against {end}", ylabel=ylabel or "")
    return ax


def tradeoff_spread(table: pd.DataFrame, x: str, y: str, ax=None, title: str | None = None, min_gap: float = 0.05):
    """:func:`tradeoff` for crowded tables: identical points share one label, close labels are pushed apart.

    The y axis starts at zero (a gap between models is drawn to scale). A
    label sits to the right of its point; when points are close in x, their
    labels are moved up until they are at least ``min_gap`` of the axis height
    apart, with a thin line back to the point.
    """
    ax = _axes(ax)
    ax.scatter(table[x], table[y], s=50, color="tab:orange", zorder=3)
    groups = table[[x, y]].groupby([table[x], table[y]], sort=False)
    points = sorted(((xv, yv, ", ".join(map(str, g.index))) for (xv, yv), g in groups), key=lambda p: (p[1], p[0]))
    ax.set_ylim(0, table[y].max() * 1.15)
    x_low, x_high = table[x].min(), table[x].max()
    span = x_high - x_low or 1.0
    ax.set_xlim(x_low - 0.05 * span, x_high + 0.3 * span)  # room for the labels on the right
    near, gap = 0.2 * span, min_gap * ax.get_ylim()[1]
    placed = []
    for xv, yv, label in points:
        ly = yv
        for px, py in placed:
            if abs(px - xv) < near and ly < py + gap:
                ly = py + gap
        placed.append((xv, ly))
        ax.annotate(label, (xv, yv), xytext=(xv + 0.02 * span, ly + 0.01 * ax.get_ylim()[1]),
                    textcoords="data", fontsize=9, va="bottom", annotation_clip=False,
                    arrowprops={"arrowstyle": "-", "color": "0.6", "lw": 0.5} if ly != yv else None)
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
