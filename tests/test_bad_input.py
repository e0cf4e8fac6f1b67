"""Every bad input of issue 15, pinned: what used to be silent or a raw traceback is now a sentence.

One test per case, grouped as the issue lists them: silent wrong answers
(NaN ratings, divergence, other rating scales, id types, splits, empty data),
then the raw tracebacks (model parameters, NCF's training loop, splits,
evaluate). Each asserts the error's type and the words that tell the user
what is wrong and what to do. The data cache's cases live in ``test_data.py``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from recsys_course import split as S
from recsys_course.evaluation import evaluate
from recsys_course.models.base import FitError
from recsys_course.models.baselines import BaselineModel, Popularity
from recsys_course.models.bpr import BPR
from recsys_course.models.content import ContentRecommender
from recsys_course.models.hybrid import HybridRecommender
from recsys_course.models.implicit_mf import ImplicitALS
from recsys_course.models.knn import ImplicitItemKNN, ItemKNN, UserKNN
from recsys_course.models.linear import EASE
from recsys_course.models.mf import ALS, FunkSVD
from recsys_course.models.ncf import GMF, MLP, NCF, NeuMF, train
from recsys_course.models.sar import SAR
from recsys_course.models.two_tower import TwoTower


@pytest.fixture(scope="module")
def sample(synthetic):
    """5,000 ratings with MovieLens-100k's shape (random values), and its movies and users."""
    return synthetic.ratings.sample(5000, random_state=0), synthetic.movies, synthetic.users


# ------------------------------------------------------------------ NaN ratings

MODELS = [BaselineModel, FunkSVD, ALS, UserKNN, ItemKNN, Popularity, ImplicitItemKNN, EASE, ImplicitALS, BPR, SAR, NCF,
          TwoTower]


@pytest.mark.parametrize("model", MODELS + [ContentRecommender], ids=lambda m: m.__name__)
def test_a_nan_rating_is_refused_by_every_model(toy, model):
    ratings = toy.ratings.astype({"rating": float})
    ratings.loc[ratings.user_id == 1, "rating"] = np.nan
    args = (toy.movies,) if model is ContentRecommender else ()
    with pytest.raises(ValueError, match=r"4 missing or infinite rating\(s\), e.g. user 1, item \d+: .*dropna"):
        model().fit(ratings, *args)


def test_an_infinite_rating_is_refused_too(toy):
    ratings = toy.ratings.astype({"rating": float})
    ratings.loc[3, "rating"] = np.inf
    with pytest.raises(ValueError, match=r"1 missing or infinite rating"):
        FunkSVD().fit(ratings)


def test_the_hybrid_refuses_a_nan_rating(sample):
    ratings, movies, users = sample
    ratings = ratings.astype({"rating": float})
    ratings.iloc[0, ratings.columns.get_loc("rating")] = np.nan
    with pytest.raises(ValueError, match="missing or infinite rating"):
        HybridRecommender(n_epochs=1).fit(ratings, movies, users)


# ------------------------------------------------------------------ divergence


def test_divergence_names_the_learning_rate(sample):
    with pytest.raises(FitError, match=r"FunkSVD diverged: .* NaN or infinite .* lower the learning rate: "
                                       r"lr=1.0 \(the default is 0.005\)"):
        FunkSVD(lr=1.0, n_epochs=5).fit(sample[0])


def test_fit_error_is_a_value_error():
    """Code that catches ValueError around ``fit`` (as scikit-learn's search does) still catches it."""
    assert issubclass(FitError, ValueError)


# ------------------------------------------------------------------ other rating scales


def test_a_2_to_10_scale_is_taken_from_the_data(toy):
    ratings = toy.ratings.assign(rating=toy.ratings.rating * 2)
    model = FunkSVD(n_factors=2, n_epochs=50, lr=0.01).fit(ratings)
    assert model.rating_scale_ == (2.0, 10.0)
    pred = model.predict(np.repeat([1, 2, 3, 4, 5], 8), np.tile(range(1, 9), 5))
    assert pred.min() >= 2.0 and pred.max() <= 10.0
    assert pred.max() > 5.0  # before: clipped to 1..5, so at most 5.0


def test_boolean_ratings_are_read_as_0_and_1(toy):
    ratings = toy.ratings.assign(rating=toy.ratings.rating >= 4)
    model = FunkSVD(n_factors=2, n_epochs=20).fit(ratings)
    assert model.rating_scale_ == (0.0, 1.0)
    pred = model.predict([1, 2, 3], [3, 4, 5])
    assert ((pred >= 0) & (pred <= 1)).all() and pred.max() < 1.0  # before: 1.0 everywhere


def test_a_given_scale_must_hold_the_ratings(toy):
    assert FunkSVD(n_epochs=1).fit(toy.ratings, rating_scale=(0, 10)).rating_scale_ == (0.0, 10.0)
    with pytest.raises(ValueError, match=r"ratings go from 1 to 5, outside rating_scale=\(1, 4\)"):
        FunkSVD().fit(toy.ratings, rating_scale=(1, 4))
    with pytest.raises(ValueError, match=r"rating_scale must be \(lowest, highest\)"):
        FunkSVD().fit(toy.ratings, rating_scale=5)


def test_the_hybrids_positive_threshold_follows_the_scale(sample):
    ratings, movies, users = sample
    doubled = ratings.assign(rating=ratings.rating * 2)
    model = HybridRecommender(n_epochs=1).fit(doubled, movies, users)
    assert model.positive_threshold_ == 8.0  # three quarters up the 2..10 scale, as 4 is on 1..5
    share = (model.interactions_.data > 0).sum() / len(doubled)
    assert share == pytest.approx((ratings.rating >= 4).mean())  # before: 93.5% (everything >= 4)
    with pytest.raises(ValueError, match=r"no rating is >= positive_threshold=11 \(ratings go from 2 to 10\)"):
        HybridRecommender(n_epochs=1, positive_threshold=11).fit(doubled, movies, users)


# ------------------------------------------------------------------ id types


def test_a_text_id_asked_of_a_model_fitted_on_numbers(toy):
    model = FunkSVD(n_factors=2, n_epochs=5).fit(toy.ratings)
    with pytest.raises(TypeError, match=r"user_id '1' is text, but this was fitted on numeric ids such as 1: "
                                        r"convert them, e.g. int\('1'\)"):
        model.predict(["1"], [3])
    with pytest.raises(TypeError, match="is text, but this was fitted on numeric ids"):
        model.recommend("1")


def test_ids_mixing_text_and_numbers_are_refused():
    frame = pd.DataFrame({"user_id": [1, "1", 2], "item_id": [1, 2, 3], "rating": 4})
    with pytest.raises(TypeError, match=r"ratings\['user_id'\] mixes text and numbers \(e.g. '1' and 1\), so one "
                                        r"id could be counted as two: .*astype\(int\)"):
        Popularity().fit(frame)


def test_an_unknown_id_of_the_right_type_still_falls_back(toy):
    """The check refuses the wrong type only: an unseen user of the right type gets the popularity list."""
    model = FunkSVD(n_factors=2, n_epochs=5).fit(toy.ratings)
    assert model.recommend(999, n=3)["source"].unique().tolist() == ["popularity: unknown user"]


# ------------------------------------------------------------------ splits


def test_nat_timestamps_are_refused_by_the_splits_by_time(toy):
    ratings = toy.ratings.copy()
    ratings.loc[:4, "timestamp"] = pd.NaT
    for split in (lambda r: S.temporal_split(r, test_size=0.25), S.leave_last_out):
        with pytest.raises(ValueError, match=r"5 missing timestamp\(s\) \(NaT\), e.g. in row 0: .*drop those rows"):
            split(ratings)


def test_repeated_pairs_are_refused_before_they_leak(toy):
    doubled = pd.concat([toy.ratings, toy.ratings], ignore_index=True)
    for split in (S.random_split, S.temporal_split, S.leave_last_out, S.cold_start_split, S.kfold):
        with pytest.raises(ValueError, match=r"23 repeated \(user_id, item_id\) pair\(s\), e.g. \(1, \d+\): "
                                             r"keep one rating per pair"):
            split(doubled)


def test_a_split_never_returns_an_empty_side(toy):
    with pytest.raises(ValueError, match=r"test_size=0.01 of 23 ratings rounds to 0 test ratings: choose "
                                         r"test_size between 0.0217 and 0.978"):
        S.random_split(toy.ratings, 0.01)
    with pytest.raises(ValueError, match=r"leaves an empty test set: no user has more than n=1000000 ratings "
                                         r"\(the most is 5\).*choose n < 5"):
        S.leave_last_out(toy.ratings, n=10**6)
    with pytest.raises(ValueError, match=r"leaves an empty test set: .* is after every rating"):
        S.temporal_split(toy.ratings, cutoff="2100-01-01")


def test_cutoff_and_test_size_together_are_refused(toy):
    with pytest.raises(ValueError, match=r"give cutoff or test_size, not both \(got cutoff='2024-01-25', "
                                         r"test_size=1.5\)"):
        S.temporal_split(toy.ratings, cutoff="2024-01-25", test_size=1.5)


def test_a_numeric_cutoff_on_dates_says_what_to_pass(toy):
    with pytest.raises(TypeError, match=r"cutoff=12345 is a number, but the timestamps are dates: pass a time"):
        S.temporal_split(toy.ratings, cutoff=12345)
    with pytest.raises(TypeError, match=r"cutoff='soon' is not a time"):
        S.temporal_split(toy.ratings, cutoff="soon")


def test_cold_start_split_of_nothing_and_kfold_without_items(toy):
    with pytest.raises(ValueError, match="ratings is empty: there is nothing to split"):
        S.cold_start_split(toy.ratings.iloc[:0])
    with pytest.raises(ValueError, match=r"ratings needs columns \['user_id', 'item_id'\]; missing \['item_id'\]"):
        S.kfold(toy.ratings.drop(columns="item_id"))


# ------------------------------------------------------------------ empty training data


@pytest.mark.parametrize("model", MODELS + [ContentRecommender], ids=lambda m: m.__name__)
def test_empty_training_data_is_refused(toy, model):
    args = (toy.movies,) if model is ContentRecommender else ()
    with pytest.raises(ValueError, match="ratings is empty: there is nothing to learn from"):
        model().fit(toy.ratings.iloc[:0], *args)


def test_the_hybrid_refuses_empty_training_data(sample):
    _, movies, users = sample
    with pytest.raises(ValueError, match="ratings is empty"):
        HybridRecommender(n_epochs=1).fit(sample[0].iloc[:0], movies, users)


# ------------------------------------------------------------------ model parameters


@pytest.mark.parametrize(("params", "words"), [
    ({"loss": "mse"}, r"loss must be one of 'warp', 'bpr', 'logistic', 'warp-kos'; got 'mse'"),
    ({"n_factors": 0}, r"n_factors must be an integer >= 1, got 0"),
    ({"mode": "both"}, r"mode must be one of .*; got 'both'"),
    ({"lr": -1}, r"lr must be a finite number > 0, got -1"),
])
def test_hybrid_parameters_are_checked_before_lightfm_sees_them(sample, params, words):
    with pytest.raises(ValueError, match=words):
        HybridRecommender(n_epochs=1, **params).fit(*sample)


@pytest.mark.parametrize(("params", "words"), [
    ({"n_factors": -2}, r"n_factors must be an integer >= 1, got -2"),
    ({"n_epochs": -1}, r"n_epochs must be an integer >= 0, got -1"),
    ({"reg": 0}, r"reg must be a finite number > 0, got 0: each solve adds reg to the diagonal"),
    ({"n_factors": 2.5}, r"n_factors must be an integer >= 1, got 2.5"),
])
def test_als_parameters(toy, params, words):
    with pytest.raises(ValueError, match=words):
        ALS(**params).fit(toy.ratings)


def test_content_needs_titles_or_genres_but_not_a_year(toy):
    recommended = ContentRecommender().fit(toy.ratings, toy.movies.drop(columns="year")).recommend(1, n=2)
    assert len(recommended) == 2  # before: KeyError: 'year'
    with pytest.raises(ValueError, match=r"ratings name 8 item_id\(s\) missing from movies"):
        ContentRecommender().fit(toy.ratings, toy.movies.iloc[:0])
    wordless = toy.movies.assign(title="", genres=[[]] * len(toy.movies)).drop(columns="year")
    with pytest.raises(ValueError, match=r"hold no word to build TF-IDF from \(8 movies, e.g. '' for item 1\)"):
        ContentRecommender().fit(toy.ratings, wordless)
    with pytest.raises(ValueError, match=r"movies needs columns item_id, title and genres"):
        ContentRecommender().fit(toy.ratings, toy.movies.drop(columns="genres"))


# ------------------------------------------------------------------ NCF's training loop

POS_U, POS_I = np.array([0, 1, 1]), np.array([1, 2, 0])


def test_ncf_refuses_raw_ids(toy):
    with pytest.raises(ValueError, match=r"users holds 5, but the network's users are rows 0..4: users are row "
                                         r"numbers \(positions\), not raw ids"):
        train(GMF(5, 8, dim=2), toy.ratings.user_id.to_numpy(), toy.ratings.item_id.to_numpy(), 8, epochs=1)
    with pytest.raises(ValueError, match=r"items holds 3, but the network's items are rows 0..2"):
        train(GMF(2, 3, dim=2), POS_U, np.array([1, 3, 0]), 3, epochs=1)


def test_ncf_refuses_empty_and_repeated_positives():
    with pytest.raises(ValueError, match="users and items are empty: there are no positives to train on"):
        train(GMF(2, 3, dim=2), np.array([], dtype=int), np.array([], dtype=int), 3, epochs=1)
    with pytest.raises(ValueError, match=r"repeat 2 \(user, item\) pair\(s\), e.g. \(0, 1\): a repeated positive "
                                         r"would count twice"):
        train(GMF(2, 3, dim=2), np.array([0, 0, 0, 1]), np.array([1, 1, 1, 2]), 3, epochs=1)


def test_ncf_takes_lists_as_well_as_arrays():
    history = train(GMF(2, 3, dim=2), [0, 1], [1, 2], 3, epochs=1)
    assert np.isfinite(history.loss).all()


@pytest.mark.parametrize(("options", "words"), [
    ({"batch_size": 0}, r"batch_size must be an integer >= 1, got 0"),
    ({"n_negatives": -1}, r"n_negatives must be an integer >= 1, got -1"),
    ({"epochs": -1}, r"epochs must be an integer >= 0, got -1"),
    ({"lr": 0}, r"lr must be a finite number > 0, got 0"),
])
def test_ncf_training_options(options, words):
    with pytest.raises(ValueError, match=words):
        train(GMF(2, 3, dim=2), POS_U, POS_I, 3, **options)


@pytest.mark.parametrize("network", [MLP, NeuMF])
def test_ncf_networks_need_layers(network):
    with pytest.raises(ValueError, match=r"layers must be a non-empty tuple of widths >= 1, e.g. \(64, 32, 16\); "
                                         r"got \(\)"):
        network(2, 3, layers=())


def test_ncf_estimator_parameters(toy):
    with pytest.raises(ValueError, match=r"architecture must be one of 'gmf', 'mlp', 'neumf'; got 'transformer'"):
        NCF(architecture="transformer").fit(toy.ratings)
    with pytest.raises(ValueError, match=r"n_factors must be an integer >= 1, got 0"):
        NCF(n_factors=0).fit(toy.ratings)


# ------------------------------------------------------------------ evaluate


def test_evaluate_without_a_rating_column_suggests_implicit_relevance(toy):
    model = Popularity().fit(toy.ratings)
    with pytest.raises(ValueError, match=r"test has no 'rating' column, but relevance_threshold=4 .*pass "
                                         r"relevance_threshold=None"):
        evaluate(model, toy.ratings, toy.ratings.drop(columns="rating"))
    result = evaluate(model, toy.ratings, toy.ratings.drop(columns="rating"), relevance_threshold=None)
    assert len(result) == 1


def test_evaluate_refuses_a_recommender_that_returns_none(toy):
    with pytest.raises(TypeError, match="the recommender returned None instead of a list of item ids"):
        evaluate(lambda user, n: None, toy.ratings, toy.ratings)
