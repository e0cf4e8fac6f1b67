r"""LightFM hybrids on MovieLens-100k: feature matrices, a wrapper, and new users.

LightFM (Kula 2015) represents a user by the *sum of the embeddings of their
features* and an item the same way; the score of a pair is the dot product
plus the two summed biases:

.. math:: \hat y_{ui} = \Big(\sum_{f \in F_u} w_{uf}\,\mathbf{e}_f\Big)\cdot
                        \Big(\sum_{g \in F_i} w_{ig}\,\mathbf{e}_g\Big)
                        + \sum_{f} w_{uf} b_f + \sum_{g} w_{ig} b_g

What the features are decides what the model is (``mode``):

``"collaborative"``  only an identity feature per user and per item: plain matrix factorisation
``"content"``        only metadata: age band, gender, occupation; genres, release decade
``"hybrid"``         both, so known users and items get a personal embedding on top of their metadata

Feature rows are normalised to sum to 1 (LightFM's ``Dataset`` default). A
new user described only by metadata gets the weights a training user with the
same features had, with a zero weight on the (unknown) identity feature.

Training uses ``num_threads=1`` and a fixed ``random_state``: more threads are
faster but LightFM's parallel SGD is then not bit-reproducible. Scores come
from the summed representations (``get_user_representations`` and
``get_item_representations``), one matrix product per block of users: the
same numbers as ``LightFM.predict``.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import sparse

from ..checks import check_choice, check_int, check_number
from ..ranking import check_n, rank_by_score
from .base import Recommender, TrainingData

__all__ = ["AGE_BANDS", "HybridRecommender", "age_band", "build_features", "item_feature_lists",
           "user_feature_lists"]

#: Age bands of the later MovieLens data sets (ml-1m), used as user features.
AGE_BANDS = ((0, 17, "<18"), (18, 24, "18-24"), (25, 34, "25-34"), (35, 44, "35-44"), (45, 49, "45-49"),
             (50, 55, "50-55"), (56, 200, "56+"))
MODES = ("collaborative", "content", "hybrid")
LOSSES = ("warp", "bpr", "logistic", "warp-kos")


def age_band(age: int) -> str:
    """The ml-1m age band of an age: ``age_band(29) == "25-34"``."""
    for low, high, name in AGE_BANDS:
        if low <= age <= high:
            return name
    raise ValueError(f"age must be between 0 and 200, got {age}")


def user_feature_lists(users: pd.DataFrame) -> dict:
    """``user_id -> ["age:25-34", "gender:M", "occupation:writer"]``."""
    missing = [c for c in ("user_id", "age", "gender", "occupation") if c not in users.columns]
    if missing:
        raise ValueError(f"users needs columns user_id, age, gender and occupation for the user features; "
                         f"missing {missing} (use mode='collaborative' to describe users by their id alone)")
    return {u: [f"age:{age_band(a)}", f"gender:{g}", f"occupation:{o}"]
            for u, a, g, o in zip(users["user_id"], users["age"], users["gender"], users["occupation"])}


def item_feature_lists(movies: pd.DataFrame) -> dict:
    """``item_id -> ["genre:Action", "genre:Sci-Fi", "decade:1970s"]`` (no decade when the year is unknown)."""
    missing = [c for c in ("item_id", "genres") if c not in movies.columns]
    if missing:
        raise ValueError(f"movies needs columns item_id and genres (a list per movie), and optionally year; "
                         f"missing {missing}")
    out = {}
    years = movies["year"] if "year" in movies.columns else [np.nan] * len(movies)
    for i, genres, year in zip(movies["item_id"], movies["genres"], years):
        feats = [f"genre:{g}" for g in genres]
        if not pd.isna(year):
            feats.append(f"decade:{int(year) // 10 * 10}s")
        out[i] = feats
    return out


def build_features(users: pd.DataFrame, movies: pd.DataFrame, mode: str = "hybrid"):
    """A fitted LightFM ``Dataset`` and the user and item feature matrices for ``mode``.

    Every user in ``users`` and every movie in ``movies`` gets a row, whether
    or not they have ratings, so cold-start users and items are described by
    their metadata. Returns ``(dataset, user_features, item_features)``.
    """
    from lightfm.data import Dataset

    check_choice("mode", mode, MODES)
    identity = mode != "content"
    metadata = mode != "collaborative"
    user_feats = user_feature_lists(users) if metadata else {u: [] for u in users["user_id"]}
    item_feats = item_feature_lists(movies) if metadata else {i: [] for i in movies["item_id"]}
    dataset = Dataset(user_identity_features=identity, item_identity_features=identity)
    dataset.fit(users["user_id"], movies["item_id"],
                user_features=sorted({f for fs in user_feats.values() for f in fs}),
                item_features=sorted({f for fs in item_feats.values() for f in fs}))
    user_features = dataset.build_user_features(user_feats.items())
    item_features = dataset.build_item_features(item_feats.items())
    return dataset, sparse.csr_matrix(user_features), sparse.csr_matrix(item_features)


class HybridRecommender(Recommender):
    """LightFM trained on positive ratings, behind the package's protocol.

    ``fit(ratings, movies, users)``: every user of ``users`` and every movie
    of ``movies`` gets a feature row, rated or not, so a movie nobody rated is
    scored from its metadata and a user in ``users`` without ratings from
    their demographics; a user in neither gets the protocol's popularity
    fallback. :meth:`recommend_new_user` describes someone by demographics
    alone.

    Parameters
    ----------
    mode : {"hybrid", "collaborative", "content"}
    loss : {"warp", "bpr", "logistic", "warp-kos"}
    n_factors : int
        Embedding size (LightFM's ``no_components``).
    n_epochs : int
    lr : float
        Learning rate (LightFM's ``learning_rate``).
    reg : float
        L2 penalty on the user and the item features (LightFM's ``user_alpha`` and ``item_alpha``).
    positive_threshold : float, optional
        Ratings at or above this are the positive interactions LightFM learns
        from. ``None`` (default): the top quarter of the rating scale, 4 on
        MovieLens' 1-5 (``lowest + 0.75 * (highest - lowest)``), so another
        scale (2-10, or 0/1 clicks) needs no new threshold.
    negative_threshold : float, optional
        Ratings at or below this become explicit negative interactions (-1).
        Only the logistic loss uses negatives; trained on positives alone it
        has nothing to tell them from. WARP and BPR sample their negatives.
    random_state : int
    verbose : bool
        A tqdm progress bar over epochs.
    """

    _catalogue_from_movies = True
    _users_from_frame = True
    _iterative = True

    def __init__(self, mode: str = "hybrid", loss: str = "warp", n_factors: int = 30, n_epochs: int = 30,
                 lr: float = 0.05, reg: float = 0.0, positive_threshold: float | None = None,
                 negative_threshold: float | None = None, random_state: int = 0, verbose: bool = False):
        self.mode = mode
        self.loss = loss
        self.n_factors = n_factors
        self.n_epochs = n_epochs
        self.lr = lr
        self.reg = reg
        self.positive_threshold = positive_threshold
        self.negative_threshold = negative_threshold
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, data: TrainingData) -> None:
        """Train on the ratings >= ``positive_threshold`` (and <= ``negative_threshold`` as -1)."""
        from lightfm import LightFM
        from tqdm.auto import tqdm

        check_choice("loss", self.loss, LOSSES)
        check_choice("mode", self.mode, MODES)
        check_int("n_factors", self.n_factors, 1)
        check_int("n_epochs", self.n_epochs, 0)
        check_number("lr", self.lr, above=0)
        check_number("reg", self.reg, at_least=0)
        low, high = data.rating_scale
        threshold = low + 0.75 * (high - low) if self.positive_threshold is None else self.positive_threshold
        keep = data.positives(threshold)
        if self.negative_threshold is not None:
            check_number("negative_threshold", self.negative_threshold)
            if self.negative_threshold >= threshold:
                raise ValueError(f"negative_threshold={self.negative_threshold!r} must be below the positive "
                                 f"threshold {threshold:g}: a rating cannot be both")
        self.positive_threshold_ = threshold
        users = data.users.drop_duplicates("user_id").set_index("user_id").loc[self.user_ids_].reset_index()
        movies = data.movies.drop_duplicates("item_id").set_index("item_id").loc[self.item_ids_].reset_index()
        self.dataset_, self.user_features_, self.item_features_ = build_features(users, movies, self.mode)
        ratings = data.ratings
        positives = ratings[keep]
        triples = list(zip(positives["user_id"], positives["item_id"], np.ones(len(positives))))
        if self.negative_threshold is not None:
            negatives = ratings[ratings["rating"] <= self.negative_threshold]
            triples += list(zip(negatives["user_id"], negatives["item_id"], -np.ones(len(negatives))))
        # build_interactions returns (0/1 pattern, weights): the weights carry the -1 of the negatives
        _, self.interactions_ = self.dataset_.build_interactions(triples)
        self.model_ = LightFM(no_components=self.n_factors, loss=self.loss, learning_rate=self.lr,
                              item_alpha=self.reg, user_alpha=self.reg, random_state=self.random_state)
        for epoch in tqdm(range(1, self.n_epochs + 1), desc=f"LightFM {self.mode}/{self.loss}",
                          disable=not self.verbose):
            self.model_.fit_partial(self.interactions_, user_features=self.user_features_,
                                    item_features=self.item_features_, epochs=1, num_threads=1)
            self._represent()
            self._callback(data, epoch)

    def _represent(self) -> None:
        """Cache every user's and item's summed embedding and bias (what scoring multiplies)."""
        self._user_bias, self._user_emb = self.model_.get_user_representations(self.user_features_)
        self._item_bias, self._item_emb = self.model_.get_item_representations(self.item_features_)

    # ------------------------------------------------------------------ scoring

    def _score(self, rows, cols):
        # build_features gave user j (item j) row j: the same numbering as user_ids_ (item_ids_)
        S = self._user_emb[rows] @ self._item_emb[cols].T
        S += self._item_bias[cols]
        S += self._user_bias[rows, None]
        return S

    def new_user_features(self, age: int, gender: str, occupation: str) -> sparse.csr_matrix:
        """The feature row of a user known only by demographics (identity weight 0)."""
        self._check_fitted()
        if self.mode == "collaborative":
            raise ValueError("a collaborative (identity-only) model has no features to describe a new user; "
                             "use mode='hybrid' or 'content'")
        _, user_feature_map, _, _ = self.dataset_.mapping()
        names = [f"age:{age_band(age)}", f"gender:{gender}", f"occupation:{occupation}"]
        missing = [f for f in names if f not in user_feature_map]
        if missing:
            raise ValueError(f"feature(s) {missing} never seen in training; known occupations: "
                             + ", ".join(sorted(f[11:] for f in user_feature_map if str(f).startswith("occupation:"))))
        weight = 1.0 / (len(names) + (self.mode == "hybrid"))  # as for a training user with the same features
        cols = [user_feature_map[f] for f in names]
        return sparse.csr_matrix((np.full(len(cols), weight), ([0] * len(cols), cols)),
                                 shape=(1, self.user_features_.shape[1]))

    def recommend_new_user(self, age: int, gender: str, occupation: str, n: int = 10,
                           candidates=None) -> pd.DataFrame:
        """Recommendations for someone with no ratings, from their demographics alone."""
        check_n(n)
        bias_u, emb_u = self.model_.get_user_representations(self.new_user_features(age, gender, occupation))
        cols = self._candidate_columns(candidates)
        scores = pd.Series(self._item_emb[cols] @ emb_u[0] + self._item_bias[cols] + bias_u[0],
                           index=self.item_ids_[cols])
        top = rank_by_score(scores, n)
        return pd.DataFrame({"item_id": top, "score": scores[top].to_numpy(), "source": "demographics"})

    # ------------------------------------------------------------ embeddings

    def item_feature_embeddings(self) -> pd.DataFrame:
        """The learned embedding of every metadata item feature (genres, decades), by name."""
        self._check_fitted()
        _, _, _, item_feature_map = self.dataset_.mapping()
        names = [f for f in item_feature_map if isinstance(f, str) and ":" in f]
        rows = [item_feature_map[f] for f in names]
        return pd.DataFrame(self.model_.item_embeddings[rows], index=pd.Index(names, name="feature"))
