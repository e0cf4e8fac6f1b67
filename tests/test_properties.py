"""Properties every split and metric must keep, checked on frames Hypothesis generates.

The example-based tests (``test_split.py``, ``test_metrics.py``) pin exact
numbers on the toy data; these check the rules on thousands of odd frames:
tiny, one user, ties in time, numeric or text ids, and the bad input a
learner brings (missing values, repeated pairs, ids mixing ``'1'`` and ``1``),
which must be refused with a sentence, never split silently.

The examples are derandomised (``derandomize=True``): CI and a learner's
laptop run the same ones, and a failure reproduces.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from recsys_course import metrics as M
from recsys_course.split import cold_start_split, kfold, leave_last_out, random_split, temporal_split

settings.register_profile("course", derandomize=True, deadline=None, max_examples=80, database=None,
                          suppress_health_check=[HealthCheck.too_slow])
settings.load_profile("course")

# ------------------------------------------------------------------ frames


@st.composite
def ratings_frames(draw, min_rows: int = 1, max_rows: int = 40, text_ids: bool | None = None):
    """A valid ratings frame: distinct (user, item) pairs, finite ratings, dates (with ties)."""
    n_users = draw(st.integers(1, 8))
    n_items = draw(st.integers(-(-min_rows // n_users), 10))
    pairs = draw(st.lists(st.tuples(st.integers(0, n_users - 1), st.integers(0, n_items - 1)),
                          min_size=min_rows, max_size=min(max_rows, n_users * n_items), unique=True))
    as_text = draw(st.booleans()) if text_ids is None else text_ids
    users = [f"u{u}" if as_text else u + 1 for u, _ in pairs]
    items = [f"i{i}" if as_text else i + 1 for _, i in pairs]
    days = draw(st.lists(st.integers(0, 5), min_size=len(pairs), max_size=len(pairs)))  # few days: many ties
    ratings = draw(st.lists(st.integers(1, 5), min_size=len(pairs), max_size=len(pairs)))
    frame = pd.DataFrame({
        "user_id": users, "item_id": items, "rating": ratings,
        "timestamp": pd.Timestamp("1998-01-01") + pd.to_timedelta(days, unit="D"),
    })
    # a shuffled, non-default index: a split must keep rows, not positions
    order = draw(st.permutations(range(len(frame))))
    return frame.iloc[list(order)].set_index(pd.Index(np.arange(len(frame)) * 3 + 7))


def pairs_of(frame: pd.DataFrame) -> set:
    return set(zip(frame["user_id"], frame["item_id"]))


def assert_partition(ratings: pd.DataFrame, train: pd.DataFrame, test: pd.DataFrame) -> None:
    """Every row lands on exactly one side, unchanged, no (user, item) pair is on both, and neither is empty."""
    assert len(train) and len(test)
    assert not set(train.index) & set(test.index)
    assert sorted(train.index.tolist() + test.index.tolist()) == sorted(ratings.index.tolist())
    pd.testing.assert_frame_equal(pd.concat([train, test])[ratings.columns].sort_index(), ratings.sort_index())
    assert not pairs_of(train) & pairs_of(test)


def _valid_or_refused(fn):
    """Run a split; a ValueError is allowed only when it says which side would be empty."""
    try:
        return fn()
    except ValueError as exc:
        assert "empty" in str(exc) or "rounds to" in str(exc), exc
        return None


# ------------------------------------------------------------------ splits: valid input


@given(ratings_frames(), st.floats(0.05, 0.95), st.integers(0, 3))
def test_random_split_partitions_the_ratings(ratings, test_size, seed):
    split = _valid_or_refused(lambda: random_split(ratings, test_size=test_size, random_state=seed))
    n_test = int(round(test_size * len(ratings)))
    if split is None:
        assert not 0 < n_test < len(ratings)
        return
    assert_partition(ratings, split.train, split.test)
    assert len(split.test) == n_test
    # rows keep their original order on each side
    assert list(split.train.index) == [i for i in ratings.index if i in set(split.train.index)]


@given(ratings_frames(min_rows=2), st.floats(0.05, 0.95))
def test_temporal_split_puts_every_test_rating_at_or_after_every_train_rating(ratings, test_size):
    split = _valid_or_refused(lambda: temporal_split(ratings, test_size=test_size, cold_start="keep"))
    if split is None:
        return
    assert_partition(ratings, split.train, split.test.drop(columns=["cold_user", "cold_item"]))
    assert split.train["timestamp"].max() < split.summary["cutoff"] <= split.test["timestamp"].min()
    # the flags say exactly which test ratings have no history
    assert (split.test["cold_user"] == ~split.test["user_id"].isin(split.train["user_id"])).all()


@given(ratings_frames(), st.integers(1, 4))
def test_leave_last_out_holds_out_each_users_latest(ratings, n):
    split = _valid_or_refused(lambda: leave_last_out(ratings, n=n))
    if split is None:
        return
    assert_partition(ratings, split.train, split.test)
    for user, rows in ratings.groupby("user_id"):
        test = split.test[split.test["user_id"] == user]
        train = split.train[split.train["user_id"] == user]
        assert len(test) == (n if len(rows) > n else 0)
        if len(test):
            assert train["timestamp"].max() <= test["timestamp"].min()


@given(ratings_frames(min_rows=2), st.sampled_from(["item", "user"]), st.floats(0.1, 0.9))
def test_cold_start_split_holds_out_whole_items_or_users(ratings, by, fraction):
    split = _valid_or_refused(lambda: cold_start_split(ratings, by=by, fraction=fraction))
    if split is None:
        return
    assert_partition(ratings, split.train, split.test)
    column = f"{by}_id"
    assert not set(split.train[column]) & set(split.test[column])
    assert set(split.test[column]) == set(split.summary["held_out"])


@given(ratings_frames(min_rows=2), st.integers(2, 6), st.integers(0, 3))
def test_kfold_puts_every_rating_in_exactly_one_test_fold(ratings, n_splits, seed):
    if len(ratings) < n_splits:
        with pytest.raises(ValueError, match="folds"):
            kfold(ratings, n_splits=n_splits, random_state=seed)
        return
    folds = kfold(ratings, n_splits=n_splits, random_state=seed)
    assert len(folds) == n_splits
    seen = pd.concat([fold.test for fold in folds])
    assert sorted(seen.index) == sorted(ratings.index)  # every rating once
    for fold in folds:
        assert_partition(ratings, fold.train, fold.test)
        assert abs(len(fold.test) - len(ratings) / n_splits) < 1  # folds differ in size by at most one


# ------------------------------------------------------------------ splits: bad input is refused

SPLITS = {
    "random_split": lambda r: random_split(r, test_size=0.5),
    "temporal_split": lambda r: temporal_split(r, test_size=0.5),
    "leave_last_out": lambda r: leave_last_out(r),
    "cold_start_split": lambda r: cold_start_split(r, fraction=0.5),
    "kfold": lambda r: kfold(r, n_splits=2),
}


@st.composite
def spoiled(draw):
    """A valid frame with one defect a split must refuse, and the words the refusal must contain."""
    ratings = draw(ratings_frames(min_rows=2, text_ids=False))
    row = ratings.index[draw(st.integers(0, len(ratings) - 1))]
    defect = draw(st.sampled_from(["missing id", "repeated pair", "mixed ids"]))
    if defect == "missing id":
        column = draw(st.sampled_from(["user_id", "item_id"]))
        ratings = ratings.astype({column: "float64"})
        ratings.loc[row, column] = np.nan
        return ratings, defect, ValueError, rf"missing {column}"
    if defect == "repeated pair":
        copy = ratings.loc[[row]].set_index(pd.Index([-1]))
        return pd.concat([ratings, copy]), defect, ValueError, r"repeated \(user_id, item_id\) pair"
    column = draw(st.sampled_from(["user_id", "item_id"]))
    ratings = ratings.astype({column: object})
    ratings.loc[row, column] = str(ratings.loc[row, column])
    if ratings[column].map(type).nunique() == 1:  # the frame had one row of that column: make a second kind
        ratings = pd.concat([ratings, ratings.loc[[row]].assign(**{column: 10**6}).set_index(pd.Index([-1]))])
    return ratings, defect, TypeError, rf"ratings\['{column}'\] mixes text and numbers"


@pytest.mark.parametrize("name", SPLITS)
@given(case=spoiled())
def test_every_split_refuses_bad_frames_with_a_sentence(name, case):
    ratings, _, error, words = case
    with pytest.raises(error, match=words):
        SPLITS[name](ratings)


@pytest.mark.parametrize("name", ["temporal_split", "leave_last_out"])
@given(ratings=ratings_frames(min_rows=2), where=st.integers(0, 39))
def test_splits_by_time_refuse_missing_timestamps(name, ratings, where):
    ratings = ratings.copy()
    ratings.loc[ratings.index[where % len(ratings)], "timestamp"] = pd.NaT
    with pytest.raises(ValueError, match=r"missing timestamp\(s\) \(NaT\)"):
        SPLITS[name](ratings)


# ------------------------------------------------------------------ metrics

items = st.integers(0, 30)
lists = st.lists(items, max_size=15, unique=True)
relevant_sets = st.sets(items, max_size=12)


@given(lists, relevant_sets, st.integers(1, 20))
def test_ranking_metrics_stay_within_their_bounds(recommended, relevant, k):
    values = {
        "precision": M.precision_at_k(recommended, relevant, k),
        "recall": M.recall_at_k(recommended, relevant, k),
        "ndcg": M.ndcg_at_k(recommended, relevant, k),
        "ap": M.average_precision_at_k(recommended, relevant, k),
        "hit_rate": M.hit_rate_at_k(recommended, relevant, k),
        "rr": M.reciprocal_rank(recommended, relevant, k),
    }
    if not relevant:  # no relevant item: undefined, not 0
        assert all(np.isnan(v) for v in values.values())
        return
    for name, value in values.items():
        assert 0.0 <= value <= 1.0 + 1e-12, (name, value)
    hits = len(set(recommended[:k]) & relevant)
    assert values["precision"] == hits / k
    assert values["recall"] == hits / len(relevant)
    assert values["hit_rate"] == float(hits > 0)
    assert (values["ndcg"] > 0) == (values["ap"] > 0) == (values["rr"] > 0) == (hits > 0)


@given(lists, relevant_sets, st.integers(1, 20), st.randoms(use_true_random=False))
def test_set_metrics_ignore_the_order_inside_the_top_k(recommended, relevant, k, rnd):
    """Precision, recall and hit rate see the top k as a set; NDCG, AP and RR do not (next test)."""
    top, rest = recommended[:k], recommended[k:]
    shuffled = rnd.sample(top, len(top)) + rest
    for metric in (M.precision_at_k, M.recall_at_k, M.hit_rate_at_k):
        assert metric(shuffled, relevant, k) == pytest.approx(metric(recommended, relevant, k), nan_ok=True)


@given(lists, st.sets(items, min_size=1, max_size=12), st.integers(1, 20))
def test_order_aware_metrics_peak_when_the_hits_come_first(recommended, relevant, k):
    """Moving the relevant items of the top k to its front never lowers NDCG, AP or RR; the ideal list scores 1."""
    top, rest = recommended[:k], recommended[k:]
    front = [i for i in top if i in relevant] + [i for i in top if i not in relevant] + rest
    for metric in (M.ndcg_at_k, M.average_precision_at_k, M.reciprocal_rank):
        assert metric(front, relevant, k) >= metric(recommended, relevant, k) - 1e-12
    ideal = sorted(relevant) + [i for i in recommended if i not in relevant]
    assert M.ndcg_at_k(ideal, relevant, k) == pytest.approx(1.0)
    assert M.average_precision_at_k(ideal, relevant, k) == pytest.approx(1.0)


@given(st.dictionaries(st.integers(0, 6), lists, max_size=6),
       st.dictionaries(st.integers(0, 6), relevant_sets, max_size=6), st.integers(1, 10),
       st.randoms(use_true_random=False))
def test_many_user_metrics_do_not_depend_on_the_order_of_users(recommendations, relevant, k, rnd):
    frame = M.ranking_metrics(recommendations, relevant, k)
    reordered = dict(rnd.sample(list(recommendations.items()), len(recommendations)))
    again = M.ranking_metrics(reordered, relevant, k)
    pd.testing.assert_frame_equal(frame.sort_index(), again.sort_index())
    for user, row in frame.iterrows():  # each row is that user's single-list metric
        assert row[f"ndcg@{k}"] == pytest.approx(
            M.ndcg_at_k(recommendations.get(user, []), relevant.get(user, set()), k), nan_ok=True)
    if recommendations:
        coverage = M.catalog_coverage(recommendations, range(31))
        assert 0.0 <= coverage <= 1.0
        assert coverage == M.catalog_coverage(reordered, range(31))


finite = st.floats(-10, 10, allow_nan=False)


@given(st.lists(st.tuples(finite, finite), min_size=1, max_size=30), st.randoms(use_true_random=False))
def test_rating_errors_are_symmetric_ordered_and_ignore_row_order(pairs, rnd):
    y_true, y_pred = map(list, zip(*pairs))
    error, absolute = M.rmse(y_true, y_pred), M.mae(y_true, y_pred)
    assert 0.0 <= absolute <= error + 1e-12  # MAE <= RMSE (power means)
    assert M.rmse(y_pred, y_true) == pytest.approx(error)
    shuffled = rnd.sample(pairs, len(pairs))
    assert M.rmse(*map(list, zip(*shuffled))) == pytest.approx(error)
    assert M.rmse(y_true, y_true) == 0.0


@given(st.lists(finite, min_size=1, max_size=20), st.integers(0, 19), st.sampled_from([np.nan, np.inf, -np.inf]),
       st.booleans())
def test_rating_errors_refuse_missing_or_infinite_values(values, where, bad, in_prediction):
    spoiled = list(values)
    spoiled[where % len(values)] = bad
    y_true, y_pred = (values, spoiled) if in_prediction else (spoiled, values)
    words = "prediction" if in_prediction else "rating"
    for metric in (M.rmse, M.mae):
        with pytest.raises(ValueError, match=words):
            metric(y_true, y_pred)
