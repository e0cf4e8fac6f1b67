"""Implicit ALS: exact solves that only lower the objective, equal to the `implicit` library from the same start."""

from itertools import pairwise

import numpy as np
import pytest
from implicit.cpu.als import AlternatingLeastSquares
from scipy import sparse

from recsys_course.models.implicit_mf import ImplicitALS, implicit_als


def _confidence(seed, n_users=40, n_items=25, density=0.2, alpha=5.0):
    rng = np.random.default_rng(seed)
    X = sparse.random(n_users, n_items, density=density, format="csr", random_state=seed)
    X.data[:] = 1.0 + alpha * rng.integers(1, 4, X.nnz)  # confidences above 1
    return X


def _objective(C, X, Y, reg):
    dense = C.toarray()
    weight = np.where(dense > 0, dense, 1.0)
    target = (dense > 0).astype(float)
    return float((weight * (target - X @ Y.T) ** 2).sum() + reg * ((X ** 2).sum() + (Y ** 2).sum()))


def _start(C, k, seed=1):
    rng = np.random.default_rng(seed)
    return rng.random((C.shape[0], k)) * 0.01, rng.random((C.shape[1], k)) * 0.01


def test_each_sweep_lowers_the_weighted_objective_and_leaves_the_inputs_alone():
    C = _confidence(0)
    X0, Y0 = _start(C, 4)
    X_copy = X0.copy()
    losses = [_objective(C, X0, Y0, 0.5)]
    X, Y = X0, Y0
    for _ in range(6):
        X, Y = implicit_als(C, X, Y, reg=0.5, n_epochs=1)
        losses.append(_objective(C, X, Y, 0.5))
    assert all(b <= a + 1e-9 for a, b in pairwise(losses)), losses
    np.testing.assert_array_equal(X0, X_copy)


def test_a_user_solve_is_the_dense_weighted_ridge_regression():
    C = _confidence(3)
    X0, Y0 = _start(C, 3)
    X, _ = implicit_als(C, X0, Y0, reg=0.2, n_epochs=1)
    # one epoch solves the users against Y0 first (then the items against the new users): X is that first half
    dense = C.toarray()
    u = int(np.argmax((dense > 0).sum(axis=1)))
    Cu = np.diag(np.where(dense[u] > 0, dense[u], 1.0))
    pu = (dense[u] > 0).astype(float)
    expected = np.linalg.solve(Y0.T @ Cu @ Y0 + 0.2 * np.eye(3), Y0.T @ Cu @ pu)
    np.testing.assert_allclose(X[u], expected, atol=1e-12)


@pytest.mark.parametrize("seed", range(3))
def test_equal_to_the_implicit_library_from_the_same_start(seed):
    C = _confidence(seed)
    X0, Y0 = _start(C, 5, seed)
    X, Y = implicit_als(C, X0, Y0, reg=0.3, n_epochs=4)
    reference = AlternatingLeastSquares(factors=5, regularization=0.3, alpha=1.0, dtype=np.float64, use_cg=False,
                                 iterations=4, num_threads=1, random_state=0)
    reference.user_factors, reference.item_factors = X0.copy(), Y0.copy()
    reference.fit(C, show_progress=False)
    np.testing.assert_allclose(reference.user_factors, X, atol=1e-10)
    np.testing.assert_allclose(reference.item_factors, Y, atol=1e-10)


def test_the_estimator_scores_with_its_factors_and_excludes_seen_items(toy):
    model = ImplicitALS(n_factors=3, n_epochs=5).fit(toy.ratings)
    table = model.score(model.user_ids_)
    np.testing.assert_allclose(table.to_numpy(), model.user_factors_ @ model.item_factors_.T, atol=1e-12)
    seen = set(toy.ratings.loc[toy.ratings.user_id == 1, "item_id"])
    assert not seen & set(model.recommend(1, n=3)["item_id"])


@pytest.mark.parametrize("param, value, rule", [("reg", 0, "reg must be a finite number > 0"),
                                                ("alpha", -1.0, "alpha must be a finite number >= 0"),
                                                ("n_factors", 0, "n_factors"), ("n_epochs", 2.5, "n_epochs")])
def test_bad_settings_are_refused_by_name(toy, param, value, rule):
    with pytest.raises(ValueError, match=rule):
        ImplicitALS(**{param: value}).fit(toy.ratings)
