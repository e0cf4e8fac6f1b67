"""SurpriseModel: the wrapper answers exactly what the wrapped Surprise algorithm answers."""

import numpy as np
import pytest
from surprise import SVD, BaselineOnly, Dataset, KNNBasic, Reader

from recsys_course import data
from recsys_course.models.base import NotFittedError
from recsys_course.models.external import SurpriseModel


@pytest.fixture(scope="module")
def ml100k_sample():
    """6,000 real ratings: enough for every algorithm to have both known and impossible cases."""
    try:
        ratings = data.load_movielens_100k(download=False).ratings
    except data.DataError as exc:
        pytest.skip(f"MovieLens-100k is not cached: {exc}")
    return ratings.sample(6_000, random_state=11)[["user_id", "item_id", "rating"]]


def _surprise_answers(algo, ratings, users, items):
    trainset = Dataset.load_from_df(ratings[["user_id", "item_id", "rating"]], Reader(rating_scale=(1, 5)))
    algo.fit(trainset.build_full_trainset())
    predictions = [algo.predict(u, i, clip=False) for u, i in zip(users, items)]
    return (np.array([p.est for p in predictions]),
            np.array([p.details.get("was_impossible", False) for p in predictions]))


def _grid_with_unknowns(ratings):
    users = [*np.sort(ratings.user_id.unique())[:30], 10_001]
    items = [*np.sort(ratings.item_id.unique())[:40], 20_002]
    return np.repeat(users, len(items)), np.tile(items, len(users))


@pytest.mark.parametrize("make", [
    lambda: SVD(n_factors=5, n_epochs=5, random_state=0),
    lambda: SVD(n_factors=5, n_epochs=5, biased=False, random_state=0),
    lambda: BaselineOnly(verbose=False),
    lambda: KNNBasic(k=5, verbose=False),
], ids=["SVD", "SVD-unbiased", "BaselineOnly", "KNNBasic"])
def test_predictions_equal_surprise(ml100k_sample, make):
    users, items = _grid_with_unknowns(ml100k_sample)
    expected, impossible = _surprise_answers(make(), ml100k_sample, users, items)
    got = SurpriseModel(make()).fit(ml100k_sample).predict(users, items, clip=False, details=True)
    np.testing.assert_allclose(got["estimate"], expected, atol=1e-9)
    known = (got["reason"] == "").to_numpy()
    assert (got["was_impossible"].to_numpy()[known] == impossible[known]).all()
    assert (~known).any()


def test_the_algorithm_passed_in_stays_unfitted(toy):
    algo = SVD(n_factors=2, n_epochs=2, random_state=0)
    model = SurpriseModel(algo).fit(toy.ratings)
    assert not hasattr(algo, "pu") and hasattr(model.algo_, "pu")


def test_ranker_equals_recommend(toy):
    model = SurpriseModel(SVD(n_factors=2, n_epochs=10, random_state=0)).fit(toy.ratings)
    ranker = model.ranker()
    for user in toy.ratings.user_id.unique():
        assert ranker.recommend(user, n=3)["item_id"].tolist() == model.recommend(user, n=3)["item_id"].tolist()
    np.testing.assert_allclose(ranker.predict([1], [8]), model.predict([1], [8]))


def test_unfitted(toy):
    with pytest.raises(NotFittedError, match="SurpriseModel is not fitted"):
        SurpriseModel(SVD()).predict([1], [2])
