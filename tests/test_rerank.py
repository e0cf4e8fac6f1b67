"""MMR re-ranking against a plain loop of the formula, and its two extremes."""

import numpy as np
import pandas as pd
import pytest

from recsys_course.data import GENRES
from recsys_course.metrics import intra_list_diversity
from recsys_course.models.mf import FunkSVD
from recsys_course.ranking import rank_by_score
from recsys_course.rerank import MMR, mmr


def reference_mmr(scores: dict, features: dict, n: int, lam: float) -> list:
    """MMR written straight from Carbonell & Goldstein, with dicts and loops."""
    lo, hi = min(scores.values()), max(scores.values())
    rel = {i: (s - lo) / (hi - lo) if hi > lo else 1.0 for i, s in scores.items()}

    def cos(a, b):
        x, y = np.asarray(features[a], float), np.asarray(features[b], float)
        nx, ny = np.linalg.norm(x), np.linalg.norm(y)
        return float(x @ y / (nx * ny)) if nx and ny else 0.0

    model_order = sorted(scores, key=lambda i: (-scores[i], i))
    chosen = []
    while len(chosen) < min(n, len(scores)):
        def value(i):
            penalty = max((cos(i, j) for j in chosen), default=0.0)
            return lam * rel[i] - (1 - lam) * penalty
        rest = [i for i in model_order if i not in chosen]
        best = max(rest, key=lambda i: (value(i), -model_order.index(i)))
        chosen.append(best)
    return chosen


@pytest.mark.parametrize("lam", [0.0, 0.3, 0.5, 0.7, 0.9, 1.0])
@pytest.mark.parametrize("seed", range(5))
def test_mmr_equals_the_reference_loop(lam, seed):
    rng = np.random.default_rng(seed)
    items = list(range(100, 130))
    scores = dict(zip(items, np.round(rng.normal(size=30), 1)))       # rounded: ties happen
    features = {i: rng.integers(0, 2, 6) for i in items}                # 0/1 genres, some all-zero
    frame = pd.DataFrame.from_dict(features, orient="index")
    got = mmr(pd.Series(scores), frame, n=10, lambda_=lam)
    assert got == reference_mmr(scores, features, 10, lam)


def test_lambda_one_is_the_model_order_and_lambda_zero_spreads_out():
    rng = np.random.default_rng(0)
    scores = pd.Series(rng.random(40), index=range(40))
    features = pd.DataFrame(rng.integers(0, 2, (40, 5)), index=range(40))
    assert mmr(scores, features, n=10, lambda_=1.0) == rank_by_score(scores, 10)
    plain = {0: rank_by_score(scores, 10)}
    diverse = {0: mmr(scores, features, n=10, lambda_=0.0)}
    assert intra_list_diversity(diverse, features) > intra_list_diversity(plain, features)


def test_wrapper_reranks_the_base_models_pool(toy):
    class Base:
        def recommend(self, user_id, n=10, exclude_seen=True, candidates=None):
            return pd.DataFrame({"item_id": list(range(1, 9))[:n], "score": np.linspace(1, 0, 8)[:n],
                                 "source": "model"})

    genres = toy.movies.set_index("item_id")[list(GENRES)]
    wrapped = MMR(Base(), genres, lambda_=1.0, pool=8)
    assert wrapped.recommend(1, n=3)["item_id"].tolist() == [1, 2, 3]
    low = MMR(Base(), genres, lambda_=0.2, pool=8).recommend(1, n=3)
    assert low["item_id"].tolist() == mmr(pd.Series(np.linspace(1, 0, 8), index=range(1, 9)), genres, 3, 0.2)
    assert low["item_id"].iloc[0] == 1


def test_its_scores_keep_its_order_and_the_base_models_exclusions(toy):
    """The MMR value at each pick never increases, so sorting a list by score keeps MMR's order (the bug:
    the base model's scores came back in MMR order, and re-sorting undid the re-ranking)."""
    model = FunkSVD(n_factors=3, n_epochs=10).fit(toy.ratings)
    genres = toy.movies.set_index("item_id")[list(GENRES)]
    reranked = MMR(model, genres, lambda_=0.3, pool=8)
    for user in toy.ratings.user_id.unique():
        lists = reranked.recommend(user, n=4)
        assert lists["score"].is_monotonic_decreasing
        assert lists["item_id"].tolist() == rank_by_score(lists.set_index("item_id")["score"])
        assert not set(lists["item_id"]) & set(toy.ratings.loc[toy.ratings.user_id == user, "item_id"])
    batch = reranked.recommend_batch([1, 2], n=4)
    assert batch.groupby("user_id")["item_id"].agg(list).to_dict() == {
        u: reranked.recommend(u, n=4)["item_id"].tolist() for u in (1, 2)}


def test_bad_input():
    scores = pd.Series({"a": 1.0, "b": 0.5})
    features = pd.DataFrame({"x": [1, 0]}, index=["a", "b"])
    with pytest.raises(ValueError, match="lambda_ must be between 0 and 1, got 1.5"):
        mmr(scores, features, lambda_=1.5)
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        mmr(scores, features, n=0)
    with pytest.raises(ValueError, match=r"no row for item\(s\) \['c'\]"):
        mmr(pd.Series({"a": 1.0, "c": 2.0}), features)
    assert mmr(pd.Series(dtype=float), features) == []
    with pytest.raises(ValueError, match="lambda_ must be between 0 and 1"):
        MMR(None, features, lambda_=-0.1)
