"""recsys_course.metrics against trec_eval (pytrec_eval), scikit-learn, hand-worked cases and slow loops."""

import math

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
from sklearn.metrics import ndcg_score, roc_auc_score

from recsys_course import metrics as M

TUTORIAL_LIST = ["m1", "m5", "m3", "m7", "m2"]
TUTORIAL_RELEVANT = {"m1", "m2", "m6", "m3"}


# ----------------------------------------------------------- hand-worked examples


def test_the_classic_tutorial_example():
    assert M.precision_at_k(TUTORIAL_LIST, TUTORIAL_RELEVANT, 3) == pytest.approx(2 / 3, abs=1e-12)
    assert M.recall_at_k(TUTORIAL_LIST, TUTORIAL_RELEVANT, 3) == pytest.approx(1 / 2, abs=1e-12)
    assert round(M.ndcg_at_k(TUTORIAL_LIST, TUTORIAL_RELEVANT, 5), 4) == 0.7366
    # AP@5 = (1/1 + 2/3 + 3/5) / min(4, 5)
    assert M.average_precision_at_k(TUTORIAL_LIST, TUTORIAL_RELEVANT, 5) == pytest.approx((1 + 2 / 3 + 3 / 5) / 4)
    assert M.reciprocal_rank(TUTORIAL_LIST, TUTORIAL_RELEVANT) == 1.0
    assert M.reciprocal_rank(["m5", "m7", "m3"], TUTORIAL_RELEVANT) == pytest.approx(1 / 3)
    assert M.hit_rate_at_k(["m5", "m7", "m3"], TUTORIAL_RELEVANT, 2) == 0.0


def test_ndcg_by_hand_with_grades():
    # DCG = 3/log2(2) + 0 + 1/log2(4) = 3.5; ideal = 3/1 + 2/log2(3) + 1/2
    got = M.ndcg_at_k(["a", "x", "c"], {"a": 3, "b": 2, "c": 1}, 3)
    assert got == pytest.approx(3.5 / (3 + 2 / math.log2(3) + 0.5), abs=1e-12)
    exp = M.ndcg_at_k(["a", "x", "c"], {"a": 3, "b": 2, "c": 1}, 3, gain="exponential")
    assert exp == pytest.approx((7 + 1 / 2) / (7 + 3 / math.log2(3) + 1 / 2), abs=1e-12)


def test_rmse_and_mae_by_hand():
    assert M.rmse([1, 2, 3], [1, 2, 5]) == pytest.approx(math.sqrt(4 / 3))
    assert M.mae([1, 2, 3], [1, 2, 5]) == pytest.approx(2 / 3)
    with pytest.raises(ValueError, match="same shape"):
        M.rmse([1, 2], [1])
    with pytest.raises(ValueError, match="NaN or infinite prediction"):
        M.mae([1, 2], [1, np.nan])
    with pytest.raises(ValueError, match="empty"):
        M.rmse([], [])


# --------------------------------------------- agreement with trec_eval, 1,000 cases


def _random_cases(n_cases, seed, graded=False):
    rng = np.random.default_rng(seed)
    catalog = [f"d{j}" for j in range(40)]
    for case in range(n_cases):
        ranked = list(rng.choice(catalog, rng.integers(1, 31), replace=False))
        n_rel = int(rng.integers(1, 16))
        rel_items = rng.choice(catalog, n_rel, replace=False)
        grades = rng.integers(1, 4, n_rel) if graded else np.ones(n_rel, dtype=int)
        k = int(rng.choice([1, 2, 3, 5, 10, 20, 30]))
        yield f"q{case}", ranked, {str(i): int(g) for i, g in zip(rel_items, grades)}, k


@pytest.fixture(scope="module")
def trec_results():
    """Our metrics and trec_eval's on the same 1,000 random rankings (graded relevance)."""
    cases = list(_random_cases(1000, seed=2024, graded=True))
    qrels = {q: rel for q, _, rel, _ in cases}
    # distinct, decreasing scores: trec_eval sorts by score, so the order is ours exactly
    run = {q: {d: float(len(ranked) - r) for r, d in enumerate(ranked)} for q, ranked, _, _ in cases}
    cutoffs = sorted({k for *_, k in cases})
    measures = {f"{m}_{k}" for k in cutoffs for m in ("P", "recall", "ndcg_cut", "map_cut", "success")}
    trec = pytrec_eval.RelevanceEvaluator(qrels, measures | {"recip_rank"}).evaluate(run)
    return cases, trec


def test_precision_recall_hit_mrr_match_trec_eval(trec_results):
    cases, trec = trec_results
    for q, ranked, rel, k in cases:
        binary = set(rel)
        assert M.precision_at_k(ranked, binary, k) == pytest.approx(trec[q][f"P_{k}"], abs=1e-9)
        assert M.recall_at_k(ranked, binary, k) == pytest.approx(trec[q][f"recall_{k}"], abs=1e-9)
        assert M.hit_rate_at_k(ranked, binary, k) == pytest.approx(trec[q][f"success_{k}"], abs=1e-9)
        assert M.reciprocal_rank(ranked, binary) == pytest.approx(trec[q]["recip_rank"], abs=1e-9)


def test_graded_ndcg_matches_trec_eval_ndcg_cut(trec_results):
    cases, trec = trec_results
    for q, ranked, rel, k in cases:
        assert M.ndcg_at_k(ranked, rel, k) == pytest.approx(trec[q][f"ndcg_cut_{k}"], abs=1e-9)


def test_average_precision_is_trec_map_cut_rescaled_by_the_documented_denominator(trec_results):
    cases, trec = trec_results
    n_differ = 0
    for q, ranked, rel, k in cases:
        ours = M.average_precision_at_k(ranked, set(rel), k)
        # ours divides by min(|R|, k), trec_eval's map_cut_k by |R|
        assert ours == pytest.approx(trec[q][f"map_cut_{k}"] * len(rel) / min(len(rel), k), abs=1e-9)
        if len(rel) <= k:
            assert ours == pytest.approx(trec[q][f"map_cut_{k}"], abs=1e-9)
        n_differ += len(rel) > k and ours > 0
    assert n_differ > 50  # the random cases do exercise the convention difference


def test_binary_ndcg_matches_trec_eval():
    cases = list(_random_cases(300, seed=7))
    qrels = {q: rel for q, _, rel, _ in cases}
    run = {q: {d: float(len(r) - j) for j, d in enumerate(r)} for q, r, _, _ in cases}
    trec = pytrec_eval.RelevanceEvaluator(qrels, {f"ndcg_cut_{k}" for *_, k in cases}).evaluate(run)
    for q, ranked, rel, k in cases:
        assert M.ndcg_at_k(ranked, set(rel), k) == pytest.approx(trec[q][f"ndcg_cut_{k}"], abs=1e-9)


def test_graded_ndcg_matches_sklearn_on_full_rankings():
    rng = np.random.default_rng(11)
    for _ in range(1000):
        n_items, k = int(rng.integers(2, 40)), int(rng.integers(1, 15))
        grades = rng.integers(0, 4, n_items) * (rng.random(n_items) < 0.4)
        if grades.sum() == 0:
            grades[rng.integers(n_items)] = 1
        scores = rng.permutation(n_items).astype(float)  # a full ranking, no ties
        ranked = list(np.argsort(-scores))
        ours = M.ndcg_at_k(ranked, {i: g for i, g in enumerate(grades)}, k)
        assert ours == pytest.approx(ndcg_score([grades], [scores], k=k), abs=1e-9)


def test_ranking_metrics_batch_equals_the_per_user_functions(trec_results):
    cases, _ = trec_results
    k = 10
    recs = {q: ranked for q, ranked, _, _ in cases[:200]}
    rel = {q: set(r) for q, _, r, _ in cases[:200]}
    frame = M.ranking_metrics(recs, rel, k)
    for q in recs:
        assert frame.loc[q, "precision@10"] == pytest.approx(M.precision_at_k(recs[q], rel[q], k), abs=1e-12)
        assert frame.loc[q, "ndcg@10"] == pytest.approx(M.ndcg_at_k(recs[q], rel[q], k), abs=1e-12)
        assert frame.loc[q, "mrr@10"] == pytest.approx(M.reciprocal_rank(recs[q], rel[q], k), abs=1e-12)
    assert M.map_at_k(recs, rel, k) == pytest.approx(frame["map@10"].mean(), abs=1e-12)


def test_auc_matches_sklearn_including_ties():
    rng = np.random.default_rng(3)
    for _ in range(500):
        n = int(rng.integers(2, 30))
        scores = rng.integers(0, 5, n).astype(float)  # many ties
        labels = rng.random(n) < 0.3
        if labels.all() or not labels.any():
            continue
        ours = M.auc(pd.Series(scores, index=[f"i{j}" for j in range(n)]),
                     {f"i{j}" for j in np.flatnonzero(labels)})
        assert ours == pytest.approx(roc_auc_score(labels, scores), abs=1e-9)
    assert np.isnan(M.auc({"a": 1.0, "b": 0.5}, {"a", "b"}))


# ------------------------------------------------------------------- conventions


def test_recall_denominator_is_all_relevant_items():
    relevant = {f"r{j}" for j in range(20)}
    perfect = sorted(relevant)[:10]
    assert M.recall_at_k(perfect, relevant, 10) == 0.5  # |R| = 20 > k = 10
    assert M.precision_at_k(perfect, relevant, 10) == 1.0


def test_average_precision_of_a_perfect_list_is_one_even_with_many_relevant_items():
    relevant = {f"r{j}" for j in range(20)}
    assert M.average_precision_at_k(sorted(relevant)[:10], relevant, 10) == 1.0


def test_idcg_with_fewer_relevant_items_than_k_is_not_padded():
    assert M.ndcg_at_k(["a", "b", "x", "y"], {"a", "b"}, 10) == 1.0
    assert M.ndcg_at_k(["x", "a", "b"], {"a", "b"}, 10) < 1.0


def test_a_list_shorter_than_k_counts_missing_positions_as_misses():
    assert M.precision_at_k(["a"], {"a", "b"}, 5) == pytest.approx(1 / 5)
    assert M.recall_at_k(["a"], {"a", "b"}, 5) == pytest.approx(1 / 2)
    assert M.precision_at_k([], {"a"}, 3) == 0.0


def test_a_user_with_relevant_items_but_no_list_counts_as_zero():
    """Leaving such users out rewarded silence: one user of three listed gave MAP 1.0 instead of 1/3."""
    relevant = {1: {"a"}, 2: {"b"}, 3: {"c"}}
    recommendations = {1: ["a", "x"]}
    assert M.map_at_k(recommendations, relevant, 2) == pytest.approx(1 / 3)
    assert M.mrr(recommendations, relevant, 2) == pytest.approx(1 / 3)
    frame = M.ranking_metrics(recommendations, relevant, 2)
    assert frame.index.tolist() == [1, 2, 3] and frame.loc[[2, 3]].eq(0).all().all()
    assert frame["precision@2"].mean() == pytest.approx(0.5 / 3)


def test_a_huge_k_costs_no_memory():
    got = M.precision_at_k(["a", "b"], {"a"}, k=10**9)
    assert got == 1 / 10**9
    assert M.ndcg_at_k(["b", "a"], {"a"}, k=10**9) == pytest.approx(1 / np.log2(3))
    assert M.average_precision_at_k(["b", "a"], {"a"}, k=10**9) == pytest.approx(0.5)


def test_rmse_pairs_two_series_by_label_not_position():
    truth = pd.Series([4.0, 3.0, 5.0], index=["a", "b", "c"])
    predicted = pd.Series([5.0, 4.0, 3.0], index=["c", "a", "b"])  # the same values, in another order
    assert M.rmse(truth, predicted) == 0.0 and M.mae(truth, predicted) == 0.0
    assert M.rmse(truth.to_numpy(), predicted.to_numpy()) > 0  # arrays: by position
    with pytest.raises(ValueError, match="different labels"):
        M.rmse(truth, predicted.rename({"c": "z"}))


def test_a_user_without_relevant_items_is_nan_and_left_out_of_averages():
    for fn in (M.precision_at_k, M.recall_at_k, M.ndcg_at_k, M.average_precision_at_k, M.hit_rate_at_k):
        assert np.isnan(fn(["a", "b"], set(), 2))
    assert np.isnan(M.reciprocal_rank(["a"], set()))
    frame = M.ranking_metrics({1: ["a", "b"], 2: ["a", "b"]}, {1: {"a"}}, 2)
    assert frame["precision@2"].isna().tolist() == [False, True]
    assert frame["precision@2"].mean() == 0.5


def test_grades_of_zero_are_not_relevant():
    assert M.precision_at_k(["a", "b"], {"a": 0, "b": 2}, 2) == 0.5


@pytest.mark.parametrize("k", [0, -1, 2.5, True, "10"])
def test_invalid_k_is_an_error(k):
    with pytest.raises(ValueError, match="k must be"):
        M.precision_at_k(["a"], {"a"}, k)


def test_duplicate_items_in_a_list_are_an_error():
    with pytest.raises(ValueError, match=r"duplicate items \['a'\]"):
        M.ndcg_at_k(["a", "b", "a"], {"a"}, 3)
    with pytest.raises(ValueError, match="duplicate"):
        M.ranking_metrics({1: ["x", "x"]}, {1: {"x"}}, 2)


# ------------------------------------------------------------- beyond accuracy


def test_coverage_by_hand():
    assert M.catalog_coverage({1: ["a", "b"], 2: ["b", "c"]}, ["a", "b", "c", "d"]) == 0.75
    with pytest.raises(ValueError, match="catalog is empty"):
        M.catalog_coverage({1: ["a"]}, [])


def test_novelty_refuses_counts_above_the_number_of_users():
    """Ratings counted instead of users made novelty negative (-1.58 bits for an item rated 3x by 1 user)."""
    with pytest.raises(ValueError, match="item 'a' has a count of 3, more than n_users=1"):
        M.novelty({1: ["a"]}, {"a": 3}, n_users=1)


def test_novelty_by_hand():
    counts = pd.Series({"a": 8, "b": 2, "c": 0})
    # -log2(8/8) = 0, -log2(2/8) = 2, "c" never rated: counted as rated once, -log2(1/8) = 3
    assert M.novelty({1: ["a", "b"], 2: ["c"]}, counts, n_users=8) == pytest.approx((0 + 2 + 3) / 3)


def test_popularity_bias_by_hand():
    counts = pd.Series({"a": 10, "b": 5, "c": 5, "d": 1})
    # percentiles (share of items with count <= own): a 1.0, b and c 0.75, d 0.25
    assert M.popularity_bias({1: ["a", "d"], 2: ["b"]}, counts) == pytest.approx((1.0 + 0.25 + 0.75) / 3)


def _slow_personalization(recs):
    users = list(recs)
    sims = [len(set(recs[u]) & set(recs[v])) / math.sqrt(len(recs[u]) * len(recs[v]))
            for a, u in enumerate(users) for v in users[a + 1:]]
    return 1 - sum(sims) / len(sims)


def test_personalization_extremes_and_against_a_slow_loop():
    assert M.personalization({1: ["a", "b"], 2: ["a", "b"], 3: ["b", "a"]}) == pytest.approx(0.0)
    assert M.personalization({1: ["a", "b"], 2: ["c", "d"]}) == pytest.approx(1.0)
    rng = np.random.default_rng(5)
    for _ in range(50):
        recs = {u: list(rng.choice(30, rng.integers(1, 8), replace=False)) for u in range(int(rng.integers(2, 12)))}
        assert M.personalization(recs) == pytest.approx(_slow_personalization(recs), abs=1e-12)
    with pytest.raises(ValueError, match="at least two"):
        M.personalization({1: ["a"]})


def _slow_ild(recs, features):
    values = []
    for items in recs.values():
        if len(items) < 2:
            continue
        d = []
        for a in range(len(items)):
            for b in range(a + 1, len(items)):
                x, y = features.loc[items[a]].to_numpy(float), features.loc[items[b]].to_numpy(float)
                nx, ny = np.linalg.norm(x), np.linalg.norm(y)
                d.append(1 - (x @ y / (nx * ny) if nx and ny else 0.0))
        values.append(np.mean(d))
    return np.mean(values)


def test_intra_list_diversity_on_toy_genres(toy):
    genres = toy.movies.set_index("item_id")[["Action", "Sci-Fi", "Romance", "Drama", "Animation"]]
    # The Notebook (2) and Titanic (6) are both Drama+Romance: identical, distance 0
    assert M.intra_list_diversity({1: [2, 6]}, genres) == pytest.approx(0.0)
    # Inception (1: Action, Sci-Fi) and The Notebook (2: Drama, Romance) share nothing
    assert M.intra_list_diversity({1: [1, 2]}, genres) == pytest.approx(1.0)
    recs = {1: [1, 4, 7, 8], 2: [3, 5], 3: [2]}
    assert M.intra_list_diversity(recs, genres) == pytest.approx(_slow_ild(recs, genres), abs=1e-12)
    with pytest.raises(ValueError, match="no row for item"):
        M.intra_list_diversity({1: [1, 99]}, genres)
