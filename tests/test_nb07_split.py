"""per_user_temporal_split: each user's own latest share goes to test, deterministically."""

import numpy as np
import pandas as pd
import pytest

from recsys_course import split as S


def random_ratings(seed, n_users=40, n_items=60, n=800):
    """Random ratings with many timestamp ties (the same generator as test_split.py)."""
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, n, replace=False)
    return pd.DataFrame({
        "user_id": pairs // n_items + 1,
        "item_id": pairs % n_items + 1,
        "rating": rng.integers(1, 6, n),
        "timestamp": pd.to_datetime(rng.integers(0, 200, n), unit="D", origin="1997-09-20"),
    })


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
