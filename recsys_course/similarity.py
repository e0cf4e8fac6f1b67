r"""Similarities between the rows of a sparse rating matrix, over co-rated columns only.

Rows are the things compared (users for user-based CF, items for item-based),
columns the other side. For two rows :math:`x, y` let :math:`C_{xy}` be the
columns both have a rating in (the *support* is :math:`|C_{xy}|`). Every sum
below runs over :math:`C_{xy}` only, exactly as Surprise defines them:

.. math::

    \cos(x, y) = \frac{\sum r_{xc} r_{yc}}{\sqrt{\sum r_{xc}^2}\sqrt{\sum r_{yc}^2}}
    \qquad
    \mathrm{pearson}(x, y) = \frac{\sum (r_{xc} - \bar r_x)(r_{yc} - \bar r_y)}
        {\sqrt{\sum (r_{xc} - \bar r_x)^2}\sqrt{\sum (r_{yc} - \bar r_y)^2}}

where the Pearson means :math:`\bar r_x, \bar r_y` are taken over
:math:`C_{xy}` too (not over all of x's ratings). Pairs with a support below
``min_support`` get similarity 0, as do Pearson pairs with zero variance on
their common columns; the diagonal is 1. Shrinkage multiplies a similarity by
:math:`(n - 1) / (n - 1 + \lambda)` with :math:`n` the support, pulling
similarities computed from few common ratings towards 0 (Koren 2010; Surprise
applies it in ``pearson_baseline``).

Everything is a handful of sparse matrix products: each of the sums above is
one entry of a product such as :math:`R R^\top` or :math:`(R \circ R) B^\top`
with :math:`B` the 0/1 pattern of :math:`R`.

For implicit feedback (who interacted with what, not how) the comparison runs
over *all* users instead, not only co-rated ones, since over co-rated columns
two 0/1 vectors always have cosine 1: :func:`implicit_cosine` compares the
columns of a users x items interaction matrix, and :func:`top_k_mask` keeps
each item's ``k`` nearest neighbours (the item-kNN models of
:mod:`recsys_course.models.knn` and :mod:`recsys_course.models.next_item`).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["SIMILARITIES", "compute", "cosine", "implicit_cosine", "pearson", "shrink", "support", "top_k_mask"]

SIMILARITIES = ("cosine", "pearson")


def _pattern(R: sparse.spmatrix) -> sparse.csr_matrix:
    B = sparse.csr_matrix(R, dtype=np.float64, copy=True)
    B.data[:] = 1.0  # a stored cell is a known rating, whatever its value
    return B


def _dense(M) -> np.ndarray:
    return M.toarray() if sparse.issparse(M) else np.asarray(M)


def support(R: sparse.spmatrix) -> np.ndarray:
    """Number of co-rated columns of every pair of rows (dense, rows x rows)."""
    B = _pattern(R)
    return _dense(B @ B.T)


def _finish(sim: np.ndarray, n: np.ndarray, min_support: int) -> np.ndarray:
    sim[n < min_support] = 0.0
    np.fill_diagonal(sim, 1.0)
    return sim


def cosine(R: sparse.spmatrix, min_support: int = 1) -> np.ndarray:
    """Cosine similarity of the rows of ``R`` over co-rated columns (dense, rows x rows)."""
    R = sparse.csr_matrix(R, dtype=np.float64)
    B = _pattern(R)
    n = _dense(B @ B.T)
    prods = _dense(R @ R.T)
    sq = R.multiply(R).tocsr()
    sq_x = _dense(sq @ B.T)            # sum of r_xc^2 over the columns shared with y
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = prods / np.sqrt(sq_x * sq_x.T)
    sim[~np.isfinite(sim)] = 0.0
    return _finish(sim, n, min_support)


def pearson(R: sparse.spmatrix, min_support: int = 1) -> np.ndarray:
    """Pearson correlation of the rows of ``R``, centred on the co-rated means (dense)."""
    R = sparse.csr_matrix(R, dtype=np.float64)
    B = _pattern(R)
    n = _dense(B @ B.T)
    prods = _dense(R @ R.T)
    s_x = _dense(R @ B.T)               # sum of r_xc over the columns shared with y
    sq_x = _dense(R.multiply(R).tocsr() @ B.T)
    num = n * prods - s_x * s_x.T
    var_x = n * sq_x - s_x**2
    with np.errstate(invalid="ignore", divide="ignore"):
        sim = num / np.sqrt(var_x * var_x.T)
    sim[~np.isfinite(sim)] = 0.0        # zero variance on the common columns
    return _finish(sim, n, min_support)


def shrink(sim: np.ndarray, n: np.ndarray, shrinkage: float) -> np.ndarray:
    r"""Pull each similarity towards 0 by :math:`(n - 1)/(n - 1 + \lambda)`, keeping the diagonal at 1."""
    if shrinkage < 0:
        raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
    if shrinkage == 0:
        return sim
    with np.errstate(invalid="ignore", divide="ignore"):
        factor = np.where(n > 1, (n - 1) / (n - 1 + shrinkage), 0.0)
    out = sim * factor
    np.fill_diagonal(out, 1.0)
    return out


def compute(R: sparse.spmatrix, kind: str = "pearson", min_support: int = 1, shrinkage: float = 0.0) -> np.ndarray:
    """Similarity of the rows of ``R``: ``kind`` is ``"cosine"`` or ``"pearson"``, optionally shrunk."""
    if kind not in SIMILARITIES:
        raise ValueError(f"similarity must be one of {SIMILARITIES}, got {kind!r}")
    if isinstance(min_support, bool) or not isinstance(min_support, (int, np.integer)) or min_support < 0:
        raise ValueError(f"min_support must be an integer >= 0, got {min_support!r}")
    sim = cosine(R, min_support) if kind == "cosine" else pearson(R, min_support)
    return shrink(sim, support(R), shrinkage) if shrinkage else sim


def implicit_cosine(X: sparse.spmatrix, shrinkage: float = 0.0) -> np.ndarray:
    r"""Cosine between the columns of a users x items interaction matrix, over all users, optionally shrunk.

    With :math:`x_i` the column of item *i* (for 0/1 data: which users
    interacted with it) and :math:`\lambda` the shrinkage,

    .. math:: s_{ij} = \frac{x_i \cdot x_j}{\lVert x_i\rVert\,\lVert x_j\rVert + \lambda}

    Returns a dense items x items array. An item nobody interacted with is
    similar to nothing (0, where the formula gives 0/0). The diagonal is left
    as the formula gives it (1 without shrinkage): the models zero it, since
    an item does not recommend itself.

    >>> X = sparse.csr_matrix([[1, 1, 0], [1, 0, 0], [1, 1, 0]])   # 3 users, 3 items
    >>> implicit_cosine(X).round(3).tolist()
    [[1.0, 0.816, 0.0], [0.816, 1.0, 0.0], [0.0, 0.0, 0.0]]
    """
    if shrinkage < 0:
        raise ValueError(f"shrinkage must be >= 0, got {shrinkage}")
    X = sparse.csr_matrix(X, dtype=np.float64)
    norms = np.sqrt(np.asarray(X.multiply(X).sum(axis=0)).ravel())
    with np.errstate(invalid="ignore", divide="ignore"):
        S = (X.T @ X).toarray() / (np.outer(norms, norms) + shrinkage)
    S[~np.isfinite(S)] = 0.0  # an item nobody interacted with (0/0) is similar to nothing
    return S


def top_k_mask(S: np.ndarray, k: int) -> np.ndarray:
    """Mask of the ``k`` largest entries of each column of ``S``, ties to the smaller row index.

    Meant for a square similarity whose diagonal has been zeroed: with
    ``k >= n - 1`` every entry but the diagonal is kept. For a symmetric
    ``S`` the transpose is the mask of each *row*'s ``k`` largest.

    >>> top_k_mask(np.array([[0, 3, 1], [3, 0, 1], [1, 1, 0.]]), 1).astype(int).tolist()
    [[0, 1, 1], [1, 0, 0], [0, 0, 0]]
    """
    n = S.shape[0]
    if k >= n - 1:
        return ~np.eye(n, dtype=bool)
    order = np.lexsort((np.tile(np.arange(n)[:, None], (1, n)), -S), axis=0)[:k]
    mask = np.zeros_like(S, dtype=bool)
    np.put_along_axis(mask, order, True, axis=0)
    return mask
