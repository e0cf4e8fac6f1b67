"""Every recommender of the package through the one protocol.

fit(ratings, movies, users) returns the model; score() is a users x items frame; recommend() and
recommend_batch() give the same lists, ranked from score() with seen items excluded, restricted to
candidates when asked, ties to the smaller id; an unknown user gets the popularity fallback, marked in
`source`, through the model, its ranker() and MMR alike; clone() gives an unfitted copy with the same
parameters.
"""

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone
from surprise import SVD

from recsys_course.data import GENRES
from recsys_course.models.base import NotFittedError
from recsys_course.models.baselines import BaselineModel, Popularity
from recsys_course.models.bpr import BPR
from recsys_course.models.content import ContentRecommender
from recsys_course.models.external import SurpriseModel
from recsys_course.models.hybrid import HybridRecommender
from recsys_course.models.implicit_mf import ImplicitALS
from recsys_course.models.knn import ImplicitItemKNN, ItemKNN, UserKNN
from recsys_course.models.linear import EASE
from recsys_course.models.mf import ALS, FunkSVD
from recsys_course.models.ncf import NCF
from recsys_course.models.next_item import MarkovChain, RecentItemKNN, RecentPopularity
from recsys_course.models.sar import SAR
from recsys_course.models.two_tower import TwoTower
from recsys_course.pipeline import TwoStage
from recsys_course.ranking import rank_by_score
from recsys_course.rerank import MMR

MODELS = {
    "Popularity": lambda: Popularity(),
    "BaselineModel": lambda: BaselineModel(),
    "FunkSVD": lambda: FunkSVD(n_factors=3, n_epochs=10),
    "ALS": lambda: ALS(n_factors=2, n_epochs=3, reg=1.0),
    "UserKNN": lambda: UserKNN(n_neighbors=2),
    "ItemKNN": lambda: ItemKNN(n_neighbors=2),
    "ImplicitItemKNN": lambda: ImplicitItemKNN(n_neighbors=3),
    "EASE": lambda: EASE(reg=1.0),
    "ImplicitALS": lambda: ImplicitALS(n_factors=2, n_epochs=3),
    "BPR": lambda: BPR(n_factors=2, n_epochs=5),
    "SAR": lambda: SAR(),
    "SurpriseModel": lambda: SurpriseModel(SVD(n_factors=2, n_epochs=5, random_state=0)),
    "ContentRecommender": lambda: ContentRecommender(),
    "HybridRecommender": lambda: HybridRecommender(n_factors=4, n_epochs=3),
    "NCF": lambda: NCF("gmf", n_factors=4, n_epochs=2, batch_size=8),
    "TwoTower": lambda: TwoTower(dim=4, hidden=8, history=2, n_epochs=2, batch_size=8),
    "RecentPopularity": lambda: RecentPopularity(window_days=10),
    "MarkovChain": lambda: MarkovChain(),
    "RecentItemKNN": lambda: RecentItemKNN(n_recent=2, n_neighbors=3),
    "TwoStage": lambda: TwoStage({"EASE": EASE(reg=1.0), "popularity": Popularity()}),  # every toy movie a candidate
}


@pytest.fixture(scope="module", params=list(MODELS))
def fitted(request, toy):
    users = toy.users.assign(age=30, gender="F", occupation="writer")  # the toy users have no demographics
    return MODELS[request.param]().fit(toy.ratings, toy.movies, users), toy


def test_fit_returns_the_model_with_ids_in_sorted_order(fitted):
    model, toy = fitted
    assert model.user_ids_.is_monotonic_increasing and model.item_ids_.is_monotonic_increasing
    assert set(toy.ratings.user_id) <= set(model.user_ids_) and set(toy.ratings.item_id) <= set(model.item_ids_)


def test_recommend_ranks_the_scores_of_unseen_items(fitted):
    model, toy = fitted
    table = model.score(model.user_ids_)
    assert table.shape == (len(model.user_ids_), len(model.item_ids_))
    for user in toy.ratings.user_id.unique():
        seen = set(toy.ratings.loc[toy.ratings.user_id == user, "item_id"])
        row = table.loc[user].drop(list(seen)).dropna()
        got = model.recommend(user, n=5)
        assert got["item_id"].tolist() == rank_by_score(row, 5)
        np.testing.assert_allclose(got["score"], row[got["item_id"]].to_numpy())
        assert (got["source"] == "model").all()
        everything = model.recommend(user, n=5, exclude_seen=False)["item_id"].tolist()
        # -inf marks what a model will not list (TwoStage: its candidates never include rated movies)
        assert everything == rank_by_score(table.loc[user].replace(-np.inf, np.nan).dropna(), 5)


def test_recommend_batch_is_recommend_for_every_user(fitted):
    model, _ = fitted
    users = [*model.user_ids_[::-1], 999]
    batch = model.recommend_batch(users, n=3)
    assert batch["user_id"].unique().tolist() == users
    for user, lists in batch.groupby("user_id", sort=False):
        one = model.recommend(user, n=3)
        assert lists["item_id"].tolist() == one["item_id"].tolist()
        assert lists["rank"].tolist() == list(range(1, len(one) + 1))
        assert lists["source"].tolist() == one["source"].tolist()


def test_candidates_restrict_the_list(fitted):
    model, toy = fitted
    candidates = [2, 4, 6, 8, 1234]  # 1234: unknown to the model, skipped
    table = model.score([1], [2, 4, 6, 8]).loc[1].replace(-np.inf, np.nan).dropna()
    got = model.recommend(1, n=10, exclude_seen=False, candidates=candidates)
    assert got["item_id"].tolist() == rank_by_score(table)
    assert model.ranker(candidates).recommend(1, n=10, exclude_seen=False).equals(got)


def test_an_unknown_user_gets_popularity_through_every_path(fitted):
    model, toy = fitted
    popular = rank_by_score(toy.ratings.groupby("item_id").size())
    expected = [i for i in popular if i in set(model.item_ids_)][:3]
    genres = toy.movies.set_index("item_id")[list(GENRES)]
    for path in (model, model.ranker(), MMR(model, genres, lambda_=1.0, pool=5)):
        got = path.recommend(999, n=3)
        assert got["item_id"].tolist() == expected, type(path).__name__
        assert (got["source"] == "popularity: unknown user").all()
    assert model.score([999]).isna().all().all()


def test_clone_gives_an_unfitted_copy_with_the_same_parameters(fitted):
    model, toy = fitted
    copy = clone(model)
    assert copy.get_params().keys() == model.get_params().keys()
    assert repr(copy) == repr(model) and type(model).__name__ in repr(model)
    with pytest.raises(NotFittedError, match="is not fitted yet"):
        copy.recommend(1)


def test_set_params_changes_what_fit_learns(toy):
    model = FunkSVD(n_factors=2, n_epochs=3)
    assert model.set_params(n_factors=4) is model and model.fit(toy.ratings).P_.shape[1] == 4


def test_an_epoch_callback_only_where_there_are_epochs(toy):
    epochs = []
    FunkSVD(n_factors=2, n_epochs=3).fit(toy.ratings, epoch_callback=lambda model, epoch: epochs.append(epoch))
    assert epochs == [1, 2, 3]
    with pytest.raises(ValueError, match="UserKNN does not train in epochs"):
        UserKNN().fit(toy.ratings, epoch_callback=print)


def test_blocks_give_the_same_lists_as_one_pass(toy):
    model = FunkSVD(n_factors=3, n_epochs=5).fit(toy.ratings)
    one = model.recommend_batch(n=4)
    pd.testing.assert_frame_equal(model.recommend_batch(n=4, batch_size=2), one)
