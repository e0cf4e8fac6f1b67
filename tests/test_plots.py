"""The figure helpers draw what they say, with titles and labelled axes."""

from itertools import pairwise

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from recsys_course import data, plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


def _labelled(ax):
    return ax.get_title() and ax.get_xlabel() and ax.get_ylabel()


def test_rating_distribution_has_one_bar_per_star(toy):
    ax = plots.rating_distribution(toy.ratings)
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == toy.ratings["rating"].value_counts().sort_index().tolist()
    assert _labelled(ax)


def test_long_tail_sorts_counts_and_reports_the_head_share():
    counts = pd.Series([1, 10, 3, 6])
    ax = plots.long_tail(counts, what="movie", head=0.25)
    assert ax.lines[0].get_ydata().tolist() == [10, 6, 3, 1]
    assert "top 25% of movies: 50% of ratings" in ax.get_legend().get_texts()[0].get_text()
    assert ax.get_yscale() == "log" and _labelled(ax)


def test_heatmap_leaves_unknown_cells_blank(toy):
    matrix = toy.ratings.pivot(index="user_id", columns="item_id", values="rating")
    ax = plots.heatmap(matrix, title="toy")
    shown = ax.images[0].get_array()
    assert shown.mask.sum() == matrix.isna().sum().sum()
    assert len(ax.texts) == matrix.notna().sum().sum()


def test_spy_marks_every_known_cell(toy):
    ax = plots.spy(data.rating_matrix(toy.ratings))
    xs, ys = ax.lines[0].get_data()
    assert len(xs) == 23 and np.all(np.asarray(ys) < 5) and _labelled(ax)


def _board():
    return pd.DataFrame({"ndcg@10": [0.3, 0.1], "ndcg@10 low": [0.25, 0.05], "ndcg@10 high": [0.36, 0.2],
                         "diversity": [0.6, 0.8]}, index=pd.Index(["a", "b"], name="model"))


def test_leaderboard_bars_have_the_values_and_interval_bounds():
    ax = plots.leaderboard(_board(), "ndcg@10")
    assert [bar.get_width() for bar in ax.patches] == [0.1, 0.3]  # sorted: best on top
    segments = ax.containers[0].lines[2][0].get_segments()  # the ErrorbarContainer
    assert [tuple(np.round(s[:, 0], 6)) for s in segments] == [(0.05, 0.2), (0.25, 0.36)]
    assert _labelled(ax)


def test_tradeoff_has_one_labelled_point_per_model():
    ax = plots.tradeoff(_board(), "diversity", "ndcg@10")
    assert ax.collections[0].get_offsets().tolist() == [[0.6, 0.3], [0.8, 0.1]]
    assert [t.get_text() for t in ax.texts] == ["a", "b"]
    assert _labelled(ax)


def test_the_style_is_sharp_enough_for_a_projector():
    plots.set_style()
    assert matplotlib.rcParams["figure.dpi"] >= 110


# ---- rating timestamps (notebook 01)

def _ratings(times, users):
    return pd.DataFrame({"user_id": users, "item_id": range(len(users)), "rating": 4,
                         "timestamp": pd.to_datetime(times)})


def test_ratings_per_week_counts_every_rating_in_its_week_and_hatches_a_partial_last_week():
    ratings = _ratings(["2024-01-01 10:00", "2024-01-07 23:00", "2024-01-08 00:30", "2024-01-22 12:00"],
                       [1, 1, 2, 2])
    ax = plots.ratings_per_week(ratings, title="toy weeks")
    heights = [bar.get_height() for bar in ax.patches]
    assert heights == [2, 1, 0, 1]  # weeks from 1 Jan: two ratings, one, an empty week, one in a week cut short
    assert ax.patches[-1].get_hatch() == "//" and not ax.patches[0].get_hatch()
    assert ax.get_title() == "toy weeks" and ax.get_xlabel() and ax.get_ylabel() == "ratings per week"


def test_a_full_last_week_is_not_hatched():
    ratings = _ratings(["2024-01-01 10:00", "2024-01-07 23:00"], [1, 2])
    ax = plots.ratings_per_week(ratings)
    assert [bar.get_height() for bar in ax.patches] == [2] and not ax.patches[0].get_hatch()
    assert ax.get_legend() is None


def test_rating_span_puts_every_user_in_one_bin_and_marks_the_median():
    # spans: 0 s (counted as a minute), 30 minutes, 2 days
    ratings = _ratings(["2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 10:00", "2024-01-01 10:30",
                        "2024-01-01 10:00", "2024-01-03 10:00"], [1, 1, 2, 2, 3, 3])
    ax = plots.rating_span(ratings)
    assert sum(bar.get_height() for bar in ax.patches) == 3
    assert ax.get_xscale() == "log" and ax.get_title() and ax.get_xlabel() and ax.get_ylabel() == "number of users"
    assert ax.lines[0].get_xdata()[0] == pytest.approx(0.5)  # median span: 30 minutes, in hours
    assert "median user: 30 minutes" in ax.get_legend().get_texts()[0].get_text()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["1 min", "10 min", "1 hour", "1 day"]


# ---- labelled bars (notebook 05)

def test_labelled_bars_keeps_the_order_labels_every_bar_and_starts_at_zero():
    values = pd.Series({"hybrid": 0.095, "content": 0.087, "random": 0.037})
    fig, ax = plt.subplots()
    out = plots.labelled_bars(values, ax=ax, title="t", xlabel="precision@10", colors=["C0", "C1", "C2"])
    assert out is ax
    assert [t.get_text() for t in ax.get_yticklabels()] == ["random", "content", "hybrid"]  # first row on top
    labels = [t.get_text() for t in ax.texts]
    assert labels == ["0.037", "0.087", "0.095"]
    low, high = ax.get_xlim()
    assert low == 0 and high > values.max()
    assert ax.get_xlabel() == "precision@10" and ax.get_title() == "t"
    plt.close(fig)


def test_labelled_bars_with_all_zero_values_still_draws():
    fig, ax = plt.subplots()
    plots.labelled_bars(pd.Series({"a": 0.0, "b": 0.0}), ax=ax, fmt="{:.1%}")
    assert ax.get_xlim() == (0.0, 1.2)
    assert [t.get_text() for t in ax.texts] == ["0.0%", "0.0%"]
    plt.close(fig)


# ---- slope chart and spread-out trade-off labels (notebook 07)

def test_slope_draws_one_line_per_distinct_row_and_spreads_the_labels():
    table = pd.DataFrame({"random": [0.30, 0.10, 0.10, 0.11], "temporal": [0.15, 0.12, 0.12, 0.121]},
                         index=["a", "b", "c", "d"])
    ax = plots.slope(table, "random", "temporal", ylabel="NDCG@10", colors={"a": "tab:orange"})
    assert len(ax.lines) == 3                                  # b and c are identical: one line
    labels = {t.get_text(): t.get_position()[1] for t in ax.texts}
    assert set(labels) == {"a (0.150)", "b, c (0.120)", "d (0.121)"}
    ys = sorted(labels.values())
    gap = 0.04 * (ax.get_ylim()[1] - ax.get_ylim()[0])
    assert all(later - earlier >= gap - 1e-12 for earlier, later in pairwise(ys))
    assert ax.get_ylim()[0] == 0 and ax.get_ylabel() == "NDCG@10" and ax.get_title()
    assert [t.get_text() for t in ax.get_xticklabels()] == ["random", "temporal"]
    assert ax.lines[0].get_color() in ("tab:orange", "tab:blue")
    plt.close("all")


def test_tradeoff_spread_merges_identical_points_and_keeps_labels_apart():
    table = pd.DataFrame({"diversity": [0.70, 0.75, 0.75, 0.76, 0.50], "ndcg@10": [0.16, 0.108, 0.108, 0.103, 0.04]},
                         index=["a", "b", "c", "d", "e"])
    ax = plots.tradeoff_spread(table, "diversity", "ndcg@10")
    labels = {t.get_text(): t.get_position() for t in ax.texts}
    assert set(labels) == {"a", "b, c", "d", "e"}
    gap = 0.05 * ax.get_ylim()[1]
    assert labels["b, c"][1] - labels["d"][1] >= gap - 1e-12      # close in x: pushed apart
    assert ax.get_ylim()[0] == 0 and ax.get_xlim()[1] > 0.76 and ax.get_xlabel() == "diversity"
    plt.close("all")
