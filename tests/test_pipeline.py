"""The two-stage pipeline: candidates are the generators' union, the ranker learns only from the past, the
features are what they say, re-rank steps keep their promises, and bad settings are refused."""

import lightgbm as lgb
import numpy as np
import pandas as pd
import pytest

from recsys_course.data import GENRES
from recsys_course.models.baselines import Popularity
from recsys_course.models.implicit_mf import ImplicitALS
from recsys_course.models.linear import EASE
from recsys_course.pipeline import (
    FEATURES,
    TwoStage,
    candidate_recall,
    feature_names,
    ranking_data,
    reciprocal_rank_fusion,
)
from recsys_course.rerank import Diversify, GenreCap
from recsys_course.split import per_user_temporal_split

RANKER = {"objective": "lambdarank", "n_estimators": 20, "num_leaves": 7, "min_child_samples": 5, "deterministic": True,
              "force_row_wise": True, "n_jobs": 1, "random_state": 0, "verbose": -1}


@pytest.fixture(scope="module")
def data():
    """60 users in three taste groups over 90 movies of three genre blocks, with timestamps."""
    rng = np.random.default_rng(0)
    n_users, n_items = 60, 90
    rows = []
    for user in range(1, n_users + 1):
        liked = np.arange(30) + 30 * (user % 3) + 1
        items = np.unique(np.concatenate([rng.choice(liked, 14, replace=False), rng.choice(n_items, 4) + 1]))
        rows += [(user, item) for item in items]
    ratings = pd.DataFrame(rows, columns=["user_id", "item_id"])
    ratings["rating"] = rng.integers(1, 6, len(ratings))
    ratings["timestamp"] = pd.Timestamp("1998-01-01") + pd.to_timedelta(rng.integers(0, 90 * 86400, len(ratings)),
                                                                         unit="s")
    genre = [("Action", "Comedy", "Drama")[(i - 1) // 30] for i in range(1, n_items + 1)]
    movies = pd.DataFrame({"item_id": np.arange(1, n_items + 1), "title": [f"m{i}" for i in range(1, n_items + 1)],
                           "year": 1950 + np.arange(n_items) % 40, "genres": [[g] for g in genre]})
    for g in GENRES:
        movies[g] = [int(g == x) for x in genre]
    movies.loc[movies.item_id % 5 == 0, "Romance"] = 1  # some movies have two genres
    users = pd.DataFrame({"user_id": np.arange(1, n_users + 1), "age": 20 + np.arange(n_users) % 40,
                          "gender": np.where(np.arange(n_users) % 2, "F", "M"),
                          "occupation": np.where(np.arange(n_users) % 3, "writer", "student")})
    train, test, _ = per_user_temporal_split(ratings, 0.2)
    return train, test, movies, users


def generators():
    return {"iALS": ImplicitALS(n_factors=4, n_epochs=5, reg=1.0), "EASE": EASE(reg=10.0), "popularity": Popularity()}


@pytest.fixture(scope="module")
def built(data):
    train, _, movies, users = data
    return ranking_data(generators(), train, movies, users, n_candidates=10)


def test_candidates_are_the_union_of_each_generators_top_n_fitted_on_the_past_only(data, built):
    train, _, movies, users = data
    early, period, _ = per_user_temporal_split(train, 0.2, cold_start="keep")
    union = set()
    for model in generators().values():
        lists = model.fit(early, movies, users).recommend_batch(np.sort(period.user_id.unique()), n=10)
        union |= set(zip(lists.user_id, lists.item_id))
    assert set(zip(built.pairs.user_id, built.pairs.item_id)) == union
    assert not set(zip(early.user_id, early.item_id)) & union  # a user's earlier movies are never candidates
    # labels: exactly the candidates the user rated in the period
    in_period = set(zip(period.user_id, period.item_id))
    labels = {pair for pair, y in zip(zip(built.pairs.user_id, built.pairs.item_id), built.pairs.label) if y}
    assert labels == union & in_period and labels
    assert built.relevant.to_dict() == period.groupby("user_id").size().to_dict()
    assert list(built.group) == built.pairs.groupby("user_id", sort=False).size().tolist()
    assert built.pairs.user_id.is_monotonic_increasing


def test_features_match_a_slow_reference(data, built):
    train, _, movies, users = data
    early, _, _ = per_user_temporal_split(train, 0.2, cold_start="keep")
    assert list(built.X.columns) == feature_names(["iALS", "EASE", "popularity"]) and len(FEATURES) == 12
    genres = movies.set_index("item_id")[list(GENRES)]
    recent_start = early.timestamp.max() - pd.Timedelta(days=30)
    for j in np.random.default_rng(1).choice(len(built.pairs), 25, replace=False):
        user, item = built.pairs.user_id[j], built.pairs.item_id[j]
        x = built.X.iloc[j]
        mine = early[early.user_id == user].sort_values("timestamp", kind="stable")
        assert x["item popularity"] == (early.item_id == item).sum()
        assert x["item recent popularity"] == ((early.item_id == item) & (early.timestamp > recent_start)).sum()
        assert x["popularity score"] == x["item popularity"]
        assert x["item mean rating"] == pytest.approx(early.rating[early.item_id == item].mean())
        assert x["user activity"] == len(mine) and x["user mean rating"] == pytest.approx(mine.rating.mean())
        row = users.set_index("user_id").loc[user]
        assert x["user age"] == row.age and x["user gender"] == (row.gender == "F")
        g = genres.loc[item].to_numpy(float)
        share = genres.loc[mine.item_id].to_numpy(float)
        share /= share.sum(axis=1, keepdims=True)
        assert x["genre affinity"] == pytest.approx(share.mean(axis=0) @ g / g.sum())
        assert x["recent genre affinity"] == pytest.approx(share[-10:].mean(axis=0) @ g / g.sum())
        assert x["movie year"] == movies.set_index("item_id").year[item]
    # a generator's rank: 1 + the number of unseen items it scores higher (ties to the smaller id)
    model = ImplicitALS(n_factors=4, n_epochs=5, reg=1.0).fit(early, movies, users)
    j = int(np.flatnonzero(built.pairs.label.to_numpy())[0])
    user, item = built.pairs.user_id[j], built.pairs.item_id[j]
    scores = model.score([user]).iloc[0].drop(early.item_id[early.user_id == user])
    better = (scores > scores[item]) | ((scores == scores[item]) & (scores.index < item))
    assert built.X["iALS rank"][j] == 1 + better.sum()
    assert built.X["iALS score"][j] == pytest.approx(scores[item])


def test_without_a_ranker_the_lists_follow_reciprocal_rank_fusion(data):
    train, _, movies, users = data
    pipe = TwoStage(generators(), n_candidates=10).fit(train, movies, users)
    fitted = {name: model.fit(train, movies, users) for name, model in generators().items()}
    user = 7
    rank = {}
    for name, model in fitted.items():
        full = model.recommend(user, n=90)
        for r, item in enumerate(full.item_id, 1):
            rank.setdefault(item, {})[name] = r
    candidates = [i for i, ranks in rank.items() if min(ranks.values()) <= 10]
    fused = pd.Series({i: sum(1 / (60 + rank[i][name]) for name in fitted) for i in candidates})
    expected = fused.sort_values(ascending=False, kind="stable").index[:10]
    assert pipe.recommend(user, n=10).item_id.tolist() == sorted(expected, key=lambda i: (-fused[i], i))
    X = pd.DataFrame({"a rank": [1.0, 3.0], "b rank": [2.0, 1.0]})
    assert reciprocal_rank_fusion(X, ["a", "b"]) == pytest.approx([1 / 61 + 1 / 62, 1 / 63 + 1 / 61])


def test_a_ranker_fitted_on_prebuilt_data_is_the_ranker_fitted_on_its_own(data, built):
    train, _, movies, users = data
    a = TwoStage(generators(), lgb.LGBMRanker(**RANKER), n_candidates=10).fit(train, movies, users)
    b = TwoStage(generators(), lgb.LGBMRanker(**RANKER), n_candidates=10).fit(train, movies, users, training=built)
    assert a.recommend_batch(n=10).equals(b.recommend_batch(n=10))
    lists = b.recommend_batch(n=10)
    assert not set(zip(lists.user_id, lists.item_id)) & set(zip(train.user_id, train.item_id))
    assert set(b.stage_seconds_) == {"candidates", "features", "ranker", "rerank"}
    assert b.recommend(10_000, n=3).source.eq("popularity: unknown user").all()


def test_prebuilt_data_from_other_ratings_or_settings_is_refused(data, built):
    train, _, movies, users = data
    with pytest.raises(ValueError, match="other ratings, generators or settings"):
        TwoStage(generators(), lgb.LGBMRanker(**RANKER), n_candidates=20).fit(train, movies, users, training=built)
    with pytest.raises(ValueError, match="other ratings, generators or settings"):
        TwoStage(generators(), lgb.LGBMRanker(**RANKER), n_candidates=10).fit(train.iloc[1:], movies, users,
                                                                                training=built)


def test_genre_cap_holds_in_the_final_lists(data):
    train, _, movies, users = data
    genres = movies.set_index("item_id")[list(GENRES)]
    plain = TwoStage(generators(), n_candidates=30).fit(train, movies, users)
    capped = TwoStage(generators(), rerank=[Diversify(genres, 0.9), GenreCap(genres, 2)], n_candidates=30,
                      rerank_pool=30).fit(train, movies, users)
    before, after = plain.recommend_batch(n=5), capped.recommend_batch(n=5)
    per_genre = after.merge(genres, left_on="item_id", right_index=True).groupby("user_id")[list(GENRES)].sum()
    assert per_genre.to_numpy().max() <= 2
    per_genre_before = before.merge(genres, left_on="item_id", right_index=True).groupby("user_id")[list(GENRES)].sum()
    assert per_genre_before.to_numpy().max() > 2  # the rule had something to do
    pool = plain.recommend_batch(n=30)
    assert set(zip(after.user_id, after.item_id)) <= set(zip(pool.user_id, pool.item_id))
    assert capped.stage_seconds_["rerank"] > 0


def test_rerank_steps_on_a_hand_worked_list():
    genres = pd.DataFrame({"Drama": [1, 1, 1, 0, 1], "Comedy": [0, 0, 1, 1, 0]}, index=[1, 2, 3, 4, 5])
    items, scores = np.array([1, 2, 3, 4, 5]), np.array([5.0, 4, 3, 2, 1])
    assert GenreCap(genres, 2)(items, scores, 3)[0].tolist() == [1, 2, 4, 3, 5]
    assert GenreCap(genres, 1)(items, scores, 3)[0].tolist() == [1, 4, 2, 3, 5]  # the pool allows only 2: filled
    assert Diversify(genres, 1.0)(items, scores, 3)[0].tolist() == [1, 2, 3, 4, 5]
    assert Diversify(genres, 0.3)(items, scores, 2)[0].tolist()[:2] == [1, 4]
    with pytest.raises(ValueError, match="no row for item"):
        GenreCap(genres, 2)(np.array([1, 9]), np.array([1.0, 0.5]), 2)


def test_candidate_recall_counts_each_users_test_items():
    lists = pd.DataFrame({"user_id": [1, 1, 2], "item_id": [10, 11, 10]})
    test = pd.DataFrame({"user_id": [1, 1, 2, 3], "item_id": [10, 12, 11, 10]})
    assert candidate_recall(lists, test).to_dict() == {1: 0.5, 2: 0.0, 3: 0.0}


@pytest.mark.parametrize("kwargs, error, match", [
    ({"generators": {}}, ValueError, "non-empty mapping"),
    ({"generators": {"x": "not a model"}}, TypeError, "generator 'x' must be a recommender"),
    ({"generators": None}, ValueError, "non-empty mapping"),
    ({"n_candidates": 0}, ValueError, "n must be"),
    ({"rerank": [42]}, TypeError, "rerank step must be callable"),
    ({"rerank_pool": 0}, ValueError, "rerank_pool"),
    ({"ranking_model": lgb.LGBMRanker(**RANKER), "ranking_period": 1.5}, ValueError, "ranking_period must be between 0 and 1"),
])
def test_bad_settings_are_refused_with_a_message(data, kwargs, error, match):
    train, _, movies, users = data
    settings = {"generators": generators()} | kwargs
    with pytest.raises(error, match=match):
        TwoStage(**settings).fit(train, movies, users)


def test_a_variant_shares_the_fitted_stages_and_changes_only_what_it_is_told(data):
    train, _, movies, users = data
    genres = movies.set_index("item_id")[list(GENRES)]
    pipe = TwoStage(generators(), lgb.LGBMRanker(**RANKER), n_candidates=10).fit(train, movies, users)
    fused = pipe.variant(ranking_model=False)
    alone = TwoStage(generators(), n_candidates=10).fit(train, movies, users)
    assert fused.recommend_batch(n=5).equals(alone.recommend_batch(n=5))
    assert pipe.ranking_model_ is not None and fused.generators_ is pipe.generators_
    capped = pipe.variant(rerank=[GenreCap(genres, 1)])
    assert capped.ranking_model_ is pipe.ranking_model_ and pipe.rerank == ()
    assert not capped.recommend_batch(n=3).equals(pipe.recommend_batch(n=3))
    with pytest.raises(TypeError, match="rerank step must be callable"):
        pipe.variant(rerank=["cap"])
