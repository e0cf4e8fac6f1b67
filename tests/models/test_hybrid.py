"""HybridRecommender and the LightFM feature helpers, on a small slice of ml-100k and on hand-made frames."""

import numpy as np
import pandas as pd
import pytest

from recsys_course import data
from recsys_course.models.hybrid import HybridRecommender, age_band, build_features, item_feature_lists


@pytest.fixture(scope="module")
def small():
    """The 60 most active users of ml-100k with their ratings, and all movies and users."""
    try:
        ratings, movies, users = data.load_movielens_100k(download=False)
    except data.DataError as exc:
        pytest.skip(f"MovieLens-100k is not cached: {exc}")
    active = ratings.user_id.value_counts().index[:60]
    return ratings[ratings.user_id.isin(active)], movies, users


@pytest.mark.parametrize(("mode", "identity", "metadata"),
                         [("collaborative", True, False), ("content", False, True), ("hybrid", True, True)])
def test_feature_matrices_have_one_identity_column_per_user_and_item(small, mode, identity, metadata):
    _, movies, users = small
    dataset, uf, itf = build_features(users, movies, mode)
    n_user_meta = 7 + 2 + users.occupation.nunique() if metadata else 0  # age bands, genders, occupations
    n_item_meta = len(data.GENRES) + movies.year.dropna().floordiv(10).nunique() if metadata else 0
    assert uf.shape == (len(users), identity * len(users) + n_user_meta)
    assert itf.shape == (len(movies), identity * len(movies) + n_item_meta)
    np.testing.assert_allclose(np.asarray(uf.sum(axis=1)).ravel(), 1.0)  # rows normalised
    if identity:
        user_map, user_feature_map, _, _ = dataset.mapping()
        cols = [user_feature_map[u] for u in users.user_id]
        assert (uf[np.arange(len(users)), cols] > 0).all()  # each user has their own identity column


def test_item_features_by_hand(toy):
    feats = item_feature_lists(toy.movies)
    assert feats[1] == ["genre:Action", "genre:Sci-Fi", "genre:Thriller", "decade:2010s"]
    assert age_band(17) == "<18" and age_band(18) == "18-24" and age_band(56) == "56+"
    with pytest.raises(ValueError, match="age must be"):
        age_band(-3)


@pytest.fixture(scope="module")
def hybrid(small):
    ratings, movies, users = small
    return HybridRecommender(mode="hybrid", n_epochs=3, n_factors=8).fit(ratings, movies, users)


def test_scores_equal_lightfm_predict(hybrid, small):
    ratings, _, _ = small
    user = ratings.user_id.iloc[0]
    row = hybrid.user_ids_.get_loc(user)
    items = np.arange(len(hybrid.item_ids_), dtype=np.int32)
    expected = hybrid.model_.predict(np.full(len(items), row, dtype=np.int32), items,
                                     user_features=hybrid.user_features_, item_features=hybrid.item_features_)
    np.testing.assert_allclose(hybrid.score([user]).loc[user].to_numpy(), expected, rtol=1e-5, atol=1e-4)


def test_recommend_excludes_seen_and_respects_candidates(hybrid, small):
    ratings, _, _ = small
    user = ratings.user_id.iloc[0]
    recs = hybrid.recommend(user, n=10)
    assert len(recs) == 10 and not set(recs.item_id) & set(ratings[ratings.user_id == user].item_id)
    few = hybrid.recommend(user, n=3, candidates=[1, 2, 3, 4, 5, 6], exclude_seen=False)
    assert set(few.item_id) <= {1, 2, 3, 4, 5, 6} and few.score.is_monotonic_decreasing


def test_a_new_users_scores_are_lightfm_predict_on_their_feature_row(hybrid):
    row = hybrid.new_user_features(29, "F", "writer")
    assert row.nnz == 3 and np.isclose(row.sum(), 3 / 4)  # identity weight left at 0
    items = np.arange(len(hybrid.item_ids_), dtype=np.int32)
    predicted = hybrid.model_.predict(np.zeros(len(items), dtype=np.int32), items, user_features=row,
                                      item_features=hybrid.item_features_)
    expected = pd.Series(predicted, index=hybrid.item_ids_).sort_values(ascending=False, kind="stable")
    recs = hybrid.recommend_new_user(age=29, gender="F", occupation="writer", n=5)
    assert recs["item_id"].tolist() == expected.index[:5].tolist()
    np.testing.assert_allclose(recs["score"], expected.iloc[:5], rtol=1e-5, atol=1e-4)


def test_unknown_user_falls_back_and_bad_features_give_clear_errors(hybrid, small):
    assert (hybrid.recommend(99999)["source"] == "popularity: unknown user").all()
    with pytest.raises(ValueError, match=r"never seen in training; known occupations: .*writer"):
        hybrid.recommend_new_user(age=30, gender="F", occupation="astronaut")
    ratings, movies, users = small
    cf = HybridRecommender(mode="collaborative", n_epochs=1).fit(ratings, movies, users)
    with pytest.raises(ValueError, match="no features to describe a new user"):
        cf.recommend_new_user(age=30, gender="F", occupation="writer")
    with pytest.raises(ValueError, match="mode must be one of"):
        build_features(users, movies, "magic")


def test_training_is_reproducible(small):
    ratings, movies, users = small
    a, b = (HybridRecommender(n_epochs=2, n_factors=8, random_state=3).fit(ratings, movies, users) for _ in range(2))
    np.testing.assert_array_equal(a.model_.item_embeddings, b.model_.item_embeddings)


def test_feature_embeddings_are_named(hybrid):
    emb = hybrid.item_feature_embeddings()
    assert "genre:Film-Noir" in emb.index and "decade:1970s" in emb.index and emb.shape[1] == 8


def test_negative_threshold_adds_explicit_negatives(small):
    ratings, movies, users = small
    model = HybridRecommender(loss="logistic", negative_threshold=2, n_epochs=1).fit(ratings, movies, users)
    values = model.interactions_.data
    assert (values == -1).sum() == (ratings.rating <= 2).sum() and (values == 1).sum() == (ratings.rating >= 4).sum()
