"""EASE: the closed form is the constrained ridge regression it claims to be, and it follows the protocol."""

from itertools import pairwise

import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from recsys_course.models.linear import EASE


def _interactions(seed, n_users=30, n_items=12, density=0.3):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_users, n_items)) < density).astype(float)
    return X


def _fit(X, reg):
    users, items = np.nonzero(X)
    return EASE(reg=reg).fit(pd.DataFrame({"user_id": users + 1, "item_id": items + 1, "rating": 5}))


def _reference_column(X, j, reg):
    """Column j of B by brute force: ridge regression of X[:, j] on every other column (diag(B) = 0)."""
    others = [k for k in range(X.shape[1]) if k != j]
    A = X[:, others]
    w = np.linalg.solve(A.T @ A + reg * np.eye(len(others)), A.T @ X[:, j])
    column = np.zeros(X.shape[1])
    column[others] = w
    return column


@pytest.mark.parametrize("seed", range(5))
@pytest.mark.parametrize("reg", [0.5, 10.0])
def test_each_column_is_the_ridge_regression_of_that_item_on_the_others(seed, reg):
    X = _interactions(seed)
    model = _fit(X, reg)
    assert list(model.item_ids_) == list(range(1, X.shape[1] + 1))
    for j in range(X.shape[1]):
        np.testing.assert_allclose(model.weights_[:, j], _reference_column(X, j, reg), atol=1e-10)


def test_the_closed_form_meets_the_optimality_condition():
    # d/dB of the objective is 2(G B - X^T X) with G = X^T X + reg I; with diag(B) = 0 imposed, it vanishes
    # everywhere off the diagonal (the diagonal carries the Lagrange multipliers)
    X = _interactions(7)
    reg = 3.0
    B = _fit(X, reg).weights_
    gradient = (X.T @ X + reg * np.eye(X.shape[1])) @ B - X.T @ X
    off = ~np.eye(X.shape[1], dtype=bool)
    assert np.abs(gradient[off]).max() < 1e-9
    assert np.all(np.diag(B) == 0)


def test_scores_are_the_users_row_times_the_weights(toy):
    model = EASE(reg=2.0).fit(toy.ratings)
    table = model.score(model.user_ids_)
    X = sparse.csr_matrix(model.interactions_).toarray()
    np.testing.assert_allclose(table.to_numpy(), X @ model.weights_, atol=1e-12)


def test_stronger_regularisation_shrinks_the_weights(toy):
    norms = [np.linalg.norm(EASE(reg=reg).fit(toy.ratings).weights_) for reg in (0.1, 1.0, 10.0, 100.0)]
    assert all(a > b for a, b in pairwise(norms)), norms


@pytest.mark.parametrize("reg", [0, -1.0, float("nan"), "500"])
def test_a_bad_reg_is_refused_with_the_rule(toy, reg):
    with pytest.raises(ValueError, match=r"reg must be a finite number > 0, got .*singular"):
        EASE(reg=reg).fit(toy.ratings)
