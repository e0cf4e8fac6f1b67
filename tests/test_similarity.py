"""The implicit-feedback helpers of recsys_course.similarity against loops written from their definitions.

(The co-rated similarities are checked against Surprise in tests/models/test_knn.py.)"""

import math

import numpy as np
import pytest
from scipy import sparse

from recsys_course import similarity


def _random_interactions(seed, n_users=30, n_items=12, density=0.25):
    rng = np.random.default_rng(seed)
    X = (rng.random((n_users, n_items)) < density).astype(float)
    X[:, 3] = 0.0  # an item nobody interacted with
    return X


@pytest.mark.parametrize("shrinkage", [0.0, 2.5])
def test_implicit_cosine_equals_the_formula_loop(shrinkage):
    X = _random_interactions(0)
    n_items = X.shape[1]
    expected = np.zeros((n_items, n_items))
    for i in range(n_items):
        for j in range(n_items):
            dot = sum(X[u, i] * X[u, j] for u in range(X.shape[0]))
            norm_i = math.sqrt(sum(X[u, i] ** 2 for u in range(X.shape[0])))
            norm_j = math.sqrt(sum(X[u, j] ** 2 for u in range(X.shape[0])))
            denominator = norm_i * norm_j + shrinkage
            expected[i, j] = dot / denominator if denominator else 0.0
    got = similarity.implicit_cosine(sparse.csr_matrix(X), shrinkage)
    np.testing.assert_allclose(got, expected, atol=1e-12)
    assert (got[3] == 0).all() and (got[:, 3] == 0).all()
    if shrinkage == 0:
        assert np.allclose(np.diag(got)[X.sum(axis=0) > 0], 1.0)


def test_implicit_cosine_refuses_negative_shrinkage():
    with pytest.raises(ValueError, match="shrinkage must be >= 0, got -1"):
        similarity.implicit_cosine(sparse.csr_matrix(np.eye(3)), -1)


@pytest.mark.parametrize("k", [1, 2, 4, 11, 20])
def test_top_k_mask_keeps_each_columns_k_largest_ties_to_the_smaller_row(k):
    S = similarity.implicit_cosine(sparse.csr_matrix(_random_interactions(1)))
    S = np.round(S, 1)  # many ties
    np.fill_diagonal(S, 0.0)
    n = len(S)
    mask = similarity.top_k_mask(S, k)
    for j in range(n):
        if k >= n - 1:
            wanted = [i for i in range(n) if i != j]
        else:
            wanted = sorted(range(n), key=lambda i: (-S[i, j], i))[:k]
        assert sorted(np.flatnonzero(mask[:, j]).tolist()) == sorted(wanted), j
