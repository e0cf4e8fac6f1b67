r"""Sequential recommendation in PyTorch: what a user will rate next, from the order of what they rated.

Two networks read a user's items in time order and predict the next one:

* **SASRec** (Kang & McAuley, ICDM 2018): each position is an item embedding
  plus a learned position embedding; ``n_blocks`` transformer blocks of
  *causal* self-attention (position :math:`t` sees positions :math:`\le t`
  only) and a position-wise feed-forward layer turn it into a vector
  :math:`\mathbf{h}_t`, and the score of item :math:`j` as the next item is
  :math:`\mathbf{h}_t^\top \mathbf{e}_j` with the same item embeddings as the
  input (:class:`SASRecNetwork`).
* **GRU4Rec** (Hidasi et al., ICLR 2016), the recurrent model before it: a GRU
  over the item embeddings in place of the attention blocks
  (:class:`GRU4RecNetwork`).

**Training.** Every training position predicts the item after it: a user's
sequence :math:`s_1 \dots s_T` gives inputs :math:`s_1 \dots s_{T-1}` and
targets :math:`s_2 \dots s_T`, cut into windows of ``max_len`` from the end
(so every training rating is a target once; the oldest window is padded on
the left). Three losses, ``loss=``:

* ``"bce"`` — SASRec's original: per position, the positive and **one**
  negative drawn uniformly from the catalogue, binary cross-entropy
  :math:`-\log\sigma(s^+) - \log(1 - \sigma(s^-))`;
* ``"gbce"`` — Petrov & Macdonald (RecSys 2023, gSASRec): ``n_negatives``
  negatives and the positive's probability raised to
  :math:`\beta = \alpha\,(t(1 - 1/\alpha) + 1/\alpha)`, :math:`\alpha` = the
  share of the other items sampled, :math:`t` = ``gbce_t``:
  :math:`-\beta \log\sigma(s^+) - \sum_{j=1}^{k} \log(1 - \sigma(s^-_j))`.
  With few negatives BCE is *overconfident*: a model trained on it
  over-estimates every probability, most for popular items; :math:`\beta`
  counters this. ``gbce_t = 0`` is plain BCE with ``n_negatives`` negatives;
* ``"softmax"`` — cross-entropy over the whole catalogue (every other item
  is a negative).

A negative that happens to be the position's own target is left out of the
loss. Everything random (initial weights, negatives, the order of the
windows, dropout) draws from ``random_state``, torch's global generator is
left as it was, and Adam is the fused kernel (the same digits on every CPU
that the pinned set-up covers).

**Scoring.** A user is described by their last ``max_len`` training items;
the scores of the whole catalogue are :math:`\mathbf{h}_T^\top \mathbf{e}_j`.
A user's list is the protocol's (:mod:`recsys_course.models.base`): seen
items excluded, unknown users get the popularity fallback.
"""

from __future__ import annotations

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from ..checks import check_choice, check_int, check_number, check_timestamps
from .base import Recommender, TrainingData
from .devices import resolve_device
from .seeding import seeded
from .two_tower import last_items

__all__ = ["GRU4Rec", "GRU4RecNetwork", "SASRec", "SASRecNetwork", "gbce_beta", "training_windows"]

LOSSES = ("bce", "gbce", "softmax")


# ------------------------------------------------------------------ data


def training_windows(sequences: np.ndarray, max_len: int) -> tuple[np.ndarray, np.ndarray]:
    """Inputs and next-item targets, ``max_len`` positions a row, cut from each sequence's end.

    ``sequences`` is a users x length array of item rows, oldest first,
    padded on the left with -1 (what :func:`~recsys_course.models.two_tower.last_items`
    returns). A sequence :math:`s_1 \\dots s_T` gives input :math:`s_1 \\dots s_{T-1}`
    and target :math:`s_2 \\dots s_T`, in windows of ``max_len`` from the end;
    the oldest window is padded on the left with -1 in both arrays. Every
    item but each user's first is a target exactly once.

    >>> X, Y = training_windows(np.array([[-1, 5, 6, 7, 8], [-1, -1, -1, 1, 2]]), max_len=3)
    >>> X.tolist(), Y.tolist()
    ([[5, 6, 7], [-1, -1, 1]], [[6, 7, 8], [-1, -1, 2]])
    >>> training_windows(np.array([[1, 2, 3, 4, 5, 6]]), max_len=2)[0].tolist()
    [[-1, 1], [2, 3], [4, 5]]
    """
    max_len = check_int("max_len", max_len, 1)
    inputs, targets = [], []
    for row in np.asarray(sequences):
        seq = row[row >= 0]
        ends = range(len(seq) - 1, 0, -max_len)
        for end in reversed(ends):  # a user's windows oldest first
            start = max(0, end - max_len)
            x, y = seq[start:end], seq[start + 1:end + 1]
            pad = np.full(max_len - len(x), -1)
            inputs.append(np.r_[pad, x])
            targets.append(np.r_[pad, y])
    if not inputs:
        raise ValueError("no user has two or more training items: there is no next item to learn from")
    return np.array(inputs, dtype=np.int64), np.array(targets, dtype=np.int64)


def gbce_beta(n_negatives: int, n_items: int, t: float) -> float:
    r"""gSASRec's exponent :math:`\beta = \alpha\,(t(1 - 1/\alpha) + 1/\alpha)`, :math:`\alpha = k / (|I| - 1)`.

    :math:`t = 0` gives :math:`\beta = 1` (plain BCE) and :math:`t = 1` gives
    :math:`\beta = \alpha`, fully calibrated to the sampling rate.

    >>> gbce_beta(1, 1001, 0.0), gbce_beta(1, 1001, 1.0)
    (1.0, 0.001)
    """
    alpha = n_negatives / (n_items - 1)
    return alpha * (t * (1 - 1 / alpha) + 1 / alpha)


# ------------------------------------------------------------------ networks


class CausalSelfAttention(nn.Module):
    r"""Multi-head self-attention where position :math:`t` attends to positions :math:`\le t` only.

    .. math::

        \mathrm{Attention}(Q, K, V) = \mathrm{softmax}\!\Big(\frac{QK^\top}{\sqrt{d_h}} + M\Big) V,
        \qquad M_{ts} = -\infty \text{ for } s > t \text{ or a padded } s \ne t.

    A padded position attends to itself only (its output is never used),
    so no row of the softmax is empty. ``weights_`` keeps the last forward
    pass's attention weights (batch x heads x query x key) when
    ``keep_weights`` is set: what the notebook plots.
    """

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        if dim % n_heads:
            raise ValueError(f"dim={dim} must be a multiple of n_heads={n_heads}: each head gets dim / n_heads")
        self.n_heads = n_heads
        self.qkv = nn.Linear(dim, 3 * dim)
        self.out = nn.Linear(dim, dim)
        self.dropout = nn.Dropout(dropout)
        self.keep_weights = False
        self.weights_ = None

    def forward(self, x: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        B, L, D = x.shape
        q, k, v = (part.reshape(B, L, self.n_heads, D // self.n_heads).transpose(1, 2)
                   for part in self.qkv(x).split(D, dim=-1))
        logits = q @ k.transpose(-1, -2) / math.sqrt(D // self.n_heads)
        future = torch.ones(L, L, dtype=torch.bool, device=x.device).triu(1)
        hidden = future[None, None] | padded[:, None, None, :]
        hidden = hidden & ~torch.eye(L, dtype=torch.bool, device=x.device)[None, None]
        weights = torch.softmax(logits.masked_fill(hidden, float("-inf")), dim=-1)
        if self.keep_weights:
            self.weights_ = weights.detach()
        y = (self.dropout(weights) @ v).transpose(1, 2).reshape(B, L, D)
        return self.out(y)


class Block(nn.Module):
    """One transformer block, pre-norm: ``x + attention(norm(x))``, then ``x + feed_forward(norm(x))``.

    The feed-forward layer is SASRec's: ``Linear(dim, dim) -> ReLU -> Linear(dim, dim)``
    at every position. With the same weights and no dropout it computes what
    ``torch.nn.TransformerEncoderLayer(dim, n_heads, dim_feedforward=dim,
    norm_first=True, batch_first=True)`` computes under a causal mask (the
    package's tests check it).
    """

    def __init__(self, dim: int, n_heads: int, dropout: float):
        super().__init__()
        self.norm1, self.norm2 = nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attention = CausalSelfAttention(dim, n_heads, dropout)
        self.feed_forward = nn.Sequential(nn.Linear(dim, dim), nn.ReLU(), nn.Dropout(dropout), nn.Linear(dim, dim))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor, padded: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attention(self.norm1(x), padded))
        return x + self.dropout(self.feed_forward(self.norm2(x)))


class SASRecNetwork(nn.Module):
    """Item + position embeddings, ``n_blocks`` causal transformer blocks, a final layer norm.

    Items are rows ``1 .. n_items`` of the embedding table; row 0 is padding
    (input -1). ``forward(items)`` maps a batch x ``max_len`` array of item
    rows (padding -1) to the hidden vectors :math:`\\mathbf{h}_t`
    (batch x ``max_len`` x ``dim``); ``item_vectors()`` are the output
    embeddings (tied to the input ones).
    """

    def __init__(self, n_items: int, max_len: int, dim: int, n_blocks: int, n_heads: int, dropout: float):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)
        self.position = nn.Embedding(max_len, dim)
        self.blocks = nn.ModuleList(Block(dim, n_heads, dropout) for _ in range(n_blocks))
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)
        nn.init.normal_(self.item.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.item.weight[0].zero_()

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        padded = items < 0
        x = self.item(items + 1) * math.sqrt(self.item.embedding_dim)
        x = x + self.position(torch.arange(items.shape[1], device=items.device))[None]
        x = self.dropout(x) * ~padded[..., None]
        for block in self.blocks:
            x = block(x, padded) * ~padded[..., None]
        return self.norm(x)

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight[1:]


class GRU4RecNetwork(nn.Module):
    """Item embeddings through a GRU: :math:`\\mathbf{h}_t = \\mathrm{GRU}(\\mathbf{e}_{s_t}, \\mathbf{h}_{t-1})`.

    The same interface as :class:`SASRecNetwork`; padding on the left is a
    zero input, so the state starts the real sequence from (almost) zero.
    """

    def __init__(self, n_items: int, max_len: int, dim: int, n_blocks: int, n_heads: int, dropout: float):
        super().__init__()
        self.item = nn.Embedding(n_items + 1, dim, padding_idx=0)
        nn.init.normal_(self.item.weight, std=dim ** -0.5)
        with torch.no_grad():
            self.item.weight[0].zero_()
        self.gru = nn.GRU(dim, dim, num_layers=n_blocks, batch_first=True, dropout=dropout if n_blocks > 1 else 0.0)
        self.dropout = nn.Dropout(dropout)

    def forward(self, items: torch.Tensor) -> torch.Tensor:
        h, _ = self.gru(self.dropout(self.item(items + 1)))
        return h

    def item_vectors(self) -> torch.Tensor:
        return self.item.weight[1:]


# ------------------------------------------------------------------ the estimators


def _loss(network, inputs, targets, kind, n_negatives, beta, generator, n_items):
    """The batch's mean loss over its real (non-padded) positions."""
    h = network(inputs)
    real = targets >= 0
    h, pos = h[real], targets[real]
    E = network.item_vectors()
    if kind == "softmax":
        return F.cross_entropy(h @ E.T, pos)
    k = 1 if kind == "bce" else n_negatives
    neg = torch.randint(n_items, (len(pos), k), generator=generator).to(pos.device)
    if k > 16:  # many negatives: every item's score in one product is cheaper than gathering k vectors a position
        logits = h @ E.T
        s_pos, s_neg = logits.gather(1, pos[:, None])[:, 0], logits.gather(1, neg)
    else:
        s_pos, s_neg = (h * E[pos]).sum(-1), torch.einsum("pd,pkd->pk", h, E[neg])
    valid = neg != pos[:, None]
    negative_part = (F.softplus(s_neg) * valid).sum(-1)  # -log(1 - sigmoid(s)) = softplus(s)
    return (beta * F.softplus(-s_pos) + negative_part).mean()


class _SequenceModel(Recommender):
    """What SASRec and GRU4Rec share: the windows, the training loop, the scoring."""

    _network_class = None
    _needs_rating = False
    _iterative = True

    def _check_params(self, ratings) -> None:
        check_int("max_len", self.max_len, 1)
        check_int("dim", self.dim, 1)
        check_int("n_blocks", self.n_blocks, 1)
        check_int("n_heads", self.n_heads, 1)
        check_number("dropout", self.dropout, at_least=0)
        if self.dropout >= 1:
            raise ValueError(f"dropout must be < 1, got {self.dropout!r}")
        check_choice("loss", self.loss, LOSSES)
        check_int("n_negatives", self.n_negatives, 1)
        check_number("gbce_t", self.gbce_t, at_least=0)
        if self.gbce_t > 1:
            raise ValueError(f"gbce_t must be between 0 and 1, got {self.gbce_t!r}")
        check_int("n_epochs", self.n_epochs, 0)
        check_int("batch_size", self.batch_size, 1)
        check_number("lr", self.lr, above=0)
        check_number("reg", self.reg, at_least=0)
        if "timestamp" not in ratings.columns:
            raise ValueError(f"{type(self).__name__} learns from the order of each user's ratings, but ratings has "
                             f"no timestamp column (it has {list(ratings.columns)}): add one")

    def _fit(self, data: TrainingData) -> None:
        from tqdm.auto import tqdm

        self._check_params(data.ratings)
        self.device_ = resolve_device(self.device)
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        times = check_timestamps(data.ratings)
        longest = int(np.bincount(data.u).max())
        sequences = last_items(data.u, data.i, times, longest, n_users)
        self.last_items_ = sequences[:, -self.max_len:]
        inputs, targets = training_windows(sequences, self.max_len)
        if self.loss == "gbce" and self.n_negatives >= n_items:
            raise ValueError(f"n_negatives={self.n_negatives} must be below the number of items ({n_items})")
        self.beta_ = gbce_beta(self.n_negatives, n_items, self.gbce_t) if self.loss == "gbce" else 1.0
        with seeded(self.random_state, self.device_):
            self.network_ = self._network_class(n_items, self.max_len, self.dim, self.n_blocks, self.n_heads,
                                                self.dropout).to(self.device_)
            draws = torch.Generator().manual_seed(0 if self.random_state is None else self.random_state + 1)
            optimiser = torch.optim.Adam(self.network_.parameters(), lr=self.lr, weight_decay=self.reg, fused=True)
            X, Y = torch.from_numpy(inputs), torch.from_numpy(targets)
            self.history_ = []
            for epoch in tqdm(range(1, self.n_epochs + 1), desc=type(self).__name__, disable=not self.verbose):
                self.network_.train()
                order = torch.randperm(len(X), generator=draws)
                total = 0.0
                for start in range(0, len(order), self.batch_size):
                    batch = order[start:start + self.batch_size]
                    loss = _loss(self.network_, X[batch].to(self.device_), Y[batch].to(self.device_), self.loss,
                                 self.n_negatives, self.beta_, draws, n_items)
                    optimiser.zero_grad()
                    loss.backward()
                    optimiser.step()
                    total += loss.item() * len(batch)
                self.history_.append(total / len(X))
                self._callback(data, epoch)
        self.network_.eval()

    @torch.no_grad()
    def user_vectors(self, rows: np.ndarray) -> np.ndarray:
        """:math:`\\mathbf{h}_T` of users ``rows`` (positions in ``user_ids_``): the state after their last item."""
        self.network_.eval()
        h = self.network_(torch.from_numpy(self.last_items_[rows]).to(self.device_))
        return h[:, -1].cpu().numpy()

    def _learned_arrays(self):
        for name, weights in self.network_.named_parameters():
            yield f"network_.{name}", weights.detach().cpu().numpy()

    @torch.no_grad()
    def _score(self, rows, cols):
        H = self.user_vectors(rows).astype(np.float64)
        E = self.network_.item_vectors().cpu().numpy()[cols].astype(np.float64)
        S = H @ E.T
        S[~(self.last_items_[rows] >= 0).any(axis=1)] = np.nan  # no training item: nothing to continue
        return S


_PARAMETERS = """
    Parameters
    ----------
    max_len : int
        How many of a user's latest items the model reads (and the length of
        the training windows).
    dim : int
        Size of the item embeddings and of every hidden vector.
    n_blocks : int
        Transformer blocks (SASRec) or GRU layers (GRU4Rec).
    n_heads : int
        Attention heads per block (SASRec; ``dim`` must be a multiple).
    dropout : float
        Dropout on the embeddings and inside every block.
    loss : {"softmax", "gbce", "bce"}
        See the module docstring.
    n_negatives : int
        Negatives per position for ``loss="gbce"`` (``"bce"`` takes one).
    gbce_t : float
        gSASRec's calibration :math:`t` in [0, 1] (``loss="gbce"``).
    n_epochs, batch_size, lr : training
        Epochs over the windows (shuffled anew each epoch), windows per batch,
        Adam's learning rate.
    reg : float
        L2 penalty on every weight (Adam's ``weight_decay``).
    device : {"cpu", "cuda", "auto"}
        Where to train and score (:func:`~recsys_course.models.devices.resolve_device`).
    random_state : int
        Seeds the initial weights, the negatives, the order of the windows and dropout.
    verbose : bool
        A tqdm progress bar over epochs.
"""


class SASRec(_SequenceModel):
    __doc__ = r"""Self-attentive sequential recommendation (Kang & McAuley, 2018), trained with a choice of loss.

    ``fit(ratings)`` needs ``timestamp``: each user's ratings in time order
    (ties broken by row order) are their sequence. See the module docstring
    for the network, the windows and the three losses. ``history_`` holds the
    mean training loss of each epoch; ``network_`` the trained
    :class:`SASRecNetwork`; ``attention(user_id)`` what its blocks look at.
    """ + _PARAMETERS + """
    Notes
    -----
    The defaults were chosen on ml-100k on the validation item only (each
    user's second-to-last rating, the model trained on everything before it):
    see notebook 11.

    Examples
    --------
    >>> import pandas as pd
    >>> ratings = pd.DataFrame({"user_id": [1, 1, 1, 2, 2, 2, 3, 3], "item_id": [10, 20, 30, 10, 20, 30, 10, 20],
    ...                         "timestamp": [1, 2, 3, 1, 2, 3, 1, 2]})
    >>> model = SASRec(max_len=4, dim=8, n_epochs=30, lr=0.05, dropout=0.0).fit(ratings)
    >>> model.recommend(3, n=1)["item_id"].tolist()  # user 3 watched 10, then 20: next is 30
    [30]
    """

    _network_class = SASRecNetwork

    def __init__(self, max_len: int = 50, dim: int = 64, n_blocks: int = 2, n_heads: int = 1, dropout: float = 0.2,
                 loss: str = "softmax", n_negatives: int = 128, gbce_t: float = 0.75, n_epochs: int = 50,
                 batch_size: int = 128, lr: float = 1e-3, reg: float = 0.0, device: str = "cpu",
                 random_state: int = 0, verbose: bool = False):
        self.max_len = max_len
        self.dim = dim
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.dropout = dropout
        self.loss = loss
        self.n_negatives = n_negatives
        self.gbce_t = gbce_t
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.reg = reg
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    @torch.no_grad()
    def attention(self, user_id) -> list[np.ndarray]:
        """Each block's attention weights for ``user_id``'s last ``max_len`` training items (heads averaged).

        One ``max_len x max_len`` array per block: row :math:`t` is how much
        position :math:`t` took from each position :math:`s \\le t` (rows sum
        to 1). Padded positions are included; ``last_items_`` says which.
        """
        self._check_fitted()
        row = self.user_ids_.get_indexer([user_id])[0]
        if row < 0:
            raise ValueError(f"user_id={user_id!r} is not a training user: attention needs a training sequence")
        blocks = [block.attention for block in self.network_.blocks]
        for attention in blocks:
            attention.keep_weights = True
        try:
            self.user_vectors(np.array([row]))
            return [attention.weights_[0].mean(0).cpu().numpy() for attention in blocks]
        finally:
            for attention in blocks:
                attention.keep_weights, attention.weights_ = False, None


class GRU4Rec(_SequenceModel):
    __doc__ = r"""GRU4Rec (Hidasi et al., 2016): a recurrent network over the item sequence, same training as SASRec.

    The session-based original trains one session at a time with a ranking
    loss over in-batch negatives; this version reads whole user histories
    in windows and takes the same losses as :class:`SASRec` (the full
    softmax by default), so the two differ only in the network. ``n_heads``
    is unused.
    """ + _PARAMETERS

    _network_class = GRU4RecNetwork

    def __init__(self, max_len: int = 50, dim: int = 64, n_blocks: int = 1, n_heads: int = 1, dropout: float = 0.2,
                 loss: str = "softmax", n_negatives: int = 128, gbce_t: float = 0.75, n_epochs: int = 30,
                 batch_size: int = 128, lr: float = 1e-3, reg: float = 0.0, device: str = "cpu",
                 random_state: int = 0, verbose: bool = False):
        self.max_len = max_len
        self.dim = dim
        self.n_blocks = n_blocks
        self.n_heads = n_heads
        self.dropout = dropout
        self.loss = loss
        self.n_negatives = n_negatives
        self.gbce_t = gbce_t
        self.n_epochs = n_epochs
        self.batch_size = batch_size
        self.lr = lr
        self.reg = reg
        self.device = device
        self.random_state = random_state
        self.verbose = verbose
