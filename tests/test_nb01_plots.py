"""The timestamp figures of notebook 01 count what they say: ratings per week and each user's rating span."""

import matplotlib

matplotlib.use("Agg")

import pandas as pd
import pytest

from recsys_course import plots


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    matplotlib.pyplot.close("all")


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
