r"""A two-tower retrieval model (Yi et al., RecSys 2019) in PyTorch: candidate generation for a ranker.

Two networks map a user and an item to unit vectors of the same size; the
score of a pair is their dot product (a cosine), so the whole catalogue can be
indexed once and searched by nearest neighbours (FAISS) for any user.

* **User tower**: the concatenation of the user's id embedding, embeddings of
  their gender, age band (:data:`~recsys_course.models.hybrid.AGE_BANDS`) and
  occupation, and the mean embedding of their last ``history`` items (a
  table of its own, with a padding row: an empty history is the zero
  vector), through ``Linear -> ReLU -> Linear(dim)``, L2-normalised:
  :math:`\mathbf{u}_a`.
* **Item tower**: the item's id embedding, its genres (multi-hot) through a
  linear map without bias, and an embedding of its release decade (an unknown
  year has a bucket of its own), through ``Linear -> ReLU -> Linear(dim)``,
  L2-normalised: :math:`\mathbf{v}_b`.

**Loss: in-batch sampled softmax with the logQ correction.** A batch holds
:math:`B` positive pairs :math:`(a, i_a)`; the other rows' items are row
:math:`a`'s negatives. With temperature :math:`\tau` and item sampling
probabilities :math:`q`,

.. math::

    s_{ab} = \frac{\mathbf{u}_a^\top \mathbf{v}_b}{\tau} - \log q_{i_b}, \qquad
    s_{ab} = -\infty \text{ if } i_b = i_a,\ b \ne a \text{ (an accidental hit)}, \qquad
    \mathcal{L} = -\frac{1}{B} \sum_{a=1}^{B} \log \frac{e^{s_{aa}}}{\sum_{b} e^{s_{ab}}}

(:func:`sampled_softmax_loss`). Why the correction: an item appears among a
batch's negatives in proportion to its popularity, so without it the
softmax over-penalises popular items; subtracting :math:`\log q_{i_b}` makes
the batch an unbiased stand-in for the full softmax over the catalogue.
Yi et al. estimate :math:`q` by streaming (the average gap between two
batches holding the item); on a fixed training set their estimate converges
to the item's share of the training positives, which is what is used here:
:math:`q_i = n_i / \sum_j n_j`. The correction is for training only: scores
are plain cosines (not divided by :math:`\tau`, which would not change a
ranking).

**No leakage in the history.** A training positive sees the user's
``history`` items strictly *before* it in time (ties in time broken by the
order of the rows), never itself or anything later
(:func:`histories_before`); at scoring time a user is described by their last
``history`` training items (:func:`last_items`).

As in :mod:`recsys_course.models.ncf`, everything random draws from
``random_state`` (initial weights, the order of the examples) and torch's
global generator is left as it was; Adam is the fused kernel, which gives
the same digits on every CPU. ``TwoTower(device="cuda")`` trains on a GPU
(:func:`~recsys_course.models.devices.resolve_device`): the initial weights
are drawn on the CPU and moved, and the embeddings come back to the CPU as
numpy arrays, so scoring and FAISS are the same whichever device trained.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_int, check_number, check_timestamps
from .base import Recommender, TrainingData
from .devices import resolve_device
from .hybrid import age_band, item_feature_lists
from .seeding import seeded

__all__ = ["TwoTower", "histories_before", "last_items", "sampled_softmax_loss"]

#: Padding of :func:`histories_before` and :func:`last_items`: "no item here".
PAD = -1


# ------------------------------------------------------------------ the loss


def sampled_softmax_loss(user_vectors: torch.Tensor, item_vectors: torch.Tensor, item_rows,
                         log_q: torch.Tensor | None = None, temperature: float = 0.05) -> torch.Tensor:
    r"""In-batch sampled softmax: each row's positive against the batch's other items.

    .. math::

        s_{ab} = \mathbf{u}_a^\top \mathbf{v}_b / \tau - \log q_b, \quad
        \mathcal{L} = -\frac{1}{B} \sum_a \log \mathrm{softmax}_b(s_{ab})_{b=a}

    where :math:`s_{ab} = -\infty` when column :math:`b` holds row :math:`a`'s
    own item in another row (an accidental hit: the user's positive is not
    their negative).

    Parameters
    ----------
    user_vectors, item_vectors : tensors of shape (B, d)
        Row ``a`` of each is the ``a``-th positive pair of the batch.
    item_rows : integer array or tensor of shape (B,)
        The item of each pair (any ids): equal values mark accidental hits.
    log_q : tensor of shape (B,), optional
        :math:`\log q_b`, the log sampling probability of column ``b``'s item
        (the logQ correction); ``None``: no correction.
    temperature : float
        :math:`\tau > 0`.

    Examples
    --------
    Zero vectors give every logit 0: each row's loss is :math:`\log B`, or
    :math:`\log(B - 1)` for the two rows of an item that appears twice in the
    batch (each other's accidental hit).

    >>> import math, torch
    >>> zeros = torch.zeros(4, 2)
    >>> round(float(sampled_softmax_loss(zeros, zeros, [0, 1, 2, 3])), 4) == round(math.log(4), 4)
    True
    >>> loss = sampled_softmax_loss(zeros, zeros, [0, 1, 2, 2])  # rows 2 and 3: 3 logits each
    >>> round(float(loss), 4) == round((2 * math.log(4) + 2 * math.log(3)) / 4, 4)
    True
    """
    temperature = check_number("temperature", temperature, above=0)
    if user_vectors.ndim != 2 or user_vectors.shape != item_vectors.shape:
        raise ValueError(f"user_vectors and item_vectors must be (B, d) tensors of one shape, got "
                         f"{tuple(user_vectors.shape)} and {tuple(item_vectors.shape)}")
    item_rows = torch.as_tensor(item_rows, device=user_vectors.device)
    B = user_vectors.shape[0]
    if item_rows.shape != (B,):
        raise ValueError(f"item_rows must hold one item per row of the batch ({B}), got shape {tuple(item_rows.shape)}")
    if log_q is not None and tuple(log_q.shape) != (B,):
        raise ValueError(f"log_q must hold one log-probability per column of the batch ({B}), "
                         f"got shape {tuple(log_q.shape)}")
    return _loss(user_vectors, item_vectors, item_rows, log_q, temperature)


def _loss(U, V, item_rows, log_q, temperature):
    logits = U @ V.T / temperature
    if log_q is not None:
        logits = logits - log_q[None, :]
    hit = item_rows[:, None] == item_rows[None, :]
    hit.fill_diagonal_(False)
    logits = logits.masked_fill(hit, float("-inf"))
    return F.cross_entropy(logits, torch.arange(len(logits), device=logits.device))


# ------------------------------------------------------------------ histories


def _chronological(user_rows, item_rows, times) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The rows sorted by (user, time, row number), and where each sorted row's user starts."""
    user_rows, item_rows = np.asarray(user_rows, dtype=np.int64), np.asarray(item_rows, dtype=np.int64)
    if user_rows.shape != item_rows.shape or user_rows.ndim != 1 or len(times) != len(user_rows):
        raise ValueError(f"user_rows, item_rows and times must be 1-D and of one length, got "
                         f"{user_rows.shape}, {item_rows.shape} and {len(times)}")
    key = pd.Series(times).rank(method="dense").to_numpy()  # any orderable times (numbers, dates), ties equal
    order = np.lexsort((np.arange(len(user_rows)), key, user_rows))
    users = user_rows[order]
    first = np.r_[True, users[1:] != users[:-1]][:len(users)]
    start = np.maximum.accumulate(np.where(first, np.arange(len(users)), 0))
    return order, start, item_rows[order]


def _window(items_sorted, start, end, length) -> np.ndarray:
    """``items_sorted[end - length:end]`` per row, cut at ``start``, padded with :data:`PAD` on the left."""
    idx = end[:, None] - length + np.arange(length)[None, :]
    inside = idx >= start[:, None]
    return np.where(inside, items_sorted[np.clip(idx, 0, None)], PAD)


def histories_before(user_rows, item_rows, times, length: int) -> np.ndarray:
    """For each interaction, the ``length`` items its user interacted with just before it.

    Row ``j`` holds the items of ``user_rows[j]`` that come strictly before
    interaction ``j`` in time, ties in time broken by the order of the rows
    (the earlier row comes first), oldest first, padded on the left with
    :data:`PAD` (-1) when the user has fewer than ``length`` earlier items.
    Interaction ``j``'s own item and anything later are never in it.

    >>> histories_before([0, 0, 1, 0], [5, 6, 7, 8], [1, 2, 1, 2], length=2)
    array([[-1, -1],
           [-1,  5],
           [-1, -1],
           [ 5,  6]])
    """
    length = check_int("length", length, 0)
    order, start, items_sorted = _chronological(user_rows, item_rows, times)
    out = np.empty((len(order), length), dtype=np.int64)
    out[order] = _window(items_sorted, start, np.arange(len(order)), length)
    return out


def last_items(user_rows, item_rows, times, length: int, n_users: int) -> np.ndarray:
    """Each user's last ``length`` items, oldest first, padded on the left with :data:`PAD` (-1).

    What :func:`histories_before` would give a next interaction of every user
    ``0 .. n_users - 1``; a user with no interaction gets a row of padding.

    >>> last_items([0, 0, 1, 0], [5, 6, 7, 8], [1, 2, 1, 2], length=2, n_users=3)
    array([[ 6,  8],
           [-1,  7],
           [-1, -1]])
    """
    length, n_users = check_int("length", length, 0), check_int("n_users", n_users, 0)
    order, start, items_sorted = _chronological(user_rows, item_rows, times)
    out = np.full((n_users, length), PAD, dtype=np.int64)
    if len(order):
        users = np.asarray(user_rows, dtype=np.int64)[order]
        last = np.r_[users[1:] != users[:-1], True]
        ends = np.flatnonzero(last) + 1
        out[users[last]] = _window(items_sorted, start[last], ends, length)
    return out


# ------------------------------------------------------------------ features


def _codes(values) -> tuple[np.ndarray, int]:
    """Category numbers ``0 .. k-1`` of ``values`` in sorted order, and ``k``."""
    codes, uniques = pd.factorize(pd.Series(values, dtype=object).astype(str), sort=True)
    return codes.astype(np.int64), max(1, len(uniques))


def _user_features(users: pd.DataFrame, user_ids: pd.Index) -> dict:
    """Gender, age band and occupation codes of every user of ``user_ids``, in that order."""
    missing = [c for c in ("age", "gender", "occupation") if c not in users.columns]
    if missing:
        raise ValueError(f"TwoTower's user tower needs users columns age, gender and occupation; missing {missing} "
                         f"(it has {list(users.columns)}): give every user values, e.g. "
                         "users.assign(age=30, gender='F', occupation='other') when they are unknown")
    rows = users.drop_duplicates("user_id").set_index("user_id").reindex(user_ids)
    ages = ["unknown" if pd.isna(a) else age_band(int(a)) for a in rows["age"]]
    out = {}
    for name, values in (("gender", rows["gender"].fillna("unknown")), ("age", ages),
                         ("occupation", rows["occupation"].fillna("unknown"))):
        out[name] = _codes(values)
    return out


def _item_features(movies: pd.DataFrame, item_ids: pd.Index) -> tuple[np.ndarray, np.ndarray, int]:
    """The items' genres (multi-hot, float32) and release-decade codes (0: unknown year), and the number of decades."""
    rows = movies.drop_duplicates("item_id").set_index("item_id").reindex(item_ids).reset_index()
    features = item_feature_lists(rows)  # genre:Action, decade:1990s (no decade when the year is unknown)
    per_item = [features[i] for i in item_ids]
    genres = sorted({f for fs in per_item for f in fs if f.startswith("genre:")})
    decades = sorted({f for fs in per_item for f in fs if f.startswith("decade:")})
    genre_col = {g: k for k, g in enumerate(genres)}
    decade_code = {d: k + 1 for k, d in enumerate(decades)}
    multi_hot = np.zeros((len(item_ids), max(1, len(genres))), dtype=np.float32)
    year = np.zeros(len(item_ids), dtype=np.int64)
    for row, fs in enumerate(per_item):
        for f in fs:
            if f in genre_col:
                multi_hot[row, genre_col[f]] = 1.0
            else:
                year[row] = decade_code[f]
    return multi_hot, year, len(decades) + 1


# ------------------------------------------------------------------ the network


class _Towers(nn.Module):
    """The user and the item tower; features are buffers indexed by user and item row."""

    def __init__(self, dim, hidden, history, n_users, user_features, n_items, genres, years, n_years):
        super().__init__()
        self.n_items = n_items
        self.user_id = nn.Embedding(n_users, dim)
        self.user_parts = nn.ModuleDict({name: nn.Embedding(size, dim) for name, (_, size) in user_features.items()})
        for name, (codes, _) in user_features.items():
            self.register_buffer(f"user_{name}", torch.from_numpy(codes))
        self.history = nn.Embedding(n_items + 1, dim, padding_idx=n_items) if history else None
        width = dim * (1 + len(user_features) + bool(history))
        self.user_mlp = nn.Sequential(nn.Linear(width, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        self.item_id = nn.Embedding(n_items, dim)
        self.genres = nn.Linear(genres.shape[1], dim, bias=False)
        self.year = nn.Embedding(n_years, dim)
        self.register_buffer("item_genres", torch.from_numpy(genres))
        self.register_buffer("item_year", torch.from_numpy(years))
        self.item_mlp = nn.Sequential(nn.Linear(3 * dim, hidden), nn.ReLU(), nn.Linear(hidden, dim))
        for emb in (self.user_id, *self.user_parts.values(), self.item_id, self.year, self.history):
            if emb is not None:
                nn.init.normal_(emb.weight, std=0.1)
        if self.history is not None:
            with torch.no_grad():
                self.history.weight[n_items].zero_()

    def users(self, rows: torch.Tensor, histories: torch.Tensor) -> torch.Tensor:
        parts = [self.user_id(rows)]
        parts += [emb(getattr(self, f"user_{name}")[rows]) for name, emb in self.user_parts.items()]
        if self.history is not None:
            given = histories >= 0
            padded = torch.where(given, histories, self.n_items)
            count = given.sum(dim=1, keepdim=True).clamp(min=1)
            parts.append(self.history(padded).sum(dim=1) / count)
        return F.normalize(self.user_mlp(torch.cat(parts, dim=1)), dim=1)

    def items(self, rows: torch.Tensor) -> torch.Tensor:
        parts = [self.item_id(rows), self.genres(self.item_genres[rows]), self.year(self.item_year[rows])]
        return F.normalize(self.item_mlp(torch.cat(parts, dim=1)), dim=1)


# ------------------------------------------------------------------ the recommender


class TwoTower(Recommender):
    r"""Two-tower retrieval with in-batch sampled softmax and the logQ correction (Yi et al., 2019).

    ``fit(ratings, movies, users)``: every user of ``users`` and every movie
    of ``movies`` gets a vector (rated or not: a movie nobody rated is placed
    by its genres and year, a user without ratings by their demographics);
    every training rating (at or above ``positive_threshold``, if given) is a
    positive. See the module docstring for the towers, the loss and the
    history. ``user_embeddings_`` (users x ``dim``) and ``item_embeddings_``
    (items x ``dim``) are float32, C-contiguous and of unit length, ready for
    a FAISS inner-product index; the score of a pair is their dot product (a
    cosine, no logQ at inference).

    Parameters
    ----------
    dim : int
        Size of the output vectors, and of every embedding inside the towers.
    hidden : int
        Width of each tower's hidden ReLU layer.
    history : int
        How many of the user's latest items the user tower averages (0: none,
        and then ``ratings`` needs no ``timestamp``).
    temperature : float
        :math:`\tau` of the loss: the logits are cosines / :math:`\tau`.
    logq : bool
        Subtract :math:`\log q_i` (the item's share of the training positives)
        from the logits in training.
    n_epochs, batch_size, lr : training
        Epochs over the positives (shuffled anew each epoch); positives per
        batch (= 1 positive and ``batch_size - 1`` in-batch negatives each);
        Adam's learning rate.
    reg : float
        L2 penalty on every weight (Adam's ``weight_decay``).
    positive_threshold : float, optional
        Only ratings >= this are positives (and history); ``None`` takes every rating.
    device : {"cpu", "cuda", "cuda:N", "auto"}
        Where the towers train (:func:`~recsys_course.models.devices.resolve_device`;
        ``"auto"``: a GPU if PyTorch sees one). The initial weights are drawn on
        the CPU and then moved, so every device starts from the same towers; on
        the CPU a seeded fit gives the same digits every time, on a GPU the
        embeddings differ from the CPU's in their last digits (sums in another
        order). ``user_embeddings_`` and ``item_embeddings_`` are numpy arrays
        on the CPU either way.
    random_state : int
        Seeds the initial weights and the order of the examples.
    verbose : bool
        A tqdm progress bar over epochs.

    Attributes
    ----------
    user_embeddings_, item_embeddings_ : ndarray of float32
        One unit vector per user of ``user_ids_`` and per item of ``item_ids_``.
    module_ : torch.nn.Module
        The trained towers, on ``device_``. A fitted model pickles with them, so
        it unpickles on a machine with that device.
    device_ : torch.device
        The device ``device`` resolved to at ``fit``.
    history_ : list of float
        The mean training loss of each epoch.

    Notes
    -----
    The defaults were chosen on ml-100k on a validation split only: the
    training part of ``per_user_temporal_split(ratings, 0.2)``, split again
    the same way, by recall@100 and recall@300 of the top lists (seen items
    excluded). Of temperature in {0.05, 0.1, 0.2} and ``n_epochs`` in
    {5, 10, 20}, 0.05 and 5 epochs scored best with logQ (recall@100 0.646,
    recall@300 0.864; 10 epochs: 0.642 and 0.862, and 5 epochs beat 10 for
    two more seeds too; 20 epochs overfit: 0.609). Temperatures differ by
    less than the spread between seeds (about 0.01). Without logQ the best
    of the grid is 0.465 and 0.755 (temperature 0.1, 10 epochs).
    The sizes (``dim=32``, ``hidden=64``, ``history=10``), ``lr=5e-3`` and
    ``batch_size=512`` were not searched.

    Examples
    --------
    >>> import torch
    >>> from recsys_course.data import load_toy
    >>> toy = load_toy()
    >>> users = toy.users.assign(age=30, gender="F", occupation="writer")  # the toy users have no demographics
    >>> model = TwoTower(dim=8, hidden=16, history=2, n_epochs=3, batch_size=8).fit(toy.ratings, toy.movies, users)
    >>> model.user_embeddings_.shape, model.item_embeddings_.shape, model.item_embeddings_.dtype
    ((5, 8), (8, 8), dtype('float32'))
    >>> bool(np.allclose(np.linalg.norm(model.item_embeddings_, axis=1), 1.0, atol=1e-5))
    True
    >>> len(model.history_), model.recommend(1, n=2)["source"].tolist()
    (3, ['model', 'model'])
    """

    _users_from_frame = True
    _catalogue_from_movies = True
    _needs_rating = False
    _iterative = True

    def __init__(self, dim: int = 32, hidden: int = 64, history: int = 10, temperature: float = 0.05,
                 logq: bool = True, n_epochs: int = 5, batch_size: int = 512, lr: float = 5e-3, reg: float = 0.0,
                 positive_threshold: float | None = None, device: str = "cpu", random_state: int = 0,
                 verbose: bool = False):
        self.dim = dim
        self.hidden = hidden
        self.history = history
        self.temperature = temperature
        self.logq = logq
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.reg = reg
        self.positive_threshold = positive_threshold
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _check_params(self, ratings: pd.DataFrame) -> None:
        check_int("dim", self.dim, 1)
        check_int("hidden", self.hidden, 1)
        check_int("history", self.history, 0)
        check_number("temperature", self.temperature, above=0)
        check_choice("logq", self.logq, (True, False))
        check_int("n_epochs", self.n_epochs, 0)
        try:
            check_int("batch_size", self.batch_size, 2)
        except ValueError as exc:
            raise ValueError(f"{exc}: the other positives of a batch are each one's negatives") from None
        check_number("lr", self.lr, above=0)
        check_number("reg", self.reg, at_least=0)
        if self.history and "timestamp" not in ratings.columns:
            raise ValueError(f"history={self.history!r} needs the order of each user's ratings, but ratings has no "
                             f"timestamp column (it has {list(ratings.columns)}): add one, or pass history=0")

    def _fit(self, data: TrainingData) -> None:
        from tqdm.auto import tqdm

        self._check_params(data.ratings)
        self.device_ = device = resolve_device(self.device)
        keep = data.positives(self.positive_threshold)
        u, i = data.u[keep], data.i[keep]
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        if self.history:
            times = check_timestamps(data.ratings)[keep]
            train_histories = histories_before(u, i, times, self.history)
            self.last_items_ = last_items(u, i, times, self.history, n_users)
        else:
            train_histories = np.empty((len(u), 0), dtype=np.int64)
            self.last_items_ = np.empty((n_users, 0), dtype=np.int64)
        counts = np.bincount(i, minlength=n_items)
        self.sampling_probability_ = counts / counts.sum()
        genres, years, n_years = _item_features(data.movies, self.item_ids_)
        with seeded(self.random_state):
            self.module_ = _Towers(self.dim, self.hidden, self.history, n_users,
                                   _user_features(data.users, self.user_ids_), n_items, genres, years, n_years)
        self.module_.to(device)  # drawn on the CPU above: the same starting towers on every device
        shuffle = np.random.default_rng(None if self.random_state is None else self.random_state + 1)
        # fused: one vectorised kernel, the same digits on every CPU (see ncf.train)
        optimiser = torch.optim.Adam(self.module_.parameters(), lr=self.lr, weight_decay=self.reg, fused=True)
        # the training set is small (ints per positive): it goes to the device once
        u_t, i_t, h_t = (torch.from_numpy(a).to(device) for a in (u, i, train_histories))
        log_q = torch.from_numpy(np.log(np.maximum(self.sampling_probability_, 1e-300)).astype(np.float32)).to(device)
        self.history_ = []
        self._embed()
        for epoch in tqdm(range(1, self.n_epochs + 1), desc="TwoTower", disable=not self.verbose):
            self.module_.train()
            order = torch.from_numpy(shuffle.permutation(len(u))).to(device)
            # summed on the device (float64: a Python float's digits), so a GPU need not wait for each batch
            total = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, len(order), self.batch_size):
                batch = order[start:start + self.batch_size]
                items = i_t[batch]
                loss = _loss(self.module_.users(u_t[batch], h_t[batch]), self.module_.items(items), items,
                             log_q[items] if self.logq else None, self.temperature)
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.detach().double() * len(batch)
            self.history_.append(total.item() / len(order))
            self._embed()
            self._callback(data, epoch)

    @torch.no_grad()
    def _embed(self) -> None:
        """Every user's and item's vector, as scoring and FAISS use them."""
        self.module_.eval()
        device = self.device_
        users = self.module_.users(torch.arange(len(self.user_ids_), device=device),
                                   torch.from_numpy(self.last_items_).to(device))
        items = self.module_.items(torch.arange(len(self.item_ids_), device=device))
        self.user_embeddings_ = np.ascontiguousarray(users.cpu().numpy(), dtype=np.float32)
        self.item_embeddings_ = np.ascontiguousarray(items.cpu().numpy(), dtype=np.float32)

    def _learned_arrays(self):
        for name, weights in self.module_.named_parameters():
            yield f"module_.{name}", weights.detach().cpu().numpy()
        yield "user_embeddings_", self.user_embeddings_
        yield "item_embeddings_", self.item_embeddings_

    def _score(self, rows, cols):
        return self.user_embeddings_[rows].astype(np.float64) @ self.item_embeddings_[cols].T.astype(np.float64)
