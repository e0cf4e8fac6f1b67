r"""A feedback loop, simulated on real ratings: a recommender retrained on the data it generated.

In production the next model is trained on what users did with the last
model's lists, and users can only act on what they were shown. The loop can
feed on itself: popular items are served, accepted, counted, and served more.
:func:`simulate_feedback_loop` replays that on MovieLens:

1. **Start.** Each user's earliest ``observed_share`` of ratings (by time,
   :func:`recsys_course.split.per_user_temporal_split`) is the observed data.
   The rest is the user's hidden taste, the *truth*: a served movie is
   accepted if and only if it is in the truth (with ``min_rating``, only if
   the user went on to rate it at least that high). "The user rated it later"
   stands in for "the user would have watched it if shown": an optimistic
   model of a user, but the same for both arms compared.
2. **Each round.** A fresh model is fitted on the observed data, every user
   is served ``n`` items they have not rated (nor, by default, been shown
   before), and the round's figures are recorded. A share ``epsilon`` of the
   slots is *exploration*: items drawn uniformly from the user's other
   candidates (``floor(epsilon * n)`` slots, plus one more with probability
   the fractional part, so the share is exact on average).
3. **What enters the data.** In the loop, the accepted items join the
   observed data (and leave the truth): the recommender chooses its own
   training data. With ``organic_reference=True`` a second arm runs in
   lockstep as the reference that breaks the loop: each round every user's
   data grows by exactly as many ratings as the same user accepted in the
   loop, but the ratings are the user's *next* ones in time (the earliest
   left in their truth), what they went on to rate without this
   recommender. Same users, same model, same amount of data per user every
   round, same exploration draws; only *which* items enter differs, so the
   difference between the arms is the loop's own effect. (Growing the
   reference by its own acceptance instead would give it less data, since
   its lists hit less often, and mix two effects.)

Per round the figures are those of :mod:`recsys_course.monitor`: catalogue
coverage, the Gini index of how often each item was served, the share of
slots given to the 10 % most popular items (popularity counted once, on the
initial observed data), and the acceptance rate.
"""

from __future__ import annotations

import numbers

import numpy as np
import pandas as pd
from sklearn.base import clone

from .checks import check_fraction, check_int, check_number, check_ratings
from .monitor import gini, top_share
from .ranking import top_n
from .split import per_user_temporal_split

__all__ = ["default_model", "simulate_feedback_loop"]


def default_model():
    """The model each round fits unless told otherwise: a small implicit ALS (16 factors, 5 sweeps).

    About 0.15 s per fit on MovieLens-100k on one core, so a 10-round
    simulation takes a few seconds.
    """
    from .models.implicit_mf import ImplicitALS

    return ImplicitALS(n_factors=16, n_epochs=5, random_state=0)


def _factory(model):
    if model is None:
        return default_model
    if hasattr(model, "fit"):
        return lambda: clone(model)
    if callable(model):
        return model
    raise TypeError(f"model must be a recommender (cloned every round), a callable returning one, or None; "
                    f"got {type(model).__name__}")


def _pick(keys: np.ndarray, counts: np.ndarray) -> np.ndarray:
    """A users x items mask: for each row, the ``counts[row]`` columns with the largest finite keys."""
    mask = np.zeros(keys.shape, dtype=bool)
    width = int(counts.max(initial=0))
    if width == 0:
        return mask
    cols, _ = top_n(keys, width)
    take = (np.arange(cols.shape[1]) < counts[:, None]) & (cols >= 0)
    rows = np.broadcast_to(np.arange(len(keys))[:, None], cols.shape)
    mask[rows[take], cols[take]] = True
    return mask


def simulate_feedback_loop(ratings: pd.DataFrame, model=None, n_rounds: int = 10, n: int = 10,
                           epsilon: float = 0.0, organic_reference: bool = False, observed_share: float = 0.25,
                           min_rating: float | None = None, exclude_shown: bool = True,
                           random_state: int = 0) -> pd.DataFrame:
    r"""Retrain, serve, log, repeat: what a recommender does to its own training data.

    See the module docstring for the design.

    Parameters
    ----------
    ratings : DataFrame
        ``user_id``, ``item_id``, ``rating``, ``timestamp``: the whole log. The
        catalogue is every item in it.
    model : recommender, callable or None
        A recommender of the package (cloned, then fitted, every round), a
        callable returning a fresh one, or ``None`` for :func:`default_model`.
        It is fitted on ``user_id``, ``item_id``, ``rating`` frames.
    n_rounds : int, default 10
    n : int, default 10
        Slots per user per round.
    epsilon : float in [0, 1], default 0
        Share of the slots filled with uniformly random candidates; 1 is a
        random recommender.
    organic_reference : bool, default False
        Also run the reference arm (module docstring), with rows of its own.
    observed_share : float in (0, 1), default 0.25
        Share of each user's earliest ratings observed at the start.
    min_rating : float, optional
        Accept only truth items rated at least this; ``None`` accepts any.
    exclude_shown : bool, default True
        Never serve a user an item already shown to them (a rejected item is
        not shown again). With ``False`` a user who accepts nothing can get
        the same list every round. Either way an accepted item is never
        served again to the same user.
    random_state : int, default 0
        Seeds the exploration (and nothing else: the model has its own seed).

    Returns
    -------
    DataFrame
        One row per round and arm: ``round`` (1 = the first model), ``arm``
        (``"loop"`` or ``"organic"``),
        ``epsilon``, ``training_ratings`` (observed ratings the model was fitted
        on), ``slots`` (items served), ``coverage`` (share of the catalogue
        served at least once this round), ``gini`` (:func:`~recsys_course.monitor.gini`
        of the items' served counts over the catalogue), ``top10_share``
        (share of slots taken by the 10 % most popular items of the initial
        observed data, :func:`~recsys_course.monitor.top_share`),
        ``model_coverage`` and ``model_top10_share`` (the same, over the
        slots the model filled, leaving out the exploration slots: does
        exploration change what the model itself serves?),
        ``acceptance`` (hits / slots), ``accepted`` and
        ``cumulative_accepted`` (ratings added to the data: the hits in the
        loop, as many next-in-time ratings in the organic arm, whose own
        hits are counted in its ``acceptance`` but do not enter its data).

    Examples
    --------
    >>> from recsys_course.data import load_toy
    >>> from recsys_course.models.baselines import Popularity
    >>> rounds = simulate_feedback_loop(load_toy().ratings, Popularity(), n_rounds=2, n=1, observed_share=0.5)
    >>> rounds[["round", "coverage", "acceptance", "accepted", "cumulative_accepted"]]
       round  coverage  acceptance  accepted  cumulative_accepted
    0      1     0.375         0.4         2                    2
    1      2     0.250         0.4         2                    4

    """
    ratings = check_ratings(ratings)
    if "timestamp" not in ratings.columns:
        raise ValueError("ratings needs a timestamp column: the observed data are each user's earliest ratings")
    make = _factory(model)
    n_rounds, n = check_int("n_rounds", n_rounds, 1), check_int("n", n, 1)
    if isinstance(epsilon, bool) or not isinstance(epsilon, numbers.Real) or not 0 <= epsilon <= 1:
        raise ValueError(f"epsilon must be a share of the slots in [0, 1], got {epsilon!r}")
    check_fraction("observed_share", observed_share)
    if min_rating is not None:
        check_number("min_rating", min_rating)
    rng = np.random.default_rng(random_state)

    observed, rest, _ = per_user_temporal_split(ratings, test_size=1 - observed_share, cold_start="keep")
    users = pd.Index(np.sort(ratings["user_id"].unique()), name="user_id")
    items = pd.Index(np.sort(ratings["item_id"].unique()), name="item_id")
    shape = (len(users), len(items))

    def cells(frame):
        return users.get_indexer(frame["user_id"]), items.get_indexer(frame["item_id"])

    stars = np.zeros(shape)
    stars[cells(ratings)] = ratings["rating"].to_numpy(dtype=float)
    when = np.full(shape, np.inf)  # organic growth takes each user's earliest truth first
    when[cells(rest)] = pd.to_datetime(rest["timestamp"]).to_numpy().astype("datetime64[s]").astype(float)
    start = {"seen": np.zeros(shape, dtype=bool), "truth": np.zeros(shape, dtype=bool),
             "shown": np.zeros(shape, dtype=bool), "hit": np.zeros(shape, dtype=bool), "cumulative": 0}
    start["seen"][cells(observed)] = True
    acceptable = rest if min_rating is None else rest[rest["rating"] >= min_rating]
    start["truth"][cells(acceptable)] = True
    popularity = pd.Series(start["seen"].sum(axis=0), index=items)  # fixed: the initial observed data
    arms = {"loop": start} | ({"organic": {k: v.copy() if isinstance(v, np.ndarray) else v
                                           for k, v in start.items()}} if organic_reference else {})
    whole, part = divmod(epsilon * n, 1)

    rows_out = []
    for round_ in range(1, n_rounds + 1):
        # one draw of exploration per round, shared by the arms: their difference is the data, not the dice
        n_random = np.minimum(np.full(len(users), int(whole)) + (rng.random(len(users)) < part), n)
        keys = rng.random(shape)
        loop_hits = None
        for arm, state in arms.items():
            seen, truth, shown, hit = state["seen"], state["truth"], state["shown"], state["hit"]
            u, i = np.nonzero(seen)
            train = pd.DataFrame({"user_id": users[u], "item_id": items[i], "rating": stars[u, i]})
            scores = make().fit(train).score(users, items).to_numpy(dtype=float, copy=True)
            blind = ~np.isfinite(scores).any(axis=1)
            scores[blind] = popularity.to_numpy(dtype=float)  # the protocol's fallback: most popular first
            # a user accepts a movie once: past hits are never served again (in the loop they are in seen
            # anyway; the organic arm's stay out of its data)
            blocked = seen | hit | shown if exclude_shown else seen | hit
            scores[blocked | np.isnan(scores)] = -np.inf
            by_model = _pick(scores, n - n_random)
            served = by_model | _pick(np.where(blocked | by_model, -np.inf, keys), n_random)

            hits = served & truth
            if arm == "loop":
                added = loop_hits = hits
            else:  # as many as the loop's user accepted, from the user's own next ratings in time
                added = _pick(np.where(truth, -when, -np.inf), loop_hits.sum(axis=1))
            seen |= added
            truth &= ~added
            shown |= served
            hit |= hits
            state["cumulative"] += int(added.sum())

            counts = pd.Series(served.sum(axis=0), index=items)
            model_counts = pd.Series(by_model.sum(axis=0), index=items)
            slots = int(counts.sum())
            rows_out.append({
                "round": round_, "arm": arm, "epsilon": float(epsilon), "training_ratings": len(train),
                "slots": slots, "coverage": float((counts > 0).mean()), "gini": gini(counts.to_numpy()),
                "top10_share": top_share(counts, popularity, 0.1),
                "model_coverage": float((model_counts > 0).mean()),
                "model_top10_share": top_share(model_counts, popularity, 0.1),
                "acceptance": hits.sum() / slots if slots else np.nan,
                "accepted": int(added.sum()), "cumulative_accepted": state["cumulative"],
            })
    return pd.DataFrame(rows_out)
