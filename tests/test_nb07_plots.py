"""plots.slope: one line per distinct row, identical rows merged, no overlapping labels."""

from itertools import pairwise

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import pandas as pd

from recsys_course import plots


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
