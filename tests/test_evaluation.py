"""evaluate() and leaderboard(): one protocol for every model, checked by hand on the toy data."""

import math

import numpy as np
import pandas as pd
import pytest

from recsys_course import evaluation as E
from recsys_course import metrics as M
from recsys_course import stats as S
from recsys_course.ranking import rank_by_score

class SeenFirst:
    """Recommends the user's own training items first, then by popularity (to test exclusion)."""

    def __init__(self, train):
        self.seen = train.groupby("user_id")["item_id"].agg(list)
        self.popular = rank_by_score(train.groupby("item_id").size())

    def recommend(self, user_id, n=10):
        own = self.seen.get(user_id, [])
        return (own + [i for i in self.popular if i not in own])[:n]

    def predict(self, user_ids, item_ids):
        return np.full(len(user_ids), 3.0)


def test_evaluate_excludes_training_items_and_reports_one_row(toy):
    ratings = toy.ratings
    train, test = ratings[ratings.timestamp < "2024-01-25"], ratings[ratings.timestamp >= "2024-01-25"]
    row, per_user = E.evaluate(SeenFirst(train), train, test, k=2, return_per_user=True)
    assert len(row) == 1 and row.loc[0, "model"] == "SeenFirst"
    assert row.loc[0, "protocol"] == "train items excluded from rankings; relevant = test rating >= 4"
    # By hand: before the cut-off only items 1 and 2 (4 ratings each), 3 and 4 (3 each) were rated.
    # Alice rated 1, 2 and 4, so her list is just [3], shorter than k; her relevant test item is 7.
    popular = rank_by_score(train.groupby("item_id").size())
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
    popular = rank_by_score(train.groupby("item_id").size())

    def oracle(user, n):
        return (liked.get(user, []) + [i for i in popular if i not in liked.get(user, [])])[:n]

    row = E.evaluate(oracle, train, test, k=5, metrics=["recall", "ndcg", "map", "auc"], name="oracle")
    assert row.loc[0, "recall@5"] == 1.0 and row.loc[0, "ndcg@5"] == 1.0 and row.loc[0, "map@5"] == 1.0
    assert row.loc[0, "auc"] == 1.0 and row.loc[0, "model"] == "oracle"


def test_evaluate_rejects_bad_arguments(toy):
    ratings = toy.ratings
    with pytest.raises(ValueError, match="unknown metric"):
        E.evaluate(lambda u, n: [], ratings, ratings, metrics=["accuracy"])
    with pytest.raises(ValueError, match="needs item_features"):
        E.evaluate(lambda u, n: [], ratings, ratings, metrics=["diversity"])
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        E.evaluate(lambda u, n: [], ratings, ratings, k=0)
    with pytest.raises(TypeError, match="recommend"):
        E.evaluate(object(), ratings, ratings)


# ------------------------------------------------------------------ leaderboard


def _toy_board_inputs(toy):
    ratings = toy.ratings
    train, test = ratings[ratings.timestamp < "2024-01-25"], ratings[ratings.timestamp >= "2024-01-25"]
    liked = test[test.rating >= 4].groupby("user_id")["item_id"].agg(list)
    popular = rank_by_score(train.groupby("item_id").size())
    models = {
        "popularity": lambda user, n: popular[:n],
        "oracle": lambda user, n: (liked.get(user, []) + [i for i in popular if i not in liked.get(user, [])])[:n],
        "seen first": SeenFirst(train),
        "reverse id": lambda user, n: list(range(8, 0, -1))[:n],
    }
    return models, train, test


def test_leaderboard_rows_equal_evaluate_and_are_sorted(toy):
    models, train, test = _toy_board_inputs(toy)
    board = E.leaderboard(models, train, test, k=3, n_resamples=200)
    assert board.table.index[0] == "oracle" and board.table.loc["oracle", "ndcg@3"] == 1.0
    ndcg = board.table["ndcg@3"].to_numpy()
    assert (np.diff(ndcg) <= 0).all()
    for name, model in models.items():
        row, per_user = E.evaluate(model, train, test, k=3, metrics=["precision", "recall", "ndcg", "map", "coverage",
                                                                      "novelty", "personalization"],
                                   name=name, return_per_user=True)
        for column in ("precision@3", "recall@3", "ndcg@3", "map@3", "coverage", "novelty", "personalization"):
            assert board.table.loc[name, column] == pytest.approx(row.loc[0, column], nan_ok=True)
        pd.testing.assert_frame_equal(board.per_user[name], per_user, check_names=False)
        ci = S.bootstrap_ci(per_user["ndcg@3"], n_resamples=200, random_state=0)
        assert (board.table.loc[name, "ndcg@3 low"], board.table.loc[name, "ndcg@3 high"]) == (ci["low"], ci["high"])
        assert ci["low"] <= board.table.loc[name, "ndcg@3"] <= ci["high"]
    # only "seen first" predicts ratings; the function models have NaN there
    assert board.table["rmse"].notna().tolist() == [name == "seen first" for name in board.table.index]


def test_leaderboard_compares_the_two_best_with_a_paired_test(toy):
    models, train, test = _toy_board_inputs(toy)
    board = E.leaderboard(models, train, test, k=3, sort_by="precision", test_method="wilcoxon", n_resamples=50)
    best, second = board.table.index[:2]
    expected = S.paired_test(board.per_user[(best, "precision@3")], board.per_user[(second, "precision@3")],
                             method="wilcoxon")
    assert board.comparison == {"a": best, "b": second, "metric": "precision@3", **expected}
    single = E.leaderboard({"popularity": models["popularity"]}, train, test, k=3, n_resamples=50)
    assert single.comparison is None


def test_leaderboard_summary_formats_intervals(toy):
    models, train, test = _toy_board_inputs(toy)
    board = E.leaderboard(models, train, test, k=3, metrics=["ndcg", "coverage"], n_resamples=50)
    summary = board.summary(digits=2)
    assert list(summary.columns) == ["users", "ndcg@3", "coverage", "rmse", "mae"]  # "seen first" predicts
    t = board.table.loc["popularity"]
    assert summary.loc["popularity", "ndcg@3"] == f"{t['ndcg@3']:.2f} [{t['ndcg@3 low']:.2f}, {t['ndcg@3 high']:.2f}]"


def test_leaderboard_diversity_only_with_item_features(toy):
    models, train, test = _toy_board_inputs(toy)
    features = pd.DataFrame(np.eye(8)[:, :3], index=range(1, 9))
    with_features = E.leaderboard(models, train, test, k=3, item_features=features, n_resamples=20)
    without = E.leaderboard(models, train, test, k=3, n_resamples=20)
    assert "diversity" in with_features.table.columns and "diversity" not in without.table.columns


def test_leaderboard_rejects_bad_arguments(toy):
    models, train, test = _toy_board_inputs(toy)
    with pytest.raises(ValueError, match="models is empty"):
        E.leaderboard({}, train, test)
    with pytest.raises(ValueError, match="sort_by must be one of the ranking metrics"):
        E.leaderboard(models, train, test, sort_by="coverage")
    with pytest.raises(ValueError, match="is not among the metrics computed"):
        E.leaderboard(models, train, test, metrics=["precision"], sort_by="ndcg")


# ------------------------------------------------------------------ the sampled protocol


class TableScorer:
    """``score(user_ids, item_ids)`` from a fixed ``{(user, item): score}`` table, NaN elsewhere (unknown)."""

    def __init__(self, table):
        self.table = table

    def score(self, user_ids, item_ids):
        items = list(item_ids)
        return pd.DataFrame([[self.table.get((u, i), np.nan) for i in items] for u in user_ids],
                            index=pd.Index(user_ids, name="user_id"), columns=pd.Index(items, name="item_id"))


def _interactions(rows):
    return pd.DataFrame(rows, columns=["user_id", "item_id"])


def _ml_split():
    from recsys_course import data
    from recsys_course.split import leave_last_out

    try:
        ratings = data.load_movielens_100k(download=False).ratings
    except data.DataError as exc:  # `make test` fetches the data first; a bare pytest may not have it
        pytest.skip(f"MovieLens-100k is not cached: {exc}")
    return leave_last_out(ratings, 1)[:2]


def test_sampled_evaluate_by_hand():
    # catalogue 1..5 (c trained on 4 and 5). a: trained on 1, test item 2, so its negatives are 3, 4 and 5 (all
    # that is left); b: trained on 3, test item 1, negatives 2, 4, 5
    train = _interactions([("a", 1), ("b", 3), ("c", 4), ("c", 5)])
    test = _interactions([("a", 2), ("b", 1)])
    scores = {("a", 2): 0.5, ("a", 3): 0.9, ("a", 4): 0.5, ("a", 5): 0.1,   # 3 beats 2, 4 ties: rank 3
              ("b", 1): 1.0, ("b", 2): 0.2, ("b", 4): 0.3, ("b", 5): 0.9}   # rank 1
    model = TableScorer(scores)
    for k, hit_a, ndcg_a in ((2, 0.0, 0.0), (3, 1.0, 0.5)):  # 1 / log2(3 + 1) = 0.5
        result = E.sampled_evaluate(model, train, test, n_negatives=3, k=k)
        assert result.columns.tolist() == ["user_id", "rank", "hit_rate", "ndcg"]
        assert result.user_id.tolist() == ["a", "b"] and result["rank"].tolist() == [3, 1]
        assert result.hit_rate.tolist() == [hit_a, 1.0] and result.ndcg.tolist() == pytest.approx([ndcg_a, 1.0])
    negatives = E.sample_negatives(train, test, n_negatives=3)
    assert sorted(negatives.loc["a"]) == [3, 4, 5] and sorted(negatives.loc["b"]) == [2, 4, 5]


def test_sampled_evaluate_ties_and_unknowns_count_against_the_test_item():
    train, test = _interactions([("a", 1), ("c", 3), ("c", 4), ("c", 5)]), _interactions([("a", 2)])
    constant = TableScorer({("a", i): 1.0 for i in range(1, 6)})
    assert E.sampled_evaluate(constant, train, test, n_negatives=3)["rank"].tolist() == [4]  # not 1
    unknown_positive = TableScorer({("a", 3): 0.1})  # the test item and two negatives are NaN
    assert E.sampled_evaluate(unknown_positive, train, test, n_negatives=3)["rank"].tolist() == [4]
    unknown_negatives = TableScorer({("a", 2): -5.0})  # NaN negatives are the worst: below any score
    assert E.sampled_evaluate(unknown_negatives, train, test, n_negatives=3)["rank"].tolist() == [1]


def test_sampled_evaluate_a_perfect_scorer_ranks_every_test_item_first():
    train, test = _ml_split()
    truth = dict.fromkeys(zip(test.user_id, test.item_id), 1.0)

    class Perfect:
        def score(self, user_ids, item_ids):
            return pd.DataFrame([[truth.get((u, i), 0.0) for i in item_ids] for u in user_ids],
                                index=list(user_ids), columns=list(item_ids))

    for sampling in ("uniform", "popularity"):
        result = E.sampled_evaluate(Perfect(), train, test, sampling=sampling)
        assert len(result) == test.user_id.nunique() == 943
        assert (result["rank"] == 1).all() and (result.hit_rate == 1).all() and (result.ndcg == 1).all()


def test_sampled_evaluate_equals_a_loop_over_users_on_ml100k():
    from recsys_course.models.next_item import MarkovChain

    train, test = _ml_split()
    test = test[test.user_id <= 120]
    model = MarkovChain().fit(train)
    result = E.sampled_evaluate(model, train, test, n_negatives=50, k=10, sampling="popularity", random_state=4)
    negatives = E.sample_negatives(train, test, 50, "popularity", random_state=4)
    for user, item in zip(test.user_id, test.item_id):
        positive = model.score([user], [item]).iloc[0, 0]
        others = model.score([user], negatives.loc[user].tolist()).iloc[0].tolist()
        rank = 1 + sum(score >= positive for score in others)
        row = result[result.user_id == user].iloc[0]
        assert row["rank"] == rank
        assert row.hit_rate == (1.0 if rank <= 10 else 0.0)
        assert row.ndcg == pytest.approx(1 / math.log2(rank + 1) if rank <= 10 else 0.0)


@pytest.mark.parametrize("sampling", ["uniform", "popularity"])
def test_negatives_are_distinct_new_to_the_user_and_reproducible(sampling):
    train, test = _ml_split()
    negatives = E.sample_negatives(train, test, 100, sampling, random_state=0)
    assert negatives.shape == (943, 100) and negatives.index.is_monotonic_increasing
    own = pd.concat([train, test]).groupby("user_id")["item_id"].agg(set)
    catalogue = set(train.item_id) | set(test.item_id)
    trained = set(train.item_id)
    for user, row in negatives.iterrows():
        drawn = set(row)
        assert len(drawn) == 100 and not drawn & own[user] and drawn <= catalogue
        if sampling == "popularity":
            assert drawn <= trained  # an item without a training interaction has weight 0
    pd.testing.assert_frame_equal(negatives, E.sample_negatives(train, test, 100, sampling, random_state=0))
    assert not negatives.equals(E.sample_negatives(train, test, 100, sampling, random_state=1))
    model = TableScorer({})
    first = E.sampled_evaluate(model, train, test.head(30), sampling=sampling, random_state=7)
    pd.testing.assert_frame_equal(first, E.sampled_evaluate(model, train, test.head(30), sampling=sampling,
                                                            random_state=7))


def test_popularity_sampling_draws_in_proportion_to_training_interactions():
    # 400 test users, each with test item "c" only: the items left are "a" (3 training interactions) and "b" (1)
    train = _interactions([("x", "a"), ("y", "a"), ("z", "a"), ("x", "b")])
    test = _interactions([(f"u{n:03d}", "c") for n in range(400)])
    share_a = {sampling: float((E.sample_negatives(train, test, 1, sampling).iloc[:, 0] == "a").mean())
               for sampling in ("uniform", "popularity")}
    assert share_a["popularity"] == pytest.approx(0.75, abs=0.08)  # sd 0.022
    assert share_a["uniform"] == pytest.approx(0.5, abs=0.08)


def test_sampled_evaluate_rejects_bad_arguments(toy):
    ratings = toy.ratings
    train, test = ratings[ratings.timestamp < "2024-02-01"], ratings[ratings.timestamp >= "2024-02-01"]
    model = TableScorer({})
    with pytest.raises(ValueError, match=r"test holds several items of 2 user\(s\), e.g. 2 of user 2: the sampled protocol ranks one"):
        E.sampled_evaluate(model, train, test)
    last = test.drop_duplicates("user_id", keep="last")
    with pytest.raises(ValueError, match="user 1 has only 4 items they never interacted with, fewer than "
                                         "n_negatives=5: lower n_negatives"):
        E.sampled_evaluate(model, train, last, n_negatives=5)
    with pytest.raises(ValueError, match="sampling must be one of 'uniform', 'popularity'; got 'zipf'"):
        E.sampled_evaluate(model, train, last, n_negatives=2, sampling="zipf")
    with pytest.raises(ValueError, match="n_negatives must be an integer >= 1, got 0"):
        E.sampled_evaluate(model, train, last, n_negatives=0)
    with pytest.raises(ValueError, match="k must be an integer >= 1, got 0"):
        E.sampled_evaluate(model, train, last, n_negatives=2, k=0)
    with pytest.raises(ValueError, match="test is empty"):
        E.sampled_evaluate(model, train, last.iloc[:0], n_negatives=2)
    with pytest.raises(TypeError, match=r"needs recommender.score\(user_ids, item_ids\)"):
        E.sampled_evaluate(lambda user, n: [], train, last, n_negatives=2)
