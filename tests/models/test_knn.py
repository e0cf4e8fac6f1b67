"""UserKNN / ItemKNN: against a slow reference loop on the toy data and against Surprise on ml-100k."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
from surprise import Dataset, KNNWithMeans, Reader

from recsys_course import data, similarity
from recsys_course.ranking import rank_by_score
from recsys_course.models.base import NotFittedError
from recsys_course.models.knn import ImplicitItemKNN, ItemKNN, UserKNN

# ------------------------------------------------------------ a slow reference


def _reference_sim(a: dict, b: dict, kind: str, min_support: int, shrinkage: float) -> float:
    common = [c for c in a if c in b]
    n = len(common)
    if n < min_support or n == 0:
        return 0.0
    x = np.array([a[c] for c in common], float)
    y = np.array([b[c] for c in common], float)
    if kind == "pearson":
        x, y = x - x.mean(), y - y.mean()
    den = math.sqrt((x**2).sum() * (y**2).sum())
    sim = float(x @ y / den) if den else 0.0
    if shrinkage:
        sim *= (n - 1) / (n - 1 + shrinkage) if n > 1 else 0.0
    return sim


def reference_predict(ratings, user, item, *, k, sim, user_based, min_support=1, shrinkage=0.0):
    """KNNWithMeans, one prediction, written as plainly as possible."""
    x_col, y_col = ("user_id", "item_id") if user_based else ("item_id", "user_id")
    x, y = (user, item) if user_based else (item, user)
    profiles = {key: dict(zip(g[y_col], g["rating"])) for key, g in ratings.groupby(x_col, sort=False)}
    mean = {key: np.mean(list(p.values())) for key, p in profiles.items()}
    # candidates: whoever rated y, in the order their ratings appear
    candidates = [(row[x_col], row["rating"]) for _, row in ratings.iterrows() if row[y_col] == y]
    scored = [(nb, _reference_sim(profiles[x], profiles[nb], sim, min_support, shrinkage) if nb != x else 1.0, r)
              for nb, r in candidates]
    top = sorted(scored, key=lambda t: t[1], reverse=True)[:k]  # sorted() is stable: ties keep their order
    used = [(nb, s, r) for nb, s, r in top if s > 0]
    if not used:
        return float(np.clip(mean[x], 1, 5))
    est = mean[x] + sum(s * (r - mean[nb]) for nb, s, r in used) / sum(s for _, s, _ in used)
    return float(np.clip(est, 1, 5))


@pytest.mark.parametrize("model_cls", [UserKNN, ItemKNN])
@pytest.mark.parametrize("sim", ["cosine", "pearson"])
@pytest.mark.parametrize(("k", "min_support", "shrinkage"), [(1, 1, 0), (2, 1, 0), (3, 2, 0), (40, 1, 0), (2, 1, 5.0)])
def test_toy_predictions_equal_the_reference_loop(toy, model_cls, sim, k, min_support, shrinkage):
    ratings = toy.ratings
    model = model_cls(n_neighbors=k, sim=sim, min_support=min_support, shrinkage=shrinkage).fit(ratings)
    cells = list(itertools.product(range(1, 6), range(1, 9)))
    got = model.predict([u for u, _ in cells], [i for _, i in cells])
    expected = [reference_predict(ratings, u, i, k=k, sim=sim, user_based=model_cls is UserKNN,
                                  min_support=min_support, shrinkage=shrinkage) for u, i in cells]
    np.testing.assert_allclose(got, expected, atol=1e-12)


def test_similarities_equal_the_reference_on_toy(toy):
    R = data.rating_matrix(toy.ratings)
    profiles = {u: dict(zip(g.item_id, g.rating)) for u, g in toy.ratings.groupby("user_id")}
    for kind, fn in (("cosine", similarity.cosine), ("pearson", similarity.pearson)):
        S = fn(R)
        for a, b in itertools.combinations(range(1, 6), 2):
            assert S[a - 1, b - 1] == pytest.approx(_reference_sim(profiles[a], profiles[b], kind, 1, 0), abs=1e-12)


def test_shrinkage_by_hand():
    sim = np.array([[1.0, 0.8], [0.8, 1.0]])
    n = np.array([[5, 5], [5, 5]])
    shrunk = similarity.shrink(sim, n, shrinkage=4)
    assert shrunk[0, 1] == pytest.approx(0.8 * 4 / 8) and shrunk[0, 0] == 1.0
    with pytest.raises(ValueError, match="shrinkage must be >= 0"):
        similarity.shrink(sim, n, -1)


# ---------------------------------------------------------------- vs Surprise


@pytest.fixture(scope="module")
def sample():
    """A fixed 5,000-rating sample of ml-100k as training data, and 3,000 query pairs."""
    try:
        ratings = data.load_movielens_100k(download=False).ratings
    except data.DataError as exc:  # `make test` fetches the data first; a bare pytest may not have it
        pytest.skip(f"MovieLens-100k is not cached: {exc}")
    train = ratings.sample(5_000, random_state=7)[["user_id", "item_id", "rating"]]
    rng = np.random.default_rng(7)
    users = rng.choice(ratings.user_id.unique(), 3_000)
    items = rng.choice(ratings.item_id.unique(), 3_000)
    return train, users, items


def _surprise_predictions(train, users, items, **params):
    trainset = Dataset.load_from_df(train, Reader(rating_scale=(1, 5))).build_full_trainset()
    algo = KNNWithMeans(k=params["k"], min_k=1, verbose=False,
                        sim_options={"name": params["sim"], "user_based": params["user_based"],
                                     "min_support": params["min_support"]})
    algo.fit(trainset)
    predictions = [algo.predict(u, i) for u, i in zip(users, items)]
    est = np.array([p.est for p in predictions])
    impossible = np.array([p.details.get("was_impossible", False) for p in predictions])
    return est, impossible


@pytest.mark.parametrize("model_cls", [UserKNN, ItemKNN])
@pytest.mark.parametrize("sim", ["cosine", "pearson"])
@pytest.mark.parametrize(("k", "min_support"), [(40, 1), (5, 1), (10, 2)])
def test_agrees_with_surprise_knnwithmeans(sample, model_cls, sim, k, min_support):
    train, users, items = sample
    user_based = model_cls is UserKNN
    expected, impossible = _surprise_predictions(train, users, items, k=k, sim=sim, user_based=user_based,
                                                 min_support=min_support)
    model = model_cls(n_neighbors=k, sim=sim, min_support=min_support).fit(train)
    got = model.predict(users, items, details=True)
    np.testing.assert_allclose(got["estimate"], expected, atol=1e-6)
    assert (got["was_impossible"].to_numpy() == impossible).all()
    assert 0 < impossible.sum() < len(users)  # the sample exercises both paths


# ------------------------------------------------------------ behaviour, errors


def test_unknown_users_and_items_fall_back_to_the_global_mean(toy):
    model = UserKNN().fit(toy.ratings)
    out = model.predict([1, 99, 1], [1, 1, 999], details=True)
    assert out["was_impossible"].tolist() == [False, True, True]
    assert out["reason"].tolist() == ["", "unknown user", "unknown item"]
    assert out["estimate"].iloc[1] == pytest.approx(toy.ratings.rating.mean())


def test_recommend_excludes_seen_items_and_handles_unknown_users(toy):
    model = ItemKNN(n_neighbors=3).fit(toy.ratings)
    recs = model.recommend(1, n=3)
    alice_seen = set(toy.ratings.query("user_id == 1").item_id)
    assert len(recs) == 3 and not alice_seen & set(recs.item_id)
    assert (recs.source == "model").all() and recs.score.is_monotonic_decreasing
    fallback = model.recommend(42, n=2)
    assert (fallback.source == "popularity: unknown user").all() and len(fallback) == 2
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        model.recommend(1, n=0)


def test_neighbours_explain_a_prediction(toy):
    model = UserKNN(n_neighbors=2).fit(toy.ratings)
    nbs = model.neighbours(1, 8)  # who rated The Avengers, most similar to Alice first
    assert nbs.neighbour.tolist()[0] == 2 and nbs.used.tolist() == [True, False, False]
    used = nbs[nbs.used]
    weighted = (used.similarity * (used.rating - used.neighbour_mean)).sum() / used.similarity.sum()
    est = model.means_[model.user_ids_.get_loc(1)] + weighted
    assert model.predict([1], [8])[0] == pytest.approx(est)
    with pytest.raises(KeyError, match="unknown item 999"):
        model.neighbours(1, 999)


@pytest.mark.parametrize(("params", "message"), [
    ({"n_neighbors": 0}, "n_neighbors must be an integer >= 1, got 0"),
    ({"sim": "jaccard"}, "sim must be one of"),
    ({"min_neighbors": 0}, "min_neighbors must be"),
])
def test_bad_parameters_are_named(toy, params, message):
    with pytest.raises(ValueError, match=message):
        UserKNN(**params).fit(toy.ratings)


def test_bad_input_and_unfitted_use(toy):
    with pytest.raises(NotFittedError, match="not fitted yet"):
        UserKNN().predict([1], [1])
    with pytest.raises(ValueError, match="missing"):
        UserKNN().fit(toy.ratings.drop(columns="rating"))
    with pytest.raises(ValueError, match="empty"):
        UserKNN().fit(toy.ratings.iloc[:0])
    with pytest.raises(ValueError, match=r"repeated \(user_id, item_id\) pair"):
        UserKNN().fit(pd.concat([toy.ratings, toy.ratings.iloc[:1]]))


def test_the_sample_has_ties_at_the_kth_neighbour(sample):
    """Cosine on few co-rated items gives many exact ties (often 1.0): the Surprise test above
    only proves the tie rule (first rating in the training data wins) because such cases exist."""
    train, users, items = sample
    model = UserKNN(n_neighbors=5, sim="cosine").fit(train)
    known = [(u, i) for u, i in zip(users, items) if u in model.user_ids_ and i in model.item_ids_]
    ties = 0
    for u, i in known:
        s = model.neighbours(u, i).similarity.to_numpy()
        ties += len(s) > 5 and s[4] == s[5] > 0
    assert ties >= 5


# ------------------------------------------------------------ implicit item-kNN


def reference_implicit_scores(ratings, user, k, shrinkage=0.0):
    """Implicit item-kNN scores of every item for one user, with plain loops."""
    who = {item: set(g["user_id"]) for item, g in ratings.groupby("item_id")}
    items = sorted(who)
    def sim(a, b):
        return len(who[a] & who[b]) / (math.sqrt(len(who[a]) * len(who[b])) + shrinkage)
    mine = set(ratings.loc[ratings.user_id == user, "item_id"])
    scores = {}
    for j in items:
        others = sorted((i for i in items if i != j), key=lambda i: (-sim(i, j), i))[:k]
        scores[j] = sum(sim(i, j) for i in others if i in mine)
    return pd.Series(scores)


@pytest.mark.parametrize(("k", "shrinkage"), [(1, 0.0), (2, 0.0), (3, 1.0), (7, 0.0), (100, 0.5)])
def test_implicit_scores_equal_the_reference_loop(toy, k, shrinkage):
    model = ImplicitItemKNN(n_neighbors=k, shrinkage=shrinkage).fit(toy.ratings)
    table = model.score(model.user_ids_)
    for user in table.index:
        expected = reference_implicit_scores(toy.ratings, user, k, shrinkage)
        np.testing.assert_allclose(table.loc[user, expected.index], expected, atol=1e-12)


def test_implicit_similarity_agrees_with_scikit_learn(sample):
    from sklearn.metrics.pairwise import cosine_similarity

    train, _, _ = sample
    model = ImplicitItemKNN(n_neighbors=10_000).fit(train)
    X = pd.crosstab(train.user_id, train.item_id).reindex(columns=model.item_ids_).to_numpy() > 0
    expected = cosine_similarity(X.T.astype(float))
    np.fill_diagonal(expected, 0.0)
    np.testing.assert_allclose(model.similarity_, expected, atol=1e-12)
    np.testing.assert_allclose(model.weights_.toarray(), expected, atol=1e-12)  # k >= items: nothing dropped


def test_implicit_keeps_k_neighbours_per_item_on_real_data(sample):
    train, _, _ = sample
    model = ImplicitItemKNN(n_neighbors=20).fit(train)
    kept = np.asarray((model.weights_ > 0).sum(axis=0)).ravel()
    assert kept.max() <= 20 and np.median(kept) == 20
    subset = train[train.item_id.isin(model.item_ids_[:80])]
    user = subset.user_id.iloc[0]
    expected = reference_implicit_scores(subset, user, 20)
    small = ImplicitItemKNN(n_neighbors=20).fit(subset)
    np.testing.assert_allclose(small.score([user]).loc[user, expected.index], expected, atol=1e-12)


def test_implicit_recommend_ranks_the_scores_and_excludes_seen(toy):
    model = ImplicitItemKNN(n_neighbors=3).fit(toy.ratings)
    seen = set(toy.ratings.loc[toy.ratings.user_id == 1, "item_id"])
    row = model.score([1]).loc[1]
    top = model.recommend(1, n=10)
    assert top["item_id"].tolist() == rank_by_score(row.drop(list(seen)))
    assert model.recommend(1, n=10, exclude_seen=False)["item_id"].tolist() == rank_by_score(row)


def test_implicit_with_a_threshold_still_excludes_every_rated_item(toy):
    """Ratings below the threshold are not interactions, but the user did rate those movies: they are
    not recommended back (the bug was to exclude only the positives)."""
    model = ImplicitItemKNN(n_neighbors=2, positive_threshold=4).fit(toy.ratings)
    for user, rated in toy.ratings.groupby("user_id")["item_id"]:
        listed = set(model.recommend(user, n=10)["item_id"])
        assert not listed & set(rated), (user, listed & set(rated))
    low = toy.ratings[toy.ratings.rating < 4]
    X = model.interactions_.toarray()
    assert (X[model.user_ids_.get_indexer(low.user_id), model.item_ids_.get_indexer(low.item_id)] == 0).all()


def test_implicit_errors_and_fallbacks(toy):
    with pytest.raises(NotFittedError, match="not fitted"):
        ImplicitItemKNN().recommend(1)
    with pytest.raises(ValueError, match="n_neighbors must be an integer >= 1, got 0"):
        ImplicitItemKNN(n_neighbors=0).fit(toy.ratings)
    with pytest.raises(ValueError, match="shrinkage must be a finite number >= 0, got -1"):
        ImplicitItemKNN(shrinkage=-1).fit(toy.ratings)
    with pytest.raises(ValueError, match=r"positive_threshold=6 \(ratings go from 1 to 5\): nothing to learn from"):
        ImplicitItemKNN(positive_threshold=6).fit(toy.ratings)
    model = ImplicitItemKNN(n_neighbors=2, positive_threshold=4).fit(toy.ratings)
    new = model.recommend(999, n=3)
    assert (new["source"] == "popularity: unknown user").all()
    assert model.score([999]).isna().all().all()
    with pytest.raises(ValueError, match="n must be an integer >= 1, got 0"):
        model.recommend(1, n=0)
