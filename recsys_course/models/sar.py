r"""SAR, "Simple Algorithm for Recommendation": the item-to-item baseline of recommenders-team/recommenders.

It is here as a yardstick: that project publishes a table of ranking models on
MovieLens-100k, and reproducing its SAR row to the last printed digit is how
the course checks that it evaluates on the same protocol as the table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from ..checks import check_number
from .base import Recommender, TrainingData

__all__ = ["SAR"]

_DAY = 24 * 3600


def _seconds(timestamps: pd.Series) -> np.ndarray:
    """Timestamps as seconds (datetimes since the epoch, or numbers already in seconds)."""
    if pd.api.types.is_datetime64_any_dtype(timestamps):
        return timestamps.to_numpy().astype("datetime64[s]").astype(np.int64).astype(float)
    return timestamps.to_numpy(dtype=float)


class SAR(Recommender):
    r"""Item-to-item recommender with time-decayed affinities (recommenders-team's ``SARSingleNode``).

    With :math:`H` the users x items 0/1 matrix of who rated what, the
    co-occurrence :math:`C = H^\top H` counts the users two items share, and
    the Jaccard similarity is

    .. math:: s_{ij} = \frac{C_{ij}}{C_{ii} + C_{jj} - C_{ij}}

    (the diagonal is kept: :math:`s_{ii} = 1`). A user's affinity for an item
    is the rating times a decay that halves every ``half_life_days`` before
    the last training timestamp, :math:`a_{ui} = r_{ui}\,2^{-(t_{max}-t_{ui})/T}`,
    and the score is :math:`\mathrm{score}(u, j) = \sum_i a_{ui}\, s_{ij}`.
    The defaults are the settings of recommenders-team's MovieLens benchmark
    (Jaccard, 30-day half-life, ``time_now=None``).

    Parameters
    ----------
    half_life_days : float or None, default 30
        ``None`` switches the decay off (every affinity is the rating). With a
        half-life, the ratings need a ``timestamp`` column (datetimes, or
        seconds).

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> model = SAR(half_life_days=None).fit(load_toy().ratings)
    >>> bool(np.allclose(np.diag(model.similarity_), 1.0))
    True
    >>> model.recommend(1, n=2)["item_id"].tolist()
    [8, 6]
    """

    _needs_rating = False

    def __init__(self, half_life_days: float | None = 30.0):
        self.half_life_days = half_life_days

    def _fit(self, data: TrainingData) -> None:
        shape = (len(self.user_ids_), len(self.item_ids_))
        affinity = np.nan_to_num(data.r.astype(float), nan=1.0)  # no rating column: every affinity 1
        if self.half_life_days is not None:
            check_number("half_life_days", self.half_life_days, above=0, hint="or None to switch the decay off")
            if "timestamp" not in data.ratings.columns:
                raise ValueError(f"half_life_days={self.half_life_days!r} needs a 'timestamp' column in the "
                                 "ratings; pass half_life_days=None to fit without the time decay")
            t = _seconds(data.ratings["timestamp"])
            affinity = affinity * np.minimum(1.0, 0.5 ** ((t.max() - t) / (self.half_life_days * _DAY)))
        H = sparse.csr_matrix((np.ones(len(data.u)), (data.u, data.i)), shape=shape)
        C = (H.T @ H).toarray()
        counts = np.diag(C)
        with np.errstate(invalid="ignore", divide="ignore"):
            S = C / (counts[:, None] + counts[None, :] - C)
        S[~np.isfinite(S)] = 0.0  # an item nobody rated (0/0) is similar to nothing
        self.similarity_ = S
        self.affinity_ = sparse.csr_matrix((affinity, (data.u, data.i)), shape=shape)

    def _score(self, rows, cols):
        return np.asarray(self.affinity_[rows] @ self.similarity_[:, cols])
