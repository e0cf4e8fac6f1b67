"""RatingModel.score_table / ranker and ScoredRecommender: the fast path gives the slow path's lists."""

import numpy as np
import pandas as pd
import pytest

from recsys_course.metrics import evaluate
from recsys_course.models.base import ScoredRecommender
from recsys_course.models.knn import ItemKNN, UserKNN
from recsys_course.models.mf import FunkSVD


@pytest.mark.parametrize("make", [lambda: UserKNN(k=2), lambda: ItemKNN(k=2), lambda: FunkSVD(n_factors=2, n_epochs=5)],
                         ids=["UserKNN", "ItemKNN", "FunkSVD"])
def test_ranker_gives_the_lists_of_recommend(toy, make):
    model = make().fit(toy.ratings)
    ranker = model.ranker()
    for user in toy.ratings.user_id.unique():
        slow, fast = model.recommend(user, n=5), ranker.recommend(user, n=5)
        assert fast["item_id"].tolist() == slow["item_id"].tolist()
        np.testing.assert_allclose(fast["score"], slow["score"])


def test_score_table_is_the_unclipped_prediction_grid(toy):
    model = FunkSVD(n_factors=2, n_epochs=50, lr=0.05).fit(toy.ratings)
    table = model.score_table(user_ids=[1, 2], item_ids=[8, 3, 99])
    assert table.shape == (2, 3) and list(table.columns) == [8, 3, 99]
    for user in (1, 2):
        np.testing.assert_allclose(table.loc[user], model.predict([user] * 3, [8, 3, 99], clip=False))
    assert table.to_numpy().max() > 5  # unclipped: no artificial ties at 5 stars


def test_ranker_restricted_to_candidates_keeps_predict(toy):
    model = UserKNN(k=2).fit(toy.ratings)
    ranker = model.ranker(candidates=[1, 2, 3])
    assert set(ranker.recommend(5, n=10)["item_id"]) <= {1, 2, 3}
    row = evaluate(ranker, toy.ratings.iloc[:15], toy.ratings.iloc[15:], k=2, metrics=["precision"])
    assert {"rmse", "mae"} <= set(row.columns)


def test_scored_recommender_without_a_model_has_no_predict():
    table = pd.DataFrame([[0.1, 0.9, 0.5], [0.3, 0.2, 0.1]], index=[7, 8], columns=["a", "b", "c"])
    ranker = ScoredRecommender(table, seen={7: ["b"]})
    assert not hasattr(ranker, "predict")
    assert ranker.recommend(7, n=3)["item_id"].tolist() == ["c", "a"]
    assert ranker.recommend(7, n=3, exclude_seen=False)["item_id"].tolist() == ["b", "c", "a"]
    with pytest.raises(KeyError, match="user_id 9 has no row"):
        ranker.recommend(9)
    with pytest.raises(ValueError, match="n must be an integer >= 1"):
        ranker.recommend(7, n=0)
    with pytest.raises(ValueError, match="one row per user"):
        ScoredRecommender(pd.concat([table, table]))
