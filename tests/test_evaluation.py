"""evaluate() and leaderboard(): one protocol for every model, checked by hand on the toy data."""

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
