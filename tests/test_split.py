"""Splits: sizes add up, no pair in both halves, time order respected, deterministic."""

import numpy as np
import pandas as pd
import pytest

from recsys_course import split as S


def random_ratings(seed, n_users=40, n_items=60, n=800):
    """Random ratings with many timestamp ties, for property checks."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, n, replace=False)
    return pd.DataFrame({
        "user_id": pairs // n_items + 1,
        "item_id": pairs % n_items + 1,
        "rating": rng.integers(1, 6, n),
        "timestamp": pd.to_datetime(rng.integers(0, 200, n), unit="D", origin="1997-09-20"),
    })


SEEDS = range(25)


def _pairs(frame):
    return set(zip(frame.user_id, frame.item_id))


def _assert_partition(ratings, train, test, dropped=0):
    assert len(train) + len(test) + dropped == len(ratings)
    assert not _pairs(train) & _pairs(test)
    assert train.index.is_monotonic_increasing and test.index.is_monotonic_increasing  # order kept
    assert set(train.index) | set(test.index) <= set(ratings.index)


@pytest.mark.parametrize("seed", SEEDS)
def test_random_split_partitions_and_is_deterministic(seed):
    ratings = random_ratings(seed)
    train, test, summary = S.random_split(ratings, test_size=0.25, random_state=seed)
    _assert_partition(ratings, train, test)
    assert len(test) == 200 and summary["test_ratings"] == 200
    again = S.random_split(ratings, test_size=0.25, random_state=seed)
    assert again.test.index.equals(test.index)
    assert not S.random_split(ratings, test_size=0.25, random_state=seed + 100).test.index.equals(test.index)


@pytest.mark.parametrize("seed", SEEDS)
def test_temporal_split_never_tests_on_the_past(seed):
    ratings = random_ratings(seed)
    train, test, summary = S.temporal_split(ratings, test_size=0.2)
    assert train.timestamp.max() < summary["cutoff"] <= test.timestamp.min()
    _assert_partition(ratings, train, test, dropped=summary["cold_start_ratings"])
    assert test.user_id.isin(train.user_id).all() and test.item_id.isin(train.item_id).all()
    kept = S.temporal_split(ratings, test_size=0.2, cold_start="keep").test
    assert (kept.cold_user | kept.cold_item).sum() == summary["cold_start_ratings"]
    assert 0.1 < (len(kept) / len(ratings)) < 0.3


def test_temporal_split_with_an_explicit_cutoff_and_its_summary(toy):
    train, test, summary = S.temporal_split(toy.ratings, "2024-02-01", cold_start="keep")
    assert (train.timestamp < pd.Timestamp("2024-02-01")).all()
    assert (test.timestamp >= pd.Timestamp("2024-02-01")).all()
    assert summary["cutoff"] == pd.Timestamp("2024-02-01")
    assert summary["train_ratings"] + summary["test_ratings"] == 23
    # Interstellar (7) is first rated on 2024-02-01: cold at the cut-off
    assert test.loc[test.item_id == 7, "cold_item"].all()
    with pytest.raises(ValueError, match="empty test"):
        S.temporal_split(toy.ratings, "2030-01-01")
    with pytest.raises(ValueError, match="cold_start must be"):
        S.temporal_split(toy.ratings, cold_start="maybe")


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("n", [1, 3])
def test_leave_last_out_takes_each_users_latest(seed, n):
    ratings = random_ratings(seed)
    train, test, summary = S.leave_last_out(ratings, n=n)
    _assert_partition(ratings, train, test)
    per_user = ratings.groupby("user_id").size()
    assert (test.groupby("user_id").size() == n).all()
    assert set(test.user_id) == set(per_user[per_user > n].index)
    assert summary["users_kept_in_train"] == (per_user <= n).sum()
    last_train = train.groupby("user_id").timestamp.max()
    first_test = test.groupby("user_id").timestamp.min()
    assert (first_test >= last_train.reindex(first_test.index)).all()
    assert S.leave_last_out(ratings, n=n).test.index.equals(test.index)


def test_leave_last_out_breaks_time_ties_by_row_order():
    ratings = pd.DataFrame({"user_id": [1, 1, 1], "item_id": [10, 11, 12], "rating": [3, 4, 5],
                            "timestamp": pd.to_datetime(["1998-01-01", "1998-01-02", "1998-01-02"])})
    assert S.leave_last_out(ratings).test.item_id.tolist() == [12]
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        S.leave_last_out(ratings, n=0)


@pytest.mark.parametrize("seed", SEEDS)
@pytest.mark.parametrize("by", ["item", "user"])
def test_cold_start_split_holds_out_whole_items_or_users(seed, by):
    ratings = random_ratings(seed)
    train, test, summary = S.cold_start_split(ratings, by=by, fraction=0.1, random_state=seed)
    _assert_partition(ratings, train, test)
    column = f"{by}_id"
    held_out = set(summary["held_out"])
    assert set(test[column]) == held_out and not held_out & set(train[column])
    assert len(held_out) == round(0.1 * ratings[column].nunique())
    assert S.cold_start_split(ratings, by=by, fraction=0.1, random_state=seed).summary["held_out"] == sorted(held_out)


def test_bad_arguments_name_the_rule(toy):
    with pytest.raises(ValueError, match="test_size must be between 0 and 1"):
        S.random_split(toy.ratings, test_size=1.5)
    with pytest.raises(ValueError, match="by must be one of 'item', 'user'; got 'movie'"):
        S.cold_start_split(toy.ratings, by="movie")
    with pytest.raises(ValueError, match=r"missing \['timestamp'\]"):
        S.leave_last_out(toy.ratings.drop(columns="timestamp"))


@pytest.mark.parametrize("seed", SEEDS[:5])
def test_kfold_puts_every_rating_in_exactly_one_test_fold(seed):
    ratings = random_ratings(seed)
    folds = S.kfold(ratings, n_splits=5, random_state=seed)
    tests = [f.test.index for f in folds]
    assert sorted(np.concatenate(tests)) == sorted(ratings.index)
    for train, test, summary in folds:
        _assert_partition(ratings, train, test)
        assert abs(len(test) - len(ratings) / 5) <= 1
    assert S.kfold(ratings, 5, random_state=seed)[2].test.index.equals(folds[2].test.index)
    with pytest.raises(ValueError, match="n_splits must be an integer >= 2"):
        S.kfold(ratings, n_splits=1)


# ---- per-user temporal split (notebook 07)

def slow_reference(ratings, test_size):
    """Index of the test rows, user by user, from the definition."""
    chosen = []
    for _, group in ratings.assign(row=np.arange(len(ratings))).groupby("user_id"):
        ordered = group.sort_values(["timestamp", "row"], kind="stable")
        n_test = int(np.floor(test_size * len(group) + 0.5))
        chosen += list(ordered.index[len(group) - n_test:]) if n_test else []
    return sorted(chosen)


@pytest.mark.parametrize("seed", range(15))
@pytest.mark.parametrize("test_size", [0.1, 0.2, 0.5])
def test_each_users_latest_share_goes_to_test(seed, test_size):
    ratings = random_ratings(seed)
    train, test, summary = S.per_user_temporal_split(ratings, test_size, cold_start="keep")
    assert sorted(test.index) == slow_reference(ratings, test_size)
    assert len(train) + len(test) == len(ratings) and not set(train.index) & set(test.index)
    assert train.index.is_monotonic_increasing and test.index.is_monotonic_increasing
    for user, times in test.groupby("user_id").timestamp:  # nothing of a user's test precedes their train
        assert train.loc[train.user_id == user, "timestamp"].max() <= times.min()
    assert summary["cold_start_ratings"] == int(test.cold_item.sum())
    again = S.per_user_temporal_split(ratings, test_size, cold_start="keep")
    assert again.test.index.equals(test.index)


def test_drop_removes_exactly_the_cold_items():
    ratings = random_ratings(3, n_items=400, n=500)
    kept = S.per_user_temporal_split(ratings, 0.3, cold_start="keep")
    dropped = S.per_user_temporal_split(ratings, 0.3)
    assert kept.summary["cold_start_ratings"] > 0
    assert dropped.test.index.equals(kept.test.index[~kept.test.cold_item.to_numpy()])
    assert dropped.test.item_id.isin(dropped.train.item_id).all()


def test_small_users_stay_in_train_and_the_summary_counts_them():
    ratings = pd.DataFrame({"user_id": [1, 1, 1, 1, 1, 2, 2], "item_id": [1, 2, 3, 4, 5, 1, 2],
                            "timestamp": pd.to_datetime([5, 4, 3, 2, 1, 1, 2], unit="D")})
    _, test, summary = S.per_user_temporal_split(ratings, 0.2)
    assert test.item_id.tolist() == [1] and summary["users_kept_in_train"] == 1   # user 2: 0.4 rounds to 0


def test_bad_input_is_refused_with_the_rule(toy):
    with pytest.raises(ValueError, match="test_size must be between 0 and 1"):
        S.per_user_temporal_split(toy.ratings, 1.5)
    with pytest.raises(ValueError, match="cold_start must be one of"):
        S.per_user_temporal_split(toy.ratings, 0.2, cold_start="ignore")
    with pytest.raises(ValueError, match="leaves an empty test set"):
        S.per_user_temporal_split(toy.ratings, 0.05)


def recommenders_stratified_split(data, ratio, filter_by, seed):
    """recommenders-team's ``_do_stratification`` (python_splitters.py), pandas as they wrote it: the reference."""
    data = data.copy()
    split_by_column = "user_id" if filter_by == "user" else "item_id"
    np.random.seed(seed)
    data["random"] = np.random.rand(data.shape[0])
    data = data.sort_values([split_by_column, "random"])
    groups = data.groupby(split_by_column)
    data["count"] = groups[split_by_column].transform("count")
    data["rank"] = groups.cumcount() + 1
    data = data.drop("random", axis=1)
    condition = data["rank"] <= round(ratio * data["count"])
    return data[condition].drop(["rank", "count"], axis=1), data[~condition].drop(["rank", "count"], axis=1)


@pytest.mark.parametrize("seed", range(10))
@pytest.mark.parametrize("by", ["item", "user"])
def test_stratified_split_draws_what_recommenders_draws(seed, by):
    ratings = random_ratings(seed)
    train, test, summary = S.stratified_split(ratings, test_size=0.25, by=by, random_state=seed)
    ref_train, ref_test = recommenders_stratified_split(ratings, 0.75, by, seed)
    _assert_partition(ratings, train, test)
    assert set(train.index) == set(ref_train.index) and set(test.index) == set(ref_test.index)
    # each item (user) keeps round(0.75 n) of its n ratings, halves to even
    counts = ratings.groupby(f"{by}_id").size()
    kept = train.groupby(f"{by}_id").size().reindex(counts.index, fill_value=0)
    assert (kept == np.round(0.75 * counts)).all()
    assert summary["split"] == "stratified" and summary["by"] == by


def test_stratified_split_refuses_what_it_cannot_split(toy):
    with pytest.raises(ValueError, match="by must be one of 'item', 'user'; got 'movie'"):
        S.stratified_split(toy.ratings, by="movie")
    with pytest.raises(ValueError, match="test_size"):
        S.stratified_split(toy.ratings, test_size=1.5)
    with pytest.raises(ValueError, match="stratified_split leaves an empty test set"):
        S.stratified_split(toy.ratings.groupby("item_id").head(1), test_size=0.1)
