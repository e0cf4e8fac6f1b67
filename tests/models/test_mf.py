"""BaselineModel, FunkSVD and ALS: gradients, monotone losses, special cases, seeds, and Surprise."""

import numpy as np
import pytest
from surprise import SVD, BaselineOnly, Dataset, Reader

from recsys_course import data
from recsys_course.models.baselines import BaselineModel
from recsys_course.models.mf import ALS, FunkSVD, gradient, objective


@pytest.fixture(scope="module")
def sample():
    try:
        ratings = data.load_movielens_100k(download=False).ratings
    except data.DataError as exc:
        pytest.skip(f"MovieLens-100k is not cached: {exc}")
    return ratings.sample(8_000, random_state=3)[["user_id", "item_id", "rating"]]


def _surprise_fit(algo, frame):
    trainset = Dataset.load_from_df(frame, Reader(rating_scale=(1, 5))).build_full_trainset()
    return algo.fit(trainset)


def _known_pairs(frame, n=2_000, seed=0):
    rng = np.random.default_rng(seed)
    return rng.choice(frame.user_id.unique(), n), rng.choice(frame.item_id.unique(), n)


def test_funksvd_is_surprise_svd(sample):
    algo = _surprise_fit(SVD(n_factors=12, n_epochs=7, random_state=4), sample)
    ours = FunkSVD(n_factors=12, n_epochs=7, random_state=4).fit(sample)
    users, items = _known_pairs(sample)
    expected = np.array([algo.predict(u, i).est for u, i in zip(users, items)])
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-10)


@pytest.mark.parametrize("method", ["als", "sgd"])
def test_baseline_model_is_surprise_baseline_only(sample, method):
    algo = _surprise_fit(BaselineOnly(bsl_options={"method": method}, verbose=False), sample)
    ours = BaselineModel(method=method).fit(sample)
    users, items = _known_pairs(sample)
    expected = np.array([algo.predict(u, i).est for u, i in zip(users, items)])
    np.testing.assert_allclose(ours.predict(users, items), expected, atol=1e-10)


def test_zero_factors_is_the_sgd_baseline(toy):
    mf = FunkSVD(n_factors=0, n_epochs=20).fit(toy.ratings)
    base = BaselineModel(method="sgd").fit(toy.ratings)
    np.testing.assert_array_equal(mf.b_u_, base.b_u_)
    np.testing.assert_array_equal(mf.b_i_, base.b_i_)


def test_the_gradient_matches_finite_differences(toy):
    r = toy.ratings.rating.to_numpy(float)
    u, i = toy.ratings.user_id.to_numpy() - 1, toy.ratings.item_id.to_numpy() - 1
    rng = np.random.default_rng(0)
    params = {"b_u": rng.normal(size=5), "b_i": rng.normal(size=8), "P": rng.normal(size=(5, 3)), "Q": rng.normal(size=(8, 3))}
    J = lambda p: objective(r, u, i, 3.5, p["b_u"], p["b_i"], p["P"], p["Q"], reg=0.1)  # noqa: E731
    analytic = gradient(r, u, i, 3.5, params["b_u"], params["b_i"], params["P"], params["Q"], reg=0.1)
    eps = 1e-6
    for name, value in params.items():
        numeric = np.zeros_like(value)
        for idx in np.ndindex(value.shape):
            up = {k: v.copy() for k, v in params.items()}
            down = {k: v.copy() for k, v in params.items()}
            up[name][idx] += eps
            down[name][idx] -= eps
            numeric[idx] = (J(up) - J(down)) / (2 * eps)
        np.testing.assert_allclose(analytic[name], numeric, rtol=1e-6, atol=1e-6)


def test_the_loss_decreases_for_a_small_learning_rate(toy):
    model = FunkSVD(n_factors=3, n_epochs=40, lr=0.002, reg=0.05, record_history=True).fit(toy.ratings)
    assert len(model.history_) == 40 and np.all(np.diff(model.history_) < 0)


def test_als_objective_never_increases(toy):
    model = ALS(n_factors=2, n_epochs=15, reg=0.5, record_history=True).fit(toy.ratings)
    assert np.all(np.diff(model.history_) <= 1e-12)


def test_same_seed_same_model_other_seed_other_model(toy):
    a, b = (FunkSVD(n_factors=4, random_state=7).fit(toy.ratings) for _ in range(2))
    np.testing.assert_array_equal(a.P_, b.P_)
    c = FunkSVD(n_factors=4, random_state=8).fit(toy.ratings)
    assert not np.allclose(a.P_, c.P_)


def test_explain_takes_the_prediction_apart_and_callbacks_run(toy):
    seen = []
    model = FunkSVD(n_factors=2, n_epochs=5).fit(toy.ratings, epoch_callback=lambda m, epoch: seen.append(epoch))
    assert seen == [1, 2, 3, 4, 5]
    parts = model.explain(1, 8)
    u, i = model.user_ids_.get_loc(1), model.item_ids_.get_loc(8)
    assert parts["mu"] == toy.ratings.rating.mean()
    assert (parts["b_u"], parts["b_i"]) == (model.b_u_[u], model.b_i_[i])
    assert parts["p_u . q_i"] == pytest.approx(float(model.P_[u] @ model.Q_[i]), abs=1e-15)
    assert model.predict([1], [8], clip=False)[0] == pytest.approx(parts["r_hat (unclipped)"], abs=1e-12)
    with pytest.raises(KeyError, match="unknown user 99"):
        model.explain(99, 1)
    with pytest.raises(ValueError, match="method must be"):
        BaselineModel(method="magic").fit(toy.ratings)


def test_als_solves_each_item_as_a_ridge_regression(sample):
    """The last half-step of ALS: every item's factors are the ridge regression (no intercept) of the
    residual ratings r - mu - b_u - b_i on the factors of the users who rated it."""
    from sklearn.linear_model import Ridge

    model = ALS(n_factors=5, n_epochs=3, reg=2.0).fit(sample)
    frame = sample.assign(u=model.user_ids_.get_indexer(sample.user_id), i=model.item_ids_.get_indexer(sample.item_id))
    frame["resid"] = frame.rating - model.global_mean_ - model.b_u_[frame.u] - model.b_i_[frame.i]
    for item, rows in list(frame.groupby("i"))[:50]:
        ridge = Ridge(alpha=2.0, fit_intercept=False, solver="cholesky").fit(model.P_[rows.u], rows.resid)
        np.testing.assert_allclose(model.Q_[item], ridge.coef_, atol=1e-9)


@pytest.mark.parametrize("model_cls", [FunkSVD, ALS, BaselineModel])
def test_scores_are_the_unclipped_predictions(toy, model_cls):
    model = model_cls().fit(toy.ratings)
    users, items = model.user_ids_, model.item_ids_
    table = model.score(users)
    grid = model.predict(np.repeat(users, len(items)), np.tile(items, len(users)), clip=False)
    np.testing.assert_allclose(table.to_numpy(), grid.reshape(len(users), len(items)), atol=1e-12)


def test_half_known_pairs_use_the_known_bias_like_surprise(sample):
    algo = _surprise_fit(BaselineOnly(verbose=False), sample)
    ours = BaselineModel().fit(sample)
    users = [sample.user_id.iloc[0], 99_999, 99_999]
    items = [99_999, sample.item_id.iloc[0], 99_998]
    expected = [algo.predict(u, i).est for u, i in zip(users, items)]
    out = ours.predict(users, items, details=True)
    np.testing.assert_allclose(out["estimate"], expected, atol=1e-12)
    assert out["was_impossible"].all()
