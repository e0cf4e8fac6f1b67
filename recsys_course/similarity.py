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
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

__all__ = ["SIMILARITIES", "compute", "cosine", "pearson", "shrink", "support"]

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
