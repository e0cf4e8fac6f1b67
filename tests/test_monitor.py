import numpy as np
import pandas as pd
import pytest
from scipy import stats

from recsys_course import metrics
from recsys_course.monitor import (
    binned_shares,
    drift_report,
    drift_timeline,
    gini,
    kl_divergence,
    months,
    psi,
    psi_noise,
    read_psi,
    served_popularity,
    top_share,
)

# ------------------------------------------------------------------ divergences


@pytest.mark.parametrize("seed", range(5))
def test_kl_agrees_with_scipy_entropy(seed):
    rng = np.random.default_rng(seed)
    p, q = rng.random(7) + 0.01, rng.random(7) + 0.01
    assert kl_divergence(p, q) == pytest.approx(stats.entropy(p, q), rel=1e-12)


@pytest.mark.parametrize("seed", range(5))
def test_psi_is_the_symmetrised_kl(seed):
    rng = np.random.default_rng(seed)
    e, a = rng.integers(1, 100, 6), rng.integers(1, 100, 6)
    assert psi(e, a) == pytest.approx(kl_divergence(a, e) + kl_divergence(e, a), rel=1e-12)
    assert psi(e, a) == pytest.approx(psi(a, e), rel=1e-12)


def test_psi_by_hand_and_zero_for_equal_distributions():
    # (0.2-0.25) ln(0.2/0.25) + (0.3-0.25) ln(0.3/0.25) + 0
    by_hand = -0.05 * np.log(0.8) + 0.05 * np.log(1.2)
    assert psi([0.25, 0.25, 0.5], [0.2, 0.3, 0.5]) == pytest.approx(by_hand)
    assert psi([1, 2, 3], [10, 20, 30]) == pytest.approx(0.0, abs=1e-15)  # counts are normalised
    assert kl_divergence([1, 2, 3], [2, 4, 6]) == pytest.approx(0.0, abs=1e-15)


def test_series_are_aligned_by_label_and_a_missing_label_counts_zero():
    e = pd.Series({"a": 2.0, "b": 3.0, "c": 5.0})
    a = pd.Series({"c": 4.0, "a": 6.0})  # other order, no "b"
    assert psi(e, a) == pytest.approx(psi([2, 3, 5], [6, 0, 4]))
    assert kl_divergence(a, e) == pytest.approx(kl_divergence([6, 0, 4], [2, 3, 5]))


def test_an_empty_category_costs_more_the_smaller_eps():
    values = [psi([0.95, 0.05], [1.0, 0.0], eps=eps) for eps in (1e-2, 1e-4, 1e-6)]
    assert values[0] < values[1] < values[2]
    # about s ln(s / eps) for the share s present on one side only
    assert values[2] == pytest.approx(0.05 * np.log(0.05 / 1e-6), rel=0.05)


@pytest.mark.parametrize("bad, match", [
    ({"p": [0.5, -0.1], "q": [0.5, 0.5]}, "p must hold finite counts or shares >= 0, got -0.1"),
    ({"p": [0.5, np.nan], "q": [0.5, 0.5]}, "p must hold finite"),
    ({"p": [0, 0], "q": [0.5, 0.5]}, "p sums to 0"),
    ({"p": [0.5, 0.5], "q": [1, 1, 1]}, "same categories, got 2 and 3"),
    ({"p": [], "q": []}, "non-empty"),
    ({"p": [1, 1], "q": [1, 1], "eps": 0}, "eps must be a finite number > 0, got 0"),
])
def test_bad_distributions_are_refused(bad, match):
    with pytest.raises(ValueError, match=match):
        kl_divergence(**bad)


def test_repeated_labels_are_refused():
    with pytest.raises(ValueError, match="repeated category"):
        psi(pd.Series([1, 2], index=["a", "a"]), pd.Series([1, 2], index=["a", "b"]))


def test_psi_noise_matches_simulated_psi_without_drift():
    # two samples of the same distribution over fixed bins: mean PSI ~ (B-1)(1/n + 1/m)
    rng = np.random.default_rng(0)
    p = np.array([0.3, 0.2, 0.15, 0.1, 0.1, 0.05, 0.05, 0.05])
    n, m = 400, 700
    simulated = [psi(rng.multinomial(n, p), rng.multinomial(m, p)) for _ in range(2000)]
    assert np.mean(simulated) == pytest.approx(psi_noise(n, m, len(p)), rel=0.1)


def test_read_psi_follows_the_rule_of_thumb():
    assert [read_psi(v) for v in (0.0, 0.099, 0.1, 0.25, 0.2501)] == [
        "stable", "stable", "moderate", "moderate", "significant"]
    assert read_psi(0.15, thresholds=(0.2, 0.5)) == "stable"
    with pytest.raises(ValueError, match="moderate < significant, got"):
        read_psi(0.1, thresholds=(0.3, 0.2))
    with pytest.raises(ValueError, match="value must be a finite number >= 0, got -1"):
        read_psi(-1)


# ------------------------------------------------------------------ binning


def _slow_bins(expected, actual, n_bins):
    edges = sorted(set(np.quantile(expected, [j / n_bins for j in range(1, n_bins)])))
    def shares(x):
        counts = [0] * (len(edges) + 1)
        for value in x:
            b = 0
            while b < len(edges) and value > edges[b]:  # (left, right]
                b += 1
            counts[b] += 1
        return [c / len(x) for c in counts]
    return shares(expected), shares(actual)


@pytest.mark.parametrize("seed", range(3))
def test_binned_shares_agree_with_a_slow_loop(seed):
    rng = np.random.default_rng(seed)
    expected = rng.poisson(5, 300)  # many ties
    actual = rng.poisson(7, 200)    # and values beyond the reference's range
    got = binned_shares(expected, actual, n_bins=10)
    slow_e, slow_a = _slow_bins(expected, actual, 10)
    assert got["expected"].tolist() == pytest.approx(slow_e)
    assert got["actual"].tolist() == pytest.approx(slow_a)
    assert len(got) < 10  # equal quantiles merged


def test_binned_shares_of_continuous_reference_are_equal_and_outer_bins_are_open():
    rng = np.random.default_rng(1)
    expected = rng.normal(size=1000)
    got = binned_shares(expected, [-100.0, 100.0], n_bins=4)
    assert got["expected"].tolist() == pytest.approx([0.25] * 4)
    assert got["actual"].tolist() == [0.5, 0.0, 0.0, 0.5]
    assert got.index[0].left == -np.inf and got.index[-1].right == np.inf


def test_binned_shares_refuses_bad_input():
    with pytest.raises(ValueError, match="n_bins must be an integer >= 2, got 1"):
        binned_shares([1, 2], [1, 2], n_bins=1)
    with pytest.raises(ValueError, match="actual is empty"):
        binned_shares([1, 2], [], n_bins=2)
    with pytest.raises(ValueError, match="expected holds 1 NaN"):
        binned_shares([1, np.nan], [1], n_bins=2)


# ------------------------------------------------------------------ drift between windows


def test_a_window_against_itself_has_no_drift(toy):
    report = drift_report(toy.ratings, toy.movies, "2024-01", "2024-01")
    assert report["feature"].tolist() == ["rating", "genre", "item_popularity", "user_activity", "new_items",
                                          "new_users"]
    assert report["psi"].tolist() == pytest.approx([0.0] * 6, abs=1e-12)
    assert not report["alert"].any() and set(report["reading"]) == {"stable"}


def test_drift_report_by_hand_on_the_toy_data(toy):
    early, late = ("2024-01-01", "2024-01-10"), ("2024-01-10", "2024-03-01")
    report = drift_report(toy.ratings, toy.movies, early, late, n_bins=2).set_index("feature")
    r = toy.ratings
    t = r["timestamp"]
    ref, cur = r[t < "2024-01-10"], r[t >= "2024-01-10"]
    assert (len(ref), len(cur)) == (8, 15)
    # stars: reference 1,2,3,4,5,5,5,5 -> shares (1,1,1,1,4)/8; current counted by hand
    assert sorted(ref["rating"]) == [1, 2, 3, 4, 5, 5, 5, 5]
    cur_counts = cur["rating"].value_counts().reindex([1, 2, 3, 4, 5], fill_value=0).tolist()
    assert cur_counts == [0, 1, 3, 6, 5]
    assert report.loc["rating", "psi"] == pytest.approx(psi([1, 1, 1, 1, 4], cur_counts))
    assert report.loc["rating", "kl"] == pytest.approx(kl_divergence(cur_counts, [1, 1, 1, 1, 4]))
    # new items: first rated on or after 2024-01-10 are 5, 6, 7 and 8 (3 was first rated on 2024-01-09)
    first = r.groupby("item_id")["timestamp"].min()
    new_cur = sum(first[i] >= cur["timestamp"].min() for i in cur["item_id"])
    assert new_cur == 9  # by hand: 5 twice, 6 twice, 7 twice, 8 three times
    assert report.loc["new_items", "current_value"] == pytest.approx(new_cur / 15)
    assert report.loc["new_items", "reference_value"] == pytest.approx(1.0)  # the log starts there
    assert bool(report.loc["rating", "alert"]) == (report.loc["rating", "psi"] > 0.25)


def test_drift_report_refuses_empty_windows_and_bad_windows(toy):
    with pytest.raises(ValueError, match="current='2025-06' holds no rating"):
        drift_report(toy.ratings, toy.movies, "2024-01", "2025-06")
    with pytest.raises(ValueError, match="reference must be a month like '1997-09'"):
        drift_report(toy.ratings, toy.movies, "not a month", "2024-01")
    with pytest.raises(ValueError, match="the start must come first"):
        drift_report(toy.ratings, toy.movies, ("2024-02-01", "2024-01-01"), "2024-01")
    with pytest.raises(ValueError, match="no genre column"):
        drift_report(toy.ratings, toy.movies[["item_id", "title"]], "2024-01", "2024-02")


def test_months_and_the_timeline(toy):
    assert [str(m) for m in months(toy.ratings)] == ["2024-01", "2024-02"]
    with pytest.raises(ValueError, match="against must be 'previous' or 'first', got 'last'"):
        drift_timeline(toy.ratings, toy.movies, against="last")


def test_timeline_rows_are_the_reports_of_each_pair():
    rng = np.random.default_rng(0)
    n = 600
    ratings = pd.DataFrame({"user_id": rng.integers(1, 40, n), "item_id": rng.integers(1, 60, n),
                            "rating": rng.integers(1, 6, n),
                            "timestamp": pd.Timestamp("2024-01-01") + pd.to_timedelta(rng.integers(0, 90, n), "D")})
    ratings = ratings.drop_duplicates(["user_id", "item_id"]).reset_index(drop=True)
    movies = pd.DataFrame({"item_id": range(1, 60), "Drama": rng.integers(0, 2, 59), "Comedy": rng.integers(0, 2, 59)})
    for against, ref in (("previous", ["2024-01", "2024-02"]), ("first", ["2024-01", "2024-01"])):
        timeline = drift_timeline(ratings, movies, against=against, n_bins=4)
        assert timeline["reference"].unique().tolist() == list(dict.fromkeys(ref))
        assert timeline["current"].unique().tolist() == ["2024-02", "2024-03"]
        last = drift_report(ratings, movies, ref[1], "2024-03", n_bins=4)
        pd.testing.assert_frame_equal(timeline[timeline["current"] == "2024-03"].drop(columns=["reference", "current"])
                                      .reset_index(drop=True), last)


# ------------------------------------------------------------------ what was served


def test_gini_by_hand_and_against_the_pairwise_definition():
    assert gini([3, 3, 3]) == 0.0
    assert gini([0, 0, 0, 4]) == pytest.approx(0.75)  # 1 - 1/n: all on one item
    rng = np.random.default_rng(0)
    for _ in range(5):
        c = rng.integers(0, 20, 30).astype(float)
        pairwise = np.abs(c[:, None] - c[None, :]).sum() / (2 * len(c) ** 2 * c.mean())
        assert gini(rng.permutation(c)) == pytest.approx(pairwise)
    assert np.isnan(gini([0, 0]))
    with pytest.raises(ValueError, match="counts must be finite and >= 0, got -1"):
        gini([1, -1])


def test_top_share_ranks_ties_to_the_smaller_id():
    popularity = pd.Series({10: 5, 11: 9, 12: 9, 13: 1})  # 11 and 12 tie: 11 is "the top" at 25 %
    served = pd.Series({11: 1, 12: 3})
    assert top_share(served, popularity, top=0.25) == pytest.approx(0.25)
    assert top_share(served, popularity, top=0.5) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="top must be a share in \\(0, 1\\], got 0"):
        top_share(served, popularity, top=0)


def test_served_popularity_on_the_toy_data(toy):
    log = pd.DataFrame({"user_id": [1, 2, 3], "items": [[1, 2], [1, 3], [1, 99]]})
    long = log.explode("items").rename(columns={"items": "item_id"})
    got, again = served_popularity(log, toy.ratings, n_bins=2), served_popularity(long, toy.ratings, n_bins=2)
    pd.testing.assert_frame_equal(got.deciles, again.deciles)
    assert got.summary == again.summary
    s = got.summary
    assert s["slots"] == 5 and s["outside_catalogue"] == 1  # 99 is not a toy movie
    # toy counts: 1:4 2:4 3:3 4:3 8:3 5:2 6:2 7:2 -> top half by rank (ties to smaller id) = 1, 2, 3, 4
    assert got.deciles["catalogue_share"].tolist() == [0.5, 0.5]
    assert got.deciles["served_share"].tolist() == [0.0, 1.0]
    assert got.deciles["rating_share"].tolist() == pytest.approx([9 / 23, 14 / 23])
    assert s["coverage"] == metrics.catalog_coverage({0: [1, 2, 3]}, range(1, 9))
    assert s["gini"] == pytest.approx(gini([3, 1, 1, 0, 0, 0, 0, 0]))
    assert s["top_share"] == pytest.approx(3 / 5)  # item 1, the top 10 %, took 3 of 5 slots
    assert s["popularity_percentile"] == metrics.popularity_bias({0: [1, 2, 1, 3, 1]},
                                                                 toy.ratings["item_id"].value_counts())


def test_serving_the_catalogue_evenly_is_not_concentrated(toy):
    log = pd.DataFrame({"item_id": list(range(1, 9)) * 3})
    s = served_popularity(log, toy.ratings).summary
    assert s["gini"] == 0.0 and s["coverage"] == 1.0


def test_served_popularity_refuses_a_log_without_items(toy):
    with pytest.raises(ValueError, match="needs an item_id column"):
        served_popularity(pd.DataFrame({"user_id": [1]}), toy.ratings)
