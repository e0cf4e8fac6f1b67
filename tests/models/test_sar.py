"""SAR: the scores recommenders-team's SARSingleNode computes, written as they wrote them, and the protocol's errors."""

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys_course.models.sar import SAR


def _ratings(seed, n_users=30, n_items=20, n=200):
    rng = np.random.default_rng(seed)
    pairs = rng.choice(n_users * n_items, n, replace=False)
    return pd.DataFrame({"user_id": pairs // n_items + 1, "item_id": pairs % n_items + 1,
                         "rating": rng.integers(1, 6, n).astype(float),
                         "timestamp": pd.to_datetime(rng.integers(0, 400, n) * 86_400 + rng.integers(0, 86_400, n),
                                                     unit="s", origin="1997-09-20")})


def reference_scores(df, half_life_days):
    """sar_singlenode.py's fit + score(remove_seen=False), step by step with their formulas: the reference."""
    users, items = np.unique(df.user_id), np.unique(df.item_id)
    u, i = np.searchsorted(users, df.user_id), np.searchsorted(items, df.item_id)
    rating = df.rating.to_numpy(dtype=float)
    if half_life_days is not None:
        t = (df.timestamp - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s")
        rating = rating * np.minimum(1.0, np.power(0.5, (t.max() - t) / (half_life_days * 24 * 60 * 60)))
    affinity = sparse.coo_matrix((rating, (u, i)), shape=(len(users), len(items))).tocsr()
    hits = sparse.coo_matrix((np.repeat(1, len(df)), (u, i)), shape=(len(users), len(items))).tocsr()
    cooccurrence = hits.transpose().dot(hits)
    cooccurrence = cooccurrence.multiply(cooccurrence >= 1).astype(float)
    diag = cooccurrence.diagonal()
    with np.errstate(invalid="ignore", divide="ignore"):
        result = cooccurrence / (diag[:, None] + diag[None, :] - cooccurrence)
    jaccard = np.array(result) if isinstance(result, np.ndarray) else result.toarray()
    return affinity.dot(np.nan_to_num(jaccard))  # theirs leaves 0/0 = NaN for an item nobody rated: none here


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("half_life_days", [30, 7.5, None])
def test_scores_are_what_recommenders_sar_computes(seed, half_life_days):
    ratings = _ratings(seed)
    model = SAR(half_life_days=half_life_days).fit(ratings)
    expected = reference_scores(ratings, half_life_days)
    np.testing.assert_allclose(model.score(model.user_ids_).to_numpy(), expected, rtol=1e-12, atol=1e-12)


def test_timestamps_in_seconds_give_the_same_model():
    ratings = _ratings(0)
    seconds = ratings.assign(timestamp=(ratings.timestamp - pd.Timestamp("1970-01-01")) // pd.Timedelta("1s"))
    a, b = SAR().fit(ratings), SAR().fit(seconds)
    np.testing.assert_array_equal(a.affinity_.toarray(), b.affinity_.toarray())


def test_a_recent_rating_weighs_more_than_an_old_one():
    ratings = _ratings(1)
    model = SAR(half_life_days=30).fit(ratings)
    row = ratings.sort_values("timestamp")
    old, new = row.iloc[0], row.iloc[-1]
    weight = lambda r: model.affinity_[model.user_ids_.get_loc(r.user_id), model.item_ids_.get_loc(r.item_id)] / r.rating
    assert weight(new) == 1.0 and weight(old) < 0.01  # 400 days is over 13 half-lives


def test_bad_input_is_refused_with_what_to_do(toy):
    with pytest.raises(ValueError, match="half_life_days"):
        SAR(half_life_days=0).fit(toy.ratings)
    with pytest.raises(ValueError, match="needs a 'timestamp' column.*half_life_days=None"):
        SAR().fit(toy.ratings.drop(columns="timestamp"))
    assert SAR(half_life_days=None).fit(toy.ratings.drop(columns="timestamp")).recommend(1, n=2).shape[0] == 2
