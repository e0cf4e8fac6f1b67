"""The next-item baselines against slow loops written from their docstrings' formulas, on the toy data and on
ml-100k; cases worked by hand; ties in time; bad input; the protocol."""

import itertools
import math
from collections import Counter, defaultdict

import numpy as np
import pandas as pd
import pytest
from sklearn.base import clone

from recsys_course import data
from recsys_course.models.base import CANNOT_SCORE, MODEL, UNKNOWN_USER
from recsys_course.models.baselines import Popularity
from recsys_course.models.knn import ImplicitItemKNN
from recsys_course.models.next_item import (
    TIE_BREAK,
    MarkovChain,
    RecentItemKNN,
    RecentPopularity,
)
from recsys_course.split import leave_last_out

MODELS = (RecentPopularity, MarkovChain, RecentItemKNN)


@pytest.fixture(scope="module")
def ml_train():
    """ml-100k's training part under leave_last_out(ratings, 1), and 25 of its users."""
    try:
        ratings = data.load_movielens_100k(download=False).ratings
    except data.DataError as exc:  # `make test` fetches the data first; a bare pytest may not have it
        pytest.skip(f"MovieLens-100k is not cached: {exc}")
    train = leave_last_out(ratings, 1).train
    users = np.random.default_rng(3).choice(np.sort(train.user_id.unique()), 25, replace=False)
    return train, users


# ---------------------------------------------------------------- slow references, one rating at a time


def _sequences(ratings):
    """{user: [items in time order]}, ties in time by the order of the rows: a plain sort per user."""
    rows = defaultdict(list)
    for position, (user, item, t) in enumerate(zip(ratings.user_id, ratings.item_id, ratings.timestamp)):
        rows[user].append((t, position, item))
    return {user: [item for _, _, item in sorted(events)] for user, events in rows.items()}


def _counts(ratings):
    return Counter(ratings.item_id.tolist())


def _reference_recent_popularity(ratings, window_days):
    """Each item's (count in the window, all-time count), by a loop over the ratings."""
    latest = max(ratings.timestamp)
    window = Counter()
    for item, t in zip(ratings.item_id, ratings.timestamp):
        if window_days is None or t > latest - pd.Timedelta(days=window_days):
            window[item] += 1
    return window, _counts(ratings)


def _reference_transitions(ratings):
    counts = Counter()
    for items in _sequences(ratings).values():
        for before, after in itertools.pairwise(items):
            counts[before, after] += 1
    return counts


def _reference_markov_scores(ratings, users, smoothing):
    """{user: {item: (c_ij + a p_j) / (c_i + a)}} from each user's last item i."""
    transitions, sequences, popularity = _reference_transitions(ratings), _sequences(ratings), _counts(ratings)
    total = sum(popularity.values())
    out = {}
    for user in users:
        last = sequences[user][-1]
        out_of_last = sum(c for (i, _), c in transitions.items() if i == last)
        out[user] = {j: (transitions[last, j] + smoothing * popularity[j] / total) / (out_of_last + smoothing)
                     for j in popularity}
    return out


def _reference_knn_scores(ratings, users, n_recent, decay, n_neighbors):
    """{user: {item: sum over the recent items of decay**age * cosine, if the item is among their k nearest}
    + the tie term}."""
    fans = defaultdict(set)
    for u, i in zip(ratings.user_id, ratings.item_id):
        fans[i].add(u)
    items = sorted(fans)
    popularity, sequences = _counts(ratings), _sequences(ratings)
    total = sum(popularity.values())

    def cosine(i, j):
        return len(fans[i] & fans[j]) / math.sqrt(len(fans[i]) * len(fans[j]))

    out = {}
    for user in users:
        recent = sequences[user][::-1][:n_recent]  # the last first: age 0
        scores = {j: TIE_BREAK * popularity[j] / total for j in items}
        for age, i in enumerate(recent):
            similar = {j: cosine(i, j) for j in items if j != i}
            if n_neighbors is not None:
                kept = sorted(similar, key=lambda j: (-similar[j], j))[:n_neighbors]
                similar = {j: similar[j] for j in kept}
            for j, s in similar.items():
                scores[j] += decay**age * s
        out[user] = scores
    return out


def _model_scores(model, user):
    return model.score([user]).iloc[0].to_dict()


# ---------------------------------------------------------------- the models equal their references


@pytest.mark.parametrize("window_days", [None, 3, 10, 12.5, 40])
def test_recent_popularity_equals_the_loop_on_toy(toy, window_days):
    model = RecentPopularity(window_days=window_days).fit(toy.ratings)
    window, all_time = _reference_recent_popularity(toy.ratings, window_days)
    assert dict(zip(model.item_ids_, model.counts_)) == {i: window[i] for i in model.item_ids_}
    expected = sorted(all_time, key=lambda i: (-window[i], -all_time[i], i))
    assert model.recommend(1, n=8, exclude_seen=False)["item_id"].tolist() == expected


@pytest.mark.parametrize("window_days", [7, 30, None])
def test_recent_popularity_equals_the_loop_on_ml100k(ml_train, window_days):
    train, users = ml_train
    model = RecentPopularity(window_days=window_days).fit(train)
    window, all_time = _reference_recent_popularity(train, window_days)
    assert dict(zip(model.item_ids_, model.counts_)) == {i: window[i] for i in model.item_ids_}
    expected = sorted(all_time, key=lambda i: (-window[i], -all_time[i], i))
    user = users[0]
    seen = set(train.item_id[train.user_id == user])
    assert model.recommend(user, n=50)["item_id"].tolist() == [i for i in expected if i not in seen][:50]


def test_transitions_equal_the_dict_count(toy, ml_train):
    for ratings in (toy.ratings, ml_train[0]):
        model = MarkovChain().fit(ratings)
        T = model.transitions_.tocoo()
        got = {(model.item_ids_[i], model.item_ids_[j]): c for i, j, c in zip(T.row, T.col, T.data)}
        assert got == dict(_reference_transitions(ratings))


@pytest.mark.parametrize("smoothing", [1e-6, 1.0, 50.0])
def test_markov_scores_equal_the_loop(toy, ml_train, smoothing):
    cases = [(toy.ratings, list(toy.ratings.user_id.unique())), (ml_train[0], ml_train[1])]
    for ratings, users in cases:
        model = MarkovChain(smoothing=smoothing).fit(ratings)
        for user, expected in _reference_markov_scores(ratings, users, smoothing).items():
            got = _model_scores(model, user)
            assert got.keys() == expected.keys()
            np.testing.assert_allclose([got[j] for j in expected], list(expected.values()), rtol=1e-12, atol=0)


@pytest.mark.parametrize("n_recent, decay, n_neighbors", [(1, 1.0, None), (2, 0.5, None), (5, 0.8, 2),
                                                         (10, 1.0, 3), (3, 0.3, 1)])
def test_recent_knn_scores_equal_the_loop_on_toy(toy, n_recent, decay, n_neighbors):
    model = RecentItemKNN(n_recent=n_recent, decay=decay, n_neighbors=n_neighbors).fit(toy.ratings)
    for user, expected in _reference_knn_scores(toy.ratings, toy.ratings.user_id.unique(), n_recent, decay,
                                                n_neighbors).items():
        got = _model_scores(model, user)
        np.testing.assert_allclose([got[j] for j in expected], list(expected.values()), rtol=1e-12, atol=1e-15)


@pytest.mark.parametrize("n_recent, decay, n_neighbors", [(5, 0.8, None), (3, 0.5, 20)])
def test_recent_knn_scores_equal_the_loop_on_ml100k(ml_train, n_recent, decay, n_neighbors):
    train, users = ml_train
    model = RecentItemKNN(n_recent=n_recent, decay=decay, n_neighbors=n_neighbors).fit(train)
    for user, expected in _reference_knn_scores(train, users[:6], n_recent, decay, n_neighbors).items():
        got = _model_scores(model, user)
        np.testing.assert_allclose([got[j] for j in expected], list(expected.values()), rtol=1e-10, atol=1e-15)


# ---------------------------------------------------------------- worked by hand


def _frame(rows, columns=("user_id", "item_id", "timestamp")):
    frame = pd.DataFrame(rows, columns=list(columns))
    frame["timestamp"] = pd.to_datetime(frame["timestamp"])
    return frame


HAND = _frame([
    ("a", 1, "2024-01-01"), ("a", 2, "2024-01-02"), ("a", 3, "2024-01-03"),
    ("b", 1, "2024-01-01"), ("b", 2, "2024-01-05"), ("b", 4, "2024-01-06"),
    ("c", 2, "2024-01-02"), ("c", 3, "2024-01-04"),
    ("d", 5, "2024-01-09"), ("d", 1, "2024-01-10"),
])


def test_markov_chain_by_hand():
    # transitions: 1->2 (a, b), 2->3 (a, c), 2->4 (b), 5->1 (d); popularity 1:3 2:3 3:2 4:1 5:1 of 10
    model = MarkovChain(smoothing=1.0).fit(HAND)
    scores = model.score(["b", "d"])
    # b's last item is 4, which nothing follows: c_i = 0, the scores are the popularity shares
    assert scores.loc["b"].tolist() == pytest.approx([0.3, 0.3, 0.2, 0.1, 0.1])
    # d's last item is 1, followed twice by 2: (2 + 0.3) / 3 for 2, 0.1 / 3 ... for the rest
    assert scores.loc["d"].tolist() == pytest.approx([0.3 / 3, 2.3 / 3, 0.2 / 3, 0.1 / 3, 0.1 / 3])
    assert scores.sum(axis=1).tolist() == pytest.approx([1.0, 1.0])
    # d has 5 and 1: then 2 (followed 1 twice), 3 before 4 (popularity, not id: equal counts of 0)
    assert model.recommend("d", n=3)["item_id"].tolist() == [2, 3, 4]
    # a huge prior is popularity
    big = MarkovChain(smoothing=1e9).fit(HAND)
    assert big.recommend("d", n=3)["item_id"].tolist() == [2, 3, 4]
    assert big.recommend("c", n=3)["item_id"].tolist() == [1, 4, 5]


def test_markov_popularity_breaks_ties_not_the_id():
    # items 3 and 9 are never reached from a's last item; 9 is more popular, and must come first
    frame = _frame([("a", 1, "2024-01-01"), ("a", 2, "2024-01-02"), ("b", 2, "2024-01-01"), ("b", 5, "2024-01-02"),
                    ("c", 9, "2024-01-01"), ("d", 9, "2024-01-01"), ("e", 3, "2024-01-01")])
    model = MarkovChain(smoothing=1e-6).fit(frame)
    assert model.recommend("a", n=4)["item_id"].tolist() == [5, 9, 3]


def test_recent_popularity_by_hand():
    # the data end on 10 January; 3 days before is 7 January: d's two ratings (5 and 1) are in the window
    model = RecentPopularity(window_days=3).fit(HAND)
    assert model.window_start_ == pd.Timestamp("2024-01-07")
    assert dict(zip(model.item_ids_, model.counts_)) == {1: 1, 2: 0, 3: 0, 4: 0, 5: 1}
    # 1 and 5 once each: 1 has three ratings in all, 5 one; then 2 (three), 3 (two), 4 (one)
    assert model.recommend("d", n=5, exclude_seen=False)["item_id"].tolist() == [1, 5, 2, 3, 4]
    # the window is open at its start: exactly 4 days before the end (6 January, b's 4) is out, 4.5 in
    assert RecentPopularity(window_days=4).fit(HAND).counts_.tolist() == [1, 0, 0, 0, 1]
    assert RecentPopularity(window_days=4.5).fit(HAND).counts_.tolist() == [1, 0, 0, 1, 1]


def test_recent_popularity_reads_numeric_timestamps_as_seconds():
    seconds = HAND.assign(timestamp=(HAND.timestamp - pd.Timestamp(0)) // pd.Timedelta(seconds=1))
    assert seconds.timestamp.dtype.kind == "i" and seconds.timestamp.iloc[0] == 1_704_067_200
    for days in (3, 4.5):
        assert (RecentPopularity(window_days=days).fit(seconds).counts_.tolist()
                == RecentPopularity(window_days=days).fit(HAND).counts_.tolist())


def test_recent_knn_by_hand():
    # fans: 1 {a,b,d}, 2 {a,b,c}, 3 {a,c}, 4 {b}, 5 {d}
    model = RecentItemKNN(n_recent=2, decay=0.5).fit(HAND)
    p = {1: 0.3, 2: 0.3, 3: 0.2, 4: 0.1, 5: 0.1}
    # b's last two: 4 (age 0), 2 (age 1); s(4,1) = 1/sqrt(3), s(2,1) = 2/3, s(2,3) = 2/sqrt(6), s(4,3) = 0
    scores = model.score(["b"]).loc["b"]
    assert scores[1] == pytest.approx(1 / math.sqrt(3) + 0.5 * 2 / 3 + TIE_BREAK * p[1], rel=1e-12)
    assert scores[3] == pytest.approx(0.5 * 2 / math.sqrt(6) + TIE_BREAK * p[3], rel=1e-12)
    assert scores[5] == pytest.approx(TIE_BREAK * p[5], rel=1e-12)  # 5 shares no user with 4 or 2
    # n_recent=1: b's last item only (4), which reaches 1 and 2 alike (1/sqrt(3)): equal
    last = RecentItemKNN(n_recent=1).fit(HAND).score(["b"]).loc["b"]
    assert last[1] - TIE_BREAK * p[1] == pytest.approx(last[2] - TIE_BREAK * p[2], rel=1e-12)


def test_recent_knn_tie_goes_to_the_more_popular_item_not_the_smaller_id():
    # e's only item is 7 (fans e, f, g). Item 3 has one fan (g), shared with 7: cosine 1/sqrt(3 * 1); item 9 has
    # four (f, g, h, i), two shared with 7: 2/sqrt(3 * 4), the same number. 9 is the more popular, 3 the smaller id.
    frame = _frame([("e", 7, "2024-01-01"), ("f", 7, "2024-01-01"), ("f", 9, "2024-01-02"),
                    ("g", 7, "2024-01-01"), ("g", 9, "2024-01-02"), ("g", 3, "2024-01-03"),
                    ("h", 9, "2024-01-01"), ("i", 9, "2024-01-01")])
    model = RecentItemKNN(n_recent=1).fit(frame)
    row = model.similarity_[model.item_ids_.get_loc(7)]
    assert row[model.item_ids_.get_loc(3)] == row[model.item_ids_.get_loc(9)]  # an exact tie
    assert model.recommend("e", n=2)["item_id"].tolist() == [9, 3]


@pytest.mark.parametrize("n_neighbors", [1, 2])
def test_recent_knn_neighbours_are_each_recent_items_own(n_neighbors):
    model = RecentItemKNN(n_recent=1, n_neighbors=n_neighbors).fit(HAND)
    # b's last item is 4; its only similar items are 1 and 2 (b's other two), tied at 1/sqrt(3): k=1 keeps 1
    scores = model.score(["b"]).loc["b"] - TIE_BREAK * model.popularity_
    assert (scores > 1e-12).tolist() == [True, n_neighbors == 2, False, False, False]


def test_recent_knn_with_the_whole_history_is_implicit_item_knn(toy, ml_train):
    for ratings in (toy.ratings, ml_train[0]):
        n_items = ratings.item_id.nunique()
        longest = int(ratings.groupby("user_id").size().max())
        recent = RecentItemKNN(n_recent=longest, decay=1.0).fit(ratings)
        whole = ImplicitItemKNN(n_neighbors=n_items).fit(ratings)
        users = ratings.user_id.unique()[:50]
        expected = whole.score(users).to_numpy() + TIE_BREAK * recent.popularity_
        np.testing.assert_allclose(recent.score(users).to_numpy(), expected, rtol=1e-12, atol=1e-15)


def test_recent_popularity_without_a_window_ranks_as_popularity(ml_train):
    train, users = ml_train
    ours = RecentPopularity(window_days=None).fit(train).recommend_batch(users, n=20)
    theirs = Popularity().fit(train).recommend_batch(users, n=20)
    assert ours["item_id"].tolist() == theirs["item_id"].tolist()


# ---------------------------------------------------------------- ties in time: the order of the rows


def test_ties_in_time_follow_the_order_of_the_rows():
    same = _frame([("a", 1, "2024-01-01"), ("a", 2, "2024-01-02"), ("a", 3, "2024-01-02"),
                   ("b", 9, "2024-01-01")])
    swapped = same.iloc[[0, 2, 1, 3]]
    forward, backward = MarkovChain().fit(same), MarkovChain().fit(swapped)
    assert dict(_reference_transitions(same)) == {(1, 2): 1, (2, 3): 1}
    assert dict(_reference_transitions(swapped)) == {(1, 3): 1, (3, 2): 1}
    for model, frame in ((forward, same), (backward, swapped)):
        T = model.transitions_.tocoo()
        got = {(model.item_ids_[i], model.item_ids_[j]): c for i, j, c in zip(T.row, T.col, T.data)}
        assert got == dict(_reference_transitions(frame))
    assert forward.item_ids_[forward.last_items_[0, 0]] == 3
    assert backward.item_ids_[backward.last_items_[0, 0]] == 2
    knn_forward = RecentItemKNN(n_recent=1).fit(same).last_items_[0, 0]
    knn_backward = RecentItemKNN(n_recent=1).fit(swapped).last_items_[0, 0]
    assert (knn_forward, knn_backward) == (2, 1)  # columns of items 3 and 2


def test_the_row_order_matters_only_for_ties_in_time(toy):
    shuffled = toy.ratings.sample(frac=1.0, random_state=0)  # the toy has no two ratings of a user at one time
    for make in (lambda: MarkovChain(), lambda: RecentItemKNN(n_recent=3, decay=0.5)):
        np.testing.assert_array_equal(make().fit(toy.ratings).score([1, 2, 3]).to_numpy(),
                                      make().fit(shuffled).score([1, 2, 3]).to_numpy())


# ---------------------------------------------------------------- bad input


@pytest.mark.parametrize("model", [m() for m in MODELS])
def test_every_model_refuses_a_frame_without_timestamps(toy, model):
    with pytest.raises(ValueError, match=r"no timestamp column \(it has \['user_id', 'item_id', 'rating'\]\)"):
        model.fit(toy.ratings.drop(columns="timestamp"))


@pytest.mark.parametrize("model", [m() for m in MODELS])
def test_every_model_refuses_missing_timestamps(toy, model):
    ratings = toy.ratings.copy()
    ratings.loc[3, "timestamp"] = pd.NaT
    with pytest.raises(ValueError, match="missing timestamp"):
        model.fit(ratings)


@pytest.mark.parametrize("model, match", [
    (RecentPopularity(window_days=0), r"window_days must be a finite number > 0, got 0: .*None for all time"),
    (RecentPopularity(window_days=-7), "window_days must be a finite number > 0, got -7"),
    (RecentPopularity(window_days="30"), "window_days must be a finite number > 0, got '30'"),
    (RecentPopularity(window_days=True), "window_days must be a finite number > 0, got True"),
    (RecentPopularity(window_days=float("inf")), "window_days must be a finite number > 0, got inf"),
    (MarkovChain(smoothing=0), "smoothing must be a finite number > 0, got 0"),
    (MarkovChain(smoothing=-1.0), "smoothing must be a finite number > 0, got -1.0"),
    (RecentItemKNN(n_recent=0), "n_recent must be an integer >= 1, got 0"),
    (RecentItemKNN(n_recent=2.5), "n_recent must be an integer >= 1, got 2.5"),
    (RecentItemKNN(decay=0), "decay must be a finite number > 0, got 0"),
    (RecentItemKNN(decay=1.5), r"decay must be in \(0, 1\], got 1.5"),
    (RecentItemKNN(decay=float("nan")), "decay must be a finite number > 0, got nan"),
    (RecentItemKNN(n_neighbors=0), "n_neighbors must be an integer >= 1, got 0"),
])
def test_bad_hyperparameters_are_refused_with_the_value(toy, model, match):
    with pytest.raises(ValueError, match=match):
        model.fit(toy.ratings)


# ---------------------------------------------------------------- the protocol


@pytest.mark.parametrize("make", MODELS)
def test_the_protocol(toy, make):
    model = make().fit(toy.ratings)
    assert clone(model).get_params() == make().get_params()
    batch = model.recommend_batch([1, 2, 99], n=3)
    for user in (1, 2, 99):
        alone = model.recommend(user, n=3)
        mine = batch[batch.user_id == user]
        assert alone["item_id"].tolist() == mine["item_id"].tolist()
        assert alone["score"].tolist() == mine["score"].tolist()
    seen = set(toy.ratings.item_id[toy.ratings.user_id == 1])
    assert not seen & set(batch.item_id[batch.user_id == 1])
    assert set(batch.source[batch.user_id != 99]) == {MODEL}  # every known user is scored: no NaN
    assert set(batch.source[batch.user_id == 99]) == {UNKNOWN_USER}
    assert CANNOT_SCORE not in set(model.recommend_batch(n=8).source)
    everything = model.recommend_batch(n=8, exclude_seen=False)
    assert everything.groupby("user_id").size().eq(8).all()  # every item listed: all scores finite


def test_an_unknown_user_gets_the_protocols_fallback_all_time_popularity(toy):
    model = RecentPopularity(window_days=10).fit(toy.ratings)
    assert model.recommend(1, n=3, exclude_seen=False)["item_id"].tolist() == [8, 6, 1]
    for make in MODELS:
        got = make().fit(toy.ratings).recommend(99, n=3)
        assert got["item_id"].tolist() == [1, 2, 3] and set(got.source) == {UNKNOWN_USER}


def test_models_need_no_rating_column(toy):
    ratings = toy.ratings.drop(columns="rating")
    for make in MODELS:
        make().fit(ratings).recommend(1, n=2)
