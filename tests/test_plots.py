"""The figure helpers draw what they say, with titles and labelled axes."""

import matplotlib

matplotlib.use("Agg")

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
