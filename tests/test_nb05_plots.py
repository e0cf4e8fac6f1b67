"""plots.labelled_bars, the bar chart of notebook 05's cold-start comparison."""

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
import pandas as pd

from recsys_course import plots


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
