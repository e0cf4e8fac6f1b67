r"""Content-based recommendation: items as TF-IDF vectors, users as profiles of what they rated.

Every movie becomes a short text document (:func:`movie_document`), the
documents become TF-IDF vectors (scikit-learn's ``TfidfVectorizer``; rows are
L2-normalised, so a dot product is a cosine), and

* the similarity of two movies is the cosine of their vectors;
* a user's **profile** is the mean-centred, rating-weighted average of the
  vectors of the movies they rated,

  .. math:: \mathbf{p}_u = \frac{1}{|I_u|}\sum_{j \in I_u} (r_{uj} - \bar r_u)\,\mathbf{x}_j,

  so movies rated above the user's mean pull the profile towards their terms
  and movies rated below push it away (if all of a user's ratings are equal,
  every movie counts with weight 1 instead);
* a movie's score for a user is the cosine between the profile and the movie.

Everything stays sparse: the item x term matrix, the profiles, and the
similarities of one movie to all others (no dense 1,682 x 1,682 matrix unless
you ask :meth:`ContentRecommender.similarity_matrix` for it).

Bad ids: :meth:`~ContentRecommender.similar_items` and
:meth:`~ContentRecommender.profile` raise ``KeyError`` naming the id; like
every model of the package (:mod:`recsys_course.models.base`),
:meth:`~ContentRecommender.recommend` for a user without ratings falls back to
the most popular movies and says so in its ``source`` column.
"""

from __future__ import annotations

import re
from collections.abc import Callable

import numpy as np
import pandas as pd
from scipy import sparse
from sklearn.base import clone
from sklearn.feature_extraction.text import TfidfVectorizer

from ..ids import positions, show_id
from ..ranking import check_n, rank_by_score
from .base import Recommender, TrainingData

__all__ = ["ContentRecommender", "movie_document", "movie_documents"]


def _token(text: str) -> str:
    return re.sub(r"[^a-z0-9]+", "", text.lower())


def movie_document(title: str, genres, year=None, *, use_title: bool = True, use_genres: bool = True,
                   use_decade: bool = True) -> str:
    """One movie as a bag of words: title words, one token per genre, one for the decade.

    Genres become single tokens (``genre_scifi``) so that "Sci-Fi" is not split
    into "sci" and "fi", and so a title word never collides with a genre. The
    decade (``decade_1970s``) lets movies of the same era share a term.

    >>> movie_document("Star Wars", ["Action", "Sci-Fi"], 1977)
    'star wars genre_action genre_scifi decade_1970s'
    """
    words = []
    if use_title:
        words += [w for w in (_token(t) for t in str(title).split()) if w]
    if use_genres:
        words += [f"genre_{_token(g)}" for g in genres if g != "unknown"]
    if use_decade and year is not None and not pd.isna(year):
        words.append(f"decade_{int(year) // 10 * 10}s")
    return " ".join(words)


def movie_documents(movies: pd.DataFrame, **options) -> pd.Series:
    """:func:`movie_document` for every row of a movies frame, indexed by ``item_id``.

    ``movies`` needs ``item_id``, ``title`` and ``genres`` (a list per movie);
    ``year`` is optional (without it, no decade token).
    """
    missing = [c for c in ("item_id", "title", "genres") if c not in movies.columns]
    if missing:
        raise ValueError(f"movies needs columns item_id, title and genres (a list per movie), and optionally "
                         f"year; missing {missing} (it has {list(movies.columns)})")
    years = movies["year"] if "year" in movies.columns else [None] * len(movies)
    docs = [movie_document(t, g, y, **options) for t, g, y in zip(movies["title"], movies["genres"], years)]
    return pd.Series(docs, index=pd.Index(movies["item_id"], name="item_id"), name="document")


class ContentRecommender(Recommender):
    """TF-IDF content-based recommender with mean-centred user profiles.

    ``fit(ratings, movies)``: every movie of ``movies`` is vectorised and can
    be recommended, rated or not (item cold start).

    Parameters
    ----------
    feature_builder : callable, default :func:`movie_documents`
        Turns the movies frame into one text document per movie (a Series
        indexed by item id).
    vectorizer : sklearn vectorizer, optional
        Default ``TfidfVectorizer(token_pattern=r"\\S+", stop_words="english")``:
        whitespace tokens, English stop words dropped, smooth IDF, sublinear TF
        off, L2-normalised rows.
    """

    _catalogue_from_movies = True

    def __init__(self, feature_builder: Callable[[pd.DataFrame], pd.Series] = movie_documents, vectorizer=None):
        self.feature_builder = feature_builder
        self.vectorizer = vectorizer

    # ----------------------------------------------------------------- fitting

    def _fit(self, data: TrainingData) -> None:
        """Vectorise every movie (rated or not) and build every user's profile."""
        documents = self.feature_builder(data.movies)
        documents = documents[~documents.index.duplicated()].reindex(self.item_ids_)
        self.vectorizer_ = clone(self.vectorizer) if self.vectorizer is not None else TfidfVectorizer(
            token_pattern=r"\S+", stop_words="english")
        try:
            self.item_features_ = sparse.csr_matrix(self.vectorizer_.fit_transform(documents.fillna("").to_numpy()))
        except ValueError as exc:
            if "empty vocabulary" not in str(exc):
                raise
            raise ValueError(f"the movies' documents hold no word to build TF-IDF from ({len(documents)} movies, "
                             f"e.g. {documents.iloc[0]!r} for item {show_id(documents.index[0])}): give them titles "
                             "or genres") from None
        self.terms_ = np.asarray(self.vectorizer_.get_feature_names_out())
        self.profiles_ = self._profiles(data.u, data.i, data.r, len(self.user_ids_))

    def _profiles(self, u, i, r, n_users) -> sparse.csr_matrix:
        """Every user's profile at once: a users x terms sparse matrix (see :meth:`profile`)."""
        count = np.bincount(u, minlength=n_users)
        mean = np.bincount(u, weights=r, minlength=n_users) / np.maximum(count, 1)
        weights = r - mean[u]
        flat = np.bincount(u, weights=np.abs(weights), minlength=n_users) == 0  # all of a user's ratings equal
        weights[flat[u]] = 1.0
        W = sparse.csr_matrix((weights / count[u], (u, i)), shape=(n_users, len(self.item_ids_)))
        return sparse.csr_matrix(W @ self.item_features_)

    def _row(self, item_id) -> int:
        self._check_fitted()
        position = self.item_ids_.get_indexer([item_id])[0]
        if position < 0:
            raise KeyError(f"unknown item_id {item_id!r}: it is not in the movies this model was fitted on")
        return position

    # ------------------------------------------------------------------- items

    def similar_items(self, item_id, n: int = 10) -> pd.DataFrame:
        """The ``n`` movies most similar to ``item_id`` (cosine of TF-IDF vectors), itself excluded."""
        row = self._row(item_id)
        check_n(n)
        sims = (self.item_features_ @ self.item_features_[row].T).toarray().ravel()
        scores = pd.Series(sims, index=self.item_ids_).drop(item_id)
        top = rank_by_score(scores, n)
        return pd.DataFrame({"item_id": top, "similarity": scores[top].to_numpy()})

    def similarity_matrix(self) -> np.ndarray:
        """All item-item cosine similarities as a dense array (1,682 x 1,682 on ml-100k: only on request)."""
        self._check_fitted()
        return (self.item_features_ @ self.item_features_.T).toarray()

    # ------------------------------------------------------------------- users

    def profile(self, user_id) -> sparse.csr_matrix:
        """The user's profile: mean-centred, rating-weighted average of the rated movies' vectors (1 x terms)."""
        self._check_fitted()
        row = self.user_ids_.get_indexer([user_id])[0]
        if row < 0:
            raise KeyError(f"user_id {user_id!r} has no ratings in the data this model was fitted on")
        return self.profiles_[row]

    def _profile_of(self, item_ids, ratings) -> sparse.csr_matrix:
        rows = positions(self.item_ids_, item_ids)
        if (rows < 0).any():
            raise KeyError(f"unknown item_id {item_ids[np.flatnonzero(rows < 0)[0]].item()!r}")
        weights = ratings - ratings.mean()
        if not np.any(weights):
            weights = np.ones(len(ratings))  # all ratings equal: every movie counts the same
        return sparse.csr_matrix(weights @ self.item_features_[rows] / len(ratings))

    def profile_terms(self, user_id, n: int = 10) -> pd.Series:
        """The terms with the largest weights in the user's profile."""
        profile = self.profile(user_id).toarray().ravel()
        order = np.lexsort((self.terms_, -profile))[: check_n(n)]
        return pd.Series(profile[order], index=self.terms_[order], name="weight")

    def _cosines(self, profiles: sparse.csr_matrix, cols=None) -> np.ndarray:
        """Cosine between each profile (rows) and each movie (``cols``, default all)."""
        items = self.item_features_ if cols is None else self.item_features_[cols]
        norms = np.sqrt(np.asarray(profiles.multiply(profiles).sum(axis=1))).ravel()
        raw = (profiles @ items.T).toarray()
        return raw / np.where(norms > 0, norms, 1.0)[:, None]

    def _score(self, rows, cols):
        return self._cosines(self.profiles_[rows], cols)

    def recommend_from(self, ratings: dict, n: int = 10) -> pd.DataFrame:
        """Recommend for someone new, described only by a few ratings ``{item_id: stars}`` (no refit)."""
        self._check_fitted()
        check_n(n)
        if not ratings:
            raise ValueError("ratings is empty: rate at least one movie")
        items = np.array(list(ratings))
        profile = self._profile_of(items, np.array(list(ratings.values()), float))
        scores = pd.Series(self._cosines(profile)[0], index=self.item_ids_).drop(items)
        top = rank_by_score(scores, n)
        return pd.DataFrame({"item_id": top, "score": scores[top].to_numpy(), "source": "content"})

    def explain(self, user_id, item_id, n: int | None = 5) -> pd.Series:
        """The item's score for the user taken apart by term: profile weight x movie weight / profile length.

        The score is the cosine of profile and movie, so the contributions of
        all the terms they share add up to it exactly. ``n`` keeps the ``n``
        largest positive ones (the reasons to recommend); ``n=None`` returns
        every non-zero one, negative included (the terms the user rates below
        their average), largest first.
        """
        row = self._row(item_id)
        profile = self.profile(user_id)
        length = np.sqrt(profile.multiply(profile).sum())
        contribution = profile.multiply(self.item_features_[row]).toarray().ravel() / (length if length > 0 else 1.0)
        order = np.lexsort((self.terms_, -contribution))
        if n is None:
            keep = order[contribution[order] != 0]
        else:
            keep = order[: check_n(n)]
            keep = keep[contribution[keep] > 0]
        return pd.Series(contribution[keep], index=self.terms_[keep], name="contribution")
