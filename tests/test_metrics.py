"""recsys_course.metrics against trec_eval (pytrec_eval), scikit-learn, hand-worked cases and slow loops."""

import math

import numpy as np
import pandas as pd
import pytest
import pytrec_eval
from scipy import stats
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
    with pytest.raises(ValueError, match="NaN predictions"):
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


def test_ties_in_scores_are_broken_by_item_id():
    assert M.rank_by_score(pd.Series({3: 1.0, 1: 1.0, 2: 5.0, 0: 0.5})) == [2, 1, 3, 0]
    assert M.rank_by_score({"b": 1.0, "a": 1.0}, k=1) == ["a"]


# ------------------------------------------------------------- beyond accuracy


def test_coverage_by_hand():
    assert M.catalog_coverage({1: ["a", "b"], 2: ["b", "c"]}, ["a", "b", "c", "d"]) == 0.75
    with pytest.raises(ValueError, match="catalog is empty"):
        M.catalog_coverage({1: ["a"]}, [])


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


# ------------------------------------------------------- uncertainty and tests


def test_bootstrap_ci_is_reproducible_and_close_to_scipy():
    rng = np.random.default_rng(0)
    values = np.append(rng.random(400), [np.nan] * 10)
    ci = M.bootstrap_ci(values, n_resamples=4000, random_state=1)
    assert ci == M.bootstrap_ci(values, n_resamples=4000, random_state=1)
    assert ci["n"] == 400 and ci["low"] < ci["mean"] < ci["high"]
    ref = stats.bootstrap((values[~np.isnan(values)],), np.mean, n_resamples=4000, method="percentile",
                          random_state=2).confidence_interval
    assert ci["low"] == pytest.approx(ref.low, abs=0.005) and ci["high"] == pytest.approx(ref.high, abs=0.005)
    with pytest.raises(ValueError, match="at least 2"):
        M.bootstrap_ci([1.0, np.nan])


def test_paired_test_methods():
    rng = np.random.default_rng(0)
    users = pd.Index(range(300))
    a = pd.Series(rng.random(300), index=users)
    better = a + 0.05 + rng.normal(0, 0.02, 300)
    for method in ("t", "wilcoxon", "permutation"):
        result = M.paired_test(better, a, method=method, n_resamples=2000)
        assert result["p_value"] < 0.001 and result["mean_diff"] == pytest.approx(0.05, abs=0.01)
    same = M.paired_test(a, a + rng.normal(0, 0.01, 300), method="permutation", n_resamples=2000)
    assert same["p_value"] > 0.01
    t = M.paired_test(better, a, method="t")
    assert t["statistic"] == pytest.approx(stats.ttest_rel(better, a).statistic)
    with pytest.raises(ValueError, match="method must be"):
        M.paired_test(a, a, method="z")


def test_paired_test_only_uses_users_present_in_both():
    a = pd.Series({1: 0.5, 2: np.nan, 3: 0.1, 4: 0.3})
    b = pd.Series({1: 0.4, 3: 0.2, 4: 0.1, 5: 0.9})
    assert M.paired_test(a, b)["n"] == 3


# ---------------------------------------------------------------------- evaluate


class SeenFirst:
    """Recommends the user's own training items first, then by popularity (to test exclusion)."""

    def __init__(self, train):
        self.seen = train.groupby("user_id")["item_id"].agg(list)
        self.popular = M.rank_by_score(train.groupby("item_id").size())

    def recommend(self, user_id, n=10):
        own = self.seen.get(user_id, [])
        return (own + [i for i in self.popular if i not in own])[:n]

    def predict(self, user_ids, item_ids):
        return np.full(len(user_ids), 3.0)


def test_evaluate_excludes_training_items_and_reports_one_row(toy):
    ratings = toy.ratings
    train, test = ratings[ratings.timestamp < "2024-01-25"], ratings[ratings.timestamp >= "2024-01-25"]
    row, per_user = M.evaluate(SeenFirst(train), train, test, k=2, return_per_user=True)
    assert len(row) == 1 and row.loc[0, "model"] == "SeenFirst"
    assert row.loc[0, "protocol"] == "train items excluded from rankings; relevant = test rating >= 4"
    # By hand: before the cut-off only items 1 and 2 (4 ratings each), 3 and 4 (3 each) were rated.
    # Alice rated 1, 2 and 4, so her list is just [3], shorter than k; her relevant test item is 7.
    popular = M.rank_by_score(train.groupby("item_id").size())
    seen = train.groupby("user_id")["item_id"].agg(set)
    relevant = test[test.rating >= 4].groupby("user_id")["item_id"].agg(set)
    expected = {u: [i for i in popular if i not in seen.get(u, set())][:2] for u in sorted(test.user_id.unique())}
    assert expected[1] == [3]
    manual = M.ranking_metrics(expected, relevant.to_dict(), 2)
    pd.testing.assert_series_equal(per_user["precision@2"], manual["precision@2"])
    assert row.loc[0, "precision@2"] == pytest.approx(manual["precision@2"].mean())
    assert row.loc[0, "users"] + row.loc[0, "users_without_relevant"] == test.user_id.nunique()
    assert row.loc[0, "rmse"] == pytest.approx(M.rmse(test.rating, np.full(len(test), 3.0)))


def test_evaluate_an_oracle_scores_perfectly(toy):
    ratings = toy.ratings
    train, test = ratings[ratings.timestamp < "2024-01-25"], ratings[ratings.timestamp >= "2024-01-25"]
    liked = test[test.rating >= 4].groupby("user_id")["item_id"].agg(list)
    popular = M.rank_by_score(train.groupby("item_id").size())

    def oracle(user, n):
        return (liked.get(user, []) + [i for i in popular if i not in liked.get(user, [])])[:n]

    row = M.evaluate(oracle, train, test, k=5, metrics=["recall", "ndcg", "map", "auc"], name="oracle")
    assert row.loc[0, "recall@5"] == 1.0 and row.loc[0, "ndcg@5"] == 1.0 and row.loc[0, "map@5"] == 1.0
    assert row.loc[0, "auc"] == 1.0 and row.loc[0, "model"] == "oracle"


def test_evaluate_rejects_bad_arguments(toy):
    ratings = toy.ratings
    with pytest.raises(ValueError, match="unknown metric"):
        M.evaluate(lambda u, n: [], ratings, ratings, metrics=["accuracy"])
    with pytest.raises(ValueError, match="needs item_features"):
        M.evaluate(lambda u, n: [], ratings, ratings, metrics=["diversity"])
    with pytest.raises(ValueError, match="k must be >= 1"):
        M.evaluate(lambda u, n: [], ratings, ratings, k=0)
    with pytest.raises(TypeError, match="recommend"):
        M.evaluate(object(), ratings, ratings)


# ------------------------------------------------------------------ leaderboard


def _toy_board_inputs(toy):
    ratings = toy.ratings
    train, test = ratings[ratings.timestamp < "2024-01-25"], ratings[ratings.timestamp >= "2024-01-25"]
    liked = test[test.rating >= 4].groupby("user_id")["item_id"].agg(list)
    popular = M.rank_by_score(train.groupby("item_id").size())
    models = {
        "popularity": lambda user, n: popular[:n],
        "oracle": lambda user, n: (liked.get(user, []) + [i for i in popular if i not in liked.get(user, [])])[:n],
        "seen first": SeenFirst(train),
        "reverse id": lambda user, n: list(range(8, 0, -1))[:n],
    }
    return models, train, test


def test_leaderboard_rows_equal_evaluate_and_are_sorted(toy):
    models, train, test = _toy_board_inputs(toy)
    board = M.leaderboard(models, train, test, k=3, n_resamples=200)
    assert board.table.index[0] == "oracle" and board.table.loc["oracle", "ndcg@3"] == 1.0
    ndcg = board.table["ndcg@3"].to_numpy()
    assert (np.diff(ndcg) <= 0).all()
    for name, model in models.items():
        row, per_user = M.evaluate(model, train, test, k=3, metrics=["precision", "recall", "ndcg", "map", "coverage",
                                                                      "novelty", "personalization"],
                                   name=name, return_per_user=True)
        for column in ("precision@3", "recall@3", "ndcg@3", "map@3", "coverage", "novelty", "personalization"):
            assert board.table.loc[name, column] == pytest.approx(row.loc[0, column], nan_ok=True)
        pd.testing.assert_frame_equal(board.per_user[name], per_user, check_names=False)
        ci = M.bootstrap_ci(per_user["ndcg@3"], n_resamples=200, random_state=0)
        assert (board.table.loc[name, "ndcg@3 low"], board.table.loc[name, "ndcg@3 high"]) == (ci["low"], ci["high"])
        assert ci["low"] <= board.table.loc[name, "ndcg@3"] <= ci["high"]
    # only "seen first" predicts ratings; the function models have NaN there
    assert board.table["rmse"].notna().tolist() == [name == "seen first" for name in board.table.index]


def test_leaderboard_compares_the_two_best_with_a_paired_test(toy):
    models, train, test = _toy_board_inputs(toy)
    board = M.leaderboard(models, train, test, k=3, sort_by="precision", test_method="wilcoxon", n_resamples=50)
    best, second = board.table.index[:2]
    expected = M.paired_test(board.per_user[(best, "precision@3")], board.per_user[(second, "precision@3")],
                             method="wilcoxon")
    assert board.comparison == {"a": best, "b": second, "metric": "precision@3", **expected}
    single = M.leaderboard({"popularity": models["popularity"]}, train, test, k=3, n_resamples=50)
    assert single.comparison is None


def test_leaderboard_summary_formats_intervals(toy):
    models, train, test = _toy_board_inputs(toy)
    board = M.leaderboard(models, train, test, k=3, metrics=["ndcg", "coverage"], n_resamples=50)
    summary = board.summary(digits=2)
    assert list(summary.columns) == ["users", "ndcg@3", "coverage", "rmse", "mae"]  # "seen first" predicts
    t = board.table.loc["popularity"]
    assert summary.loc["popularity", "ndcg@3"] == f"{t['ndcg@3']:.2f} [{t['ndcg@3 low']:.2f}, {t['ndcg@3 high']:.2f}]"


def test_leaderboard_diversity_only_with_item_features(toy):
    models, train, test = _toy_board_inputs(toy)
    features = pd.DataFrame(np.eye(8)[:, :3], index=range(1, 9))
    with_features = M.leaderboard(models, train, test, k=3, item_features=features, n_resamples=20)
    without = M.leaderboard(models, train, test, k=3, n_resamples=20)
    assert "diversity" in with_features.table.columns and "diversity" not in without.table.columns


def test_leaderboard_rejects_bad_arguments(toy):
    models, train, test = _toy_board_inputs(toy)
    with pytest.raises(ValueError, match="models is empty"):
        M.leaderboard({}, train, test)
    with pytest.raises(ValueError, match="sort_by must be one of the ranking metrics"):
        M.leaderboard(models, train, test, sort_by="coverage")
    with pytest.raises(ValueError, match="is not among the metrics computed"):
        M.leaderboard(models, train, test, metrics=["precision"], sort_by="ndcg")
