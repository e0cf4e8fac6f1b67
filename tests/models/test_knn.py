"""UserKNN / ItemKNN: against a slow reference loop on the toy data and against Surprise on ml-100k;
ImplicitItemKNN's two neighbour rules: "source" against implicit, "target" against RecBole, by transliteration."""

import heapq
import itertools
import math
import warnings

import numpy as np
import pandas as pd
import pytest
from scipy import sparse
from surprise import Dataset, KNNWithMeans, Reader

from recsys_course import data, similarity
from recsys_course.models.base import NotFittedError
from recsys_course.models.knn import ImplicitItemKNN, ItemKNN, UserKNN
from recsys_course.ranking import rank_by_score

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


# ------------------------------------------- implicit item-kNN: the two neighbour rules and their references


def _frame(X) -> pd.DataFrame:
    """A 0/1 users x items array as a ratings frame (ids 1.., so rows and columns keep their order)."""
    users, items = np.nonzero(X)
    return pd.DataFrame({"user_id": users + 1, "item_id": items + 1, "rating": 5.0})


def _random_interactions(seed, n_users=40, n_items=25, density=0.25):
    """Small random 0/1 data; every user and item has at least one interaction."""
    rng = np.random.default_rng(seed)
    X = rng.random((n_users, n_items)) < density
    X[np.arange(n_users), rng.integers(0, n_items, n_users)] = True
    X[rng.integers(0, n_users, n_items), np.arange(n_items)] = True
    return X


def _implicit_cosine(model):
    """implicit's CosineRecommender(K=n_neighbors), fitted on the model's own users x items matrix."""
    from implicit.nearest_neighbours import CosineRecommender

    reference = CosineRecommender(K=model.n_neighbors, num_threads=1)
    with warnings.catch_warnings():  # its fit hands itself a COO matrix and warns about it
        warnings.simplefilter("ignore")
        reference.fit(model.interactions_.tocsr(), show_progress=False)
    return reference


def _crowded_ties(S, k, axis):
    """How many rows (axis=1) or columns (axis=0) of S have more than k positive entries >= their k-th largest."""
    S = S if axis == 1 else S.T
    count = 0
    for row in S:
        positive = np.sort(row[row > 0])[::-1]
        count += len(positive) > k and (positive >= positive[k - 1]).sum() > k
    return count


def _same_lists_up_to_ties(ours, their_ids, their_scores, scores):
    """Our top-N and implicit's, with the (positive) scores each gives: the same scores rank by rank, and the
    same items at every score above the last one listed (equal scores: implicit puts the larger id first, we
    the smaller, and each cuts the last group of equal scores differently)."""
    keep = their_scores > 0
    their_ids, their_scores = their_ids[keep], their_scores[keep]
    ours = ours[ours["score"] > 0]
    mine = ours["item_id"].to_numpy()
    np.testing.assert_allclose(ours["score"].to_numpy(), their_scores, rtol=0, atol=1e-12)
    np.testing.assert_allclose(scores[their_ids], their_scores, rtol=0, atol=1e-12)
    if len(mine):
        above = their_scores > their_scores[-1] + 1e-12
        assert set(mine[above]) == set(their_ids[above])
    return (mine == their_ids).all()


@pytest.mark.parametrize("k", [1, 2, 3, 5, 8, 50])
@pytest.mark.parametrize("case", ["toy", "toy, positives only", "random 0", "random 1", "random 2"])
def test_source_rule_is_implicits_cosine_recommender(toy, case, k):
    """The same kept pairs (exactly, ties included), the same scores and the same top-5 lists (seen items
    out) as implicit 0.7.3's CosineRecommender(K=k); implicit computes in float64 here."""
    if case.startswith("toy"):
        model = ImplicitItemKNN(n_neighbors=k, neighbours="source",
                                positive_threshold=4 if "positives" in case else None).fit(toy.ratings)
    else:
        model = ImplicitItemKNN(n_neighbors=k, neighbours="source").fit(_frame(_random_interactions(int(case[-1]))))
    reference = _implicit_cosine(model)
    theirs = reference.similarity.toarray()
    np.fill_diagonal(theirs, 0.0)  # the item's own place: counted by both, scored by neither (seen items)
    ours = model.weights_.toarray()
    np.testing.assert_array_equal(ours != 0, theirs != 0)
    np.testing.assert_allclose(ours, theirs, rtol=0, atol=1e-12)
    n, n_items = 5, len(model.item_ids_)
    X = model.interactions_.tocsr()
    their_ids, their_scores = reference.recommend(np.arange(X.shape[0]), X, N=n_items)  # every item it touches
    table = model.score(model.user_ids_).to_numpy()
    lists = model.recommend_batch(n=n)
    lists["item_id"] = model.item_ids_.get_indexer(lists["item_id"])
    seen = model.seen_.toarray()
    for row, user in enumerate(model.user_ids_):
        if X[row].nnz:  # implicit has nothing to start from either; ours falls back to popularity
            # implicit leaves out the interactions it was given; the protocol every rated item (below threshold too)
            unseen = (their_ids[row] >= 0) & ~seen[row, np.maximum(their_ids[row], 0)]
            _same_lists_up_to_ties(lists[lists.user_id == user], their_ids[row][unseen][:n],
                                   their_scores[row][unseen][:n], table[row])


def test_the_comparisons_meet_ties_at_the_kth_place(toy):
    """The two tests around this one prove the tie rule only because their data has ties that cross the k-th
    place (each item's own similarity, about 1, counted in its row)."""
    def crowded(ratings, ks):
        S = ImplicitItemKNN(neighbours="source").fit(ratings).similarity_
        return sum(_crowded_ties(S + np.eye(len(S)), k, axis=1) for k in ks)

    assert sum(crowded(_frame(_random_interactions(seed)), (2, 3, 5, 8)) for seed in range(3)) >= 20
    assert crowded(toy.ratings, (2, 3, 5)) >= 5
    assert sum(crowded(_frame(_random_interactions(seed, n_users=30, n_items=15, density=0.3)), (2, 4, 7))
               for seed in (0, 3)) >= 5


def reference_source_scores(X, k, shrinkage=0.0):
    """The "source" rule as implicit computes it, in plain Python loops: cosines as sums of unit-column products,
    then all_pairs_knn's walk and heap (implicit/_nearest_neighbours.pyx, nearest_neighbours.h), then
    user_items @ similarity with the diagonal left out."""
    n_users, n_items = X.shape
    users_of = [[u for u in range(n_users) if X[u, i]] for i in range(n_items)]
    items_of = [[i for i in range(n_items) if X[u, i]] for u in range(n_users)]
    unit = [1.0 / math.sqrt(len(users_of[i])) if users_of[i] else 0.0 for i in range(n_items)]
    W = np.zeros((n_items, n_items))
    for i in range(n_items):
        sums, touched = {}, []
        for u in users_of[i]:
            for j in items_of[u]:
                if j not in sums:
                    sums[j] = 0.0
                    touched.append(j)
                sums[j] += unit[j] * unit[i]  # one by one, as both libraries' sparse products add
        heap = []  # implicit's TopK: a min-heap of (value, item); a newcomer must beat the smallest
        for j in reversed(touched):  # its linked list gives the last item touched first
            value = sums[j]
            if shrinkage:
                norms = math.sqrt(len(users_of[i])) * math.sqrt(len(users_of[j]))
                value *= norms / (norms + shrinkage)
            if len(heap) < k:
                heapq.heappush(heap, (value, j))
            elif value > heap[0][0]:
                heapq.heapreplace(heap, (value, j))
        for value, j in heap:
            W[i, j] = value if j != i else 0.0
    scores = X @ W
    return W, scores


@pytest.mark.parametrize("k", [1, 2, 4, 7])
@pytest.mark.parametrize("shrinkage", [0.0, 2.0])
@pytest.mark.parametrize("seed", [0, 3])
def test_source_rule_equals_the_reference_loop_with_and_without_shrinkage(seed, shrinkage, k):
    """Shrinkage has no peer in implicit: the loop above is the reference (and, at shrinkage 0, the test above
    holds ours to implicit itself)."""
    X = _random_interactions(seed, n_users=30, n_items=15, density=0.3)
    model = ImplicitItemKNN(n_neighbors=k, shrinkage=shrinkage, neighbours="source").fit(_frame(X))
    W, scores = reference_source_scores(X.astype(float), k, shrinkage)
    np.testing.assert_array_equal(model.weights_.toarray() != 0, W != 0)
    np.testing.assert_allclose(model.weights_.toarray(), W, rtol=0, atol=1e-12)
    np.testing.assert_allclose(model.score(model.user_ids_).to_numpy(), scores, rtol=0, atol=1e-12)


def recbole_item_knn_scores(X, topk, shrink=0.0, dtype=np.float32, eps=1e-6, block_size=100):
    """RecBole's ItemKNN (recbole/model/general_recommender/itemknn.py), transliterated: ComputeSimilarity with
    method="item" keeps the topk largest of each column (the item scored), then pred_mat = X @ W. Its float32
    and the 1e-6 in the denominator are arguments, so that the same rule can be run in float64 without them."""
    X = sparse.csr_matrix(X, dtype=dtype)
    n_items = X.shape[1]
    topk = min(topk, n_items)
    norms = np.sqrt(np.asarray(X.power(2).sum(axis=0)).ravel())
    values, rows, cols = [], [], []
    for start in range(0, n_items, block_size):
        end = min(start + block_size, n_items)
        block = X.T.dot(X[:, start:end].toarray())  # items x block: column Index is item Index's similarities
        for offset in range(end - start):
            index = start + offset
            line = block[:, offset].copy()
            line[index] = 0.0
            line = line * (1 / (norms[index] * norms + shrink + eps))
            partition = (-line).argpartition(topk - 1)[:topk]
            best = partition[np.argsort(-line[partition])]
            nonzero = line[best] != 0.0
            values.extend(line[best][nonzero])
            rows.extend(best[nonzero])
            cols.extend(np.full(nonzero.sum(), index))
    W = sparse.csr_matrix((values, (rows, cols)), shape=(n_items, n_items), dtype=dtype)
    return W, (X @ W).toarray()


def _tie_free_interactions(seed):
    """0/1 data whose cosines have no ties (items of different popularity over many users)."""
    rng = np.random.default_rng(seed)
    return rng.random((400, 30)) < np.linspace(0.1, 0.6, 30)


@pytest.mark.parametrize("k", [1, 3, 10, 29])
@pytest.mark.parametrize("shrink", [0.0, 3.0])
def test_target_rule_is_recboles_item_knn(k, shrink):
    X = _tie_free_interactions(0)
    model = ImplicitItemKNN(n_neighbors=k, shrinkage=shrink).fit(_frame(X))
    assert _crowded_ties(model.similarity_, k, axis=0) == 0  # argpartition's pick among ties is unspecified
    W, scores = recbole_item_knn_scores(X, k, shrink, dtype=np.float64, eps=0.0)
    np.testing.assert_array_equal(model.weights_.toarray() != 0, W.toarray() != 0)
    np.testing.assert_allclose(model.score(model.user_ids_).to_numpy(), scores, rtol=0, atol=1e-12)
    # RecBole as it runs: float32 and shrink + 1e-6 in the denominator
    _, as_run = recbole_item_knn_scores(X, k, shrink)
    np.testing.assert_allclose(model.score(model.user_ids_).to_numpy(), as_run, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("k", [1, 2, 3, 5])
def test_target_rule_keeps_recboles_values_where_ties_cross_the_kth_place(toy, k):
    """On the toy data ties cross the k-th place: RecBole keeps an unspecified one of the tied items, we the
    smaller id; either way each column keeps the same similarity values."""
    model = ImplicitItemKNN(n_neighbors=k).fit(toy.ratings)
    X = model.interactions_.toarray()
    W, _ = recbole_item_knn_scores(X, k, dtype=np.float64, eps=0.0)
    for j in range(X.shape[1]):
        ours, theirs = model.weights_[:, [j]].toarray().ravel(), W[:, [j]].toarray().ravel()
        np.testing.assert_allclose(np.sort(ours), np.sort(theirs), rtol=0, atol=1e-12)


@pytest.mark.parametrize("shrinkage", [0.0, 1.5])
@pytest.mark.parametrize("data", ["toy", "random"])
def test_without_truncation_the_two_rules_give_the_same_scores(toy, data, shrinkage):
    ratings = toy.ratings if data == "toy" else _frame(_random_interactions(1))
    n_items = ratings.item_id.nunique()
    scores = {rule: ImplicitItemKNN(n_neighbors=n_items, shrinkage=shrinkage, neighbours=rule).fit(ratings)
              .score(ratings.user_id.unique()).to_numpy() for rule in ("target", "source")}
    np.testing.assert_allclose(scores["source"], scores["target"], rtol=0, atol=1e-12)
    cut = {rule: ImplicitItemKNN(n_neighbors=3, shrinkage=shrinkage, neighbours=rule).fit(ratings)
           .score(ratings.user_id.unique()).to_numpy() for rule in ("target", "source")}
    assert np.abs(cut["source"] - cut["target"]).max() > 0.1  # truncated, they differ


def test_the_source_rule_counts_the_item_itself_among_its_k(toy):
    """Its own similarity is each row's largest, so k places hold the item and k - 1 others; the others are
    the k - 1 most similar (ties aside), and weights_ holds no diagonal."""
    model = ImplicitItemKNN(n_neighbors=4, neighbours="source").fit(toy.ratings)
    W = model.weights_.toarray()
    assert (np.diag(W) == 0).all() and ((W > 0).sum(axis=1) == 3).all()
    S = model.similarity_
    for i in range(S.shape[0]):
        kept_min = W[i][W[i] > 0].min()
        assert (S[i][W[i] == 0] <= kept_min + 1e-12).all()


def test_default_rule_unchanged_and_rule_is_a_parameter(toy):
    assert ImplicitItemKNN().neighbours == "target"
    model = ImplicitItemKNN(n_neighbors=3).fit(toy.ratings)
    same = ImplicitItemKNN(n_neighbors=3, neighbours="target").fit(toy.ratings)
    np.testing.assert_array_equal(model.score(model.user_ids_).to_numpy(), same.score(same.user_ids_).to_numpy())
    assert ImplicitItemKNN(neighbours="source").get_params()["neighbours"] == "source"


@pytest.mark.parametrize("value", ["sideways", "Source", None, 1])
def test_a_bad_neighbours_rule_is_refused_with_the_choices(toy, value):
    with pytest.raises(ValueError, match=r"neighbours must be one of 'target', 'source'; got "):
        ImplicitItemKNN(neighbours=value).fit(toy.ratings)


def test_source_rule_follows_the_protocol(toy):
    model = ImplicitItemKNN(n_neighbors=3, neighbours="source", positive_threshold=4).fit(toy.ratings)
    for user, rated in toy.ratings.groupby("user_id")["item_id"]:
        assert not set(model.recommend(user, n=10)["item_id"]) & set(rated)
    assert (model.recommend(999, n=3)["source"] == "popularity: unknown user").all()
    assert np.isfinite(model.weights_.data).all() and np.isfinite(model.similarity_).all()


@pytest.mark.parametrize("k", [5, 20, 100])
def test_source_rule_is_implicits_on_a_movielens_sample(sample, k):
    """On real data too: a 5,000-rating sample, where cosines that are equal in exact arithmetic come out a few
    ulps apart unless computed implicit's way, and rarely seen movies tie by the hundred."""
    train, _, _ = sample
    model = ImplicitItemKNN(n_neighbors=k, neighbours="source").fit(train)
    reference = _implicit_cosine(model)
    theirs = reference.similarity.copy()  # its scorer reads the arrays of reference.similarity: leave them be
    theirs.setdiag(0.0)
    theirs.eliminate_zeros()
    ours = model.weights_
    assert (ours != theirs).nnz == 0  # the same kept pairs with the same values, to the last bit
    X = model.interactions_.tocsr()
    their_ids, their_scores = reference.recommend(np.arange(X.shape[0]), X, N=10)
    lists = model.recommend_batch(n=10)
    lists["item_id"] = model.item_ids_.get_indexer(lists["item_id"])
    table = model.score(model.user_ids_).to_numpy()
    identical = [_same_lists_up_to_ties(lists[lists.user_id == user], their_ids[row], their_scores[row], table[row])
                 for row, user in enumerate(model.user_ids_)]
    assert not all(identical)  # sparse data, many equal scores: the lists differ in their order, and only there


@pytest.mark.parametrize("block_steps", [1, 50, 2**22])
def test_first_shared_user_is_the_smallest_common_user_whatever_the_blocks(block_steps):
    """The walk behind the tie rule, in blocks of rows (memory) or all at once, against a plain loop."""
    from recsys_course.models.knn import _first_shared_user

    X = _random_interactions(4, n_users=30, n_items=15, density=0.3)
    rows = np.array([0, 3, 4, 9, 14])
    candidate = np.random.default_rng(0).random((len(rows), 15)) < 0.6
    got = _first_shared_user(sparse.csr_matrix(X.astype(float)), rows, candidate, block_steps=block_steps)
    for r, i in enumerate(rows):
        for j in np.flatnonzero(candidate[r]):
            shared = np.flatnonzero(X[:, i] & X[:, j])
            assert got[r, j] == (shared[0] if len(shared) else X.shape[0])
