r"""Neural collaborative filtering (He et al., 2017) in PyTorch: GMF, MLP and NeuMF.

All three score a (user, item) pair from two embeddings; they differ in how
the embeddings interact:

* **GMF** (generalised matrix factorisation): the element-wise product
  :math:`\mathbf{p}_u \odot \mathbf{q}_i` through one linear layer. With an
  all-ones output layer and no bias it *is* the dot product of matrix
  factorisation.
* **MLP**: the concatenation :math:`[\mathbf{p}_u; \mathbf{q}_i]` through a
  tower of ReLU layers, so the interaction is learned rather than fixed.
* **NeuMF**: both towers side by side, their last layers concatenated into one
  output; it can start from pre-trained GMF and MLP weights.

Training is implicit feedback: every observed (user, item) pair is a positive,
and for each positive ``n_negatives`` items the user has *not* interacted with
are drawn as negatives (:class:`NegativeSampler`); the loss is binary
cross-entropy on the logits. :func:`train` stops early when the validation
metric has not improved for ``patience`` epochs and keeps the best weights.

Two recommenders follow the package's protocol (:mod:`recsys_course.models.base`):
:class:`NCF` is the estimator (``NCF("neumf").fit(ratings)`` builds and trains
the network), and :class:`NCFRecommender` puts a network trained by hand with
:func:`train` behind the same ``recommend``.
Everything random takes a seed (``random_state``): the models' initial weights,
the negatives, the shuffling and dropout, so a run gives the same model in any
process, whatever the caller did to torch's global random state before (which
is left untouched). Scoring a block of users runs the network on every (user,
item) pair of the block; for GMF, whose score is
:math:`\mathbf{p}_u^\top \mathrm{diag}(\mathbf{h})\, \mathbf{q}_i + b`, it is one matrix product.

Training and scoring run on the CPU by default; ``NCF(device="cuda")`` (or
``train(..., device="cuda")``) runs them on a GPU
(:func:`~recsys_course.models.devices.resolve_device`). The initial weights
are drawn on the CPU either way and then moved, so both devices start from the
same network; scores come back as numpy arrays on the CPU.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
import torch
from torch import nn

from ..checks import check_choice, check_int, check_number
from ..ids import id_index, positions, show_id
from .base import Recommender, TrainingData
from .devices import resolve_device
from .seeding import seeded

__all__ = ["GMF", "MLP", "NCF", "NCFRecommender", "NegativeSampler", "NeuMF", "TrainingHistory", "train"]


def _check_shape(n_users, n_items, dim, layers=None, dropout=0.0) -> tuple[int, ...] | None:
    """Refuse sizes torch would take or fail on obscurely: a network needs rows, a width and a tower."""
    check_int("n_users", n_users, 1)
    check_int("n_items", n_items, 1)
    check_int("dim", dim, 1)
    if not 0 <= dropout < 1 or isinstance(dropout, bool):
        raise ValueError(f"dropout must be a probability in [0, 1), got {dropout!r}")
    if layers is None:
        return None
    if isinstance(layers, (int, np.integer)) or not all(isinstance(w, (int, np.integer)) and w >= 1 for w in layers) \
            or not len(layers):
        raise ValueError(f"layers must be a non-empty tuple of widths >= 1, e.g. (64, 32, 16); got {layers!r}")
    return tuple(int(w) for w in layers)


class GMF(nn.Module):
    """Generalised matrix factorisation: ``h . (p_u * q_i)``, returning logits.

    The initial weights are drawn with ``random_state`` (embeddings from
    N(0, 0.01²), the output layer as ``nn.Linear`` initialises it).
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, random_state: int | None = 0):
        super().__init__()
        _check_shape(n_users, n_items, dim)
        with seeded(random_state):
            self.user = nn.Embedding(n_users, dim)
            self.item = nn.Embedding(n_items, dim)
            self.out = nn.Linear(dim, 1)
            for emb in (self.user, self.item):
                nn.init.normal_(emb.weight, std=0.01)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.user(users) * self.item(items)

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(users, items)).squeeze(-1)


class MLP(nn.Module):
    """Concatenated embeddings through a ReLU tower, returning logits.

    The initial weights are drawn with ``random_state``.
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, layers: tuple[int, ...] = (64, 32, 16),
                 dropout: float = 0.0, random_state: int | None = 0):
        super().__init__()
        layers = _check_shape(n_users, n_items, dim, layers, dropout)
        with seeded(random_state):
            self.user = nn.Embedding(n_users, dim)
            self.item = nn.Embedding(n_items, dim)
            blocks, width = [], 2 * dim
            for size in layers:
                blocks += [nn.Linear(width, size), nn.ReLU(), nn.Dropout(dropout)]
                width = size
            self.tower = nn.Sequential(*blocks)
            self.out = nn.Linear(width, 1)
            for emb in (self.user, self.item):
                nn.init.normal_(emb.weight, std=0.01)

    def features(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.tower(torch.cat([self.user(users), self.item(items)], dim=-1))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        return self.out(self.features(users, items)).squeeze(-1)


class NeuMF(nn.Module):
    """GMF and MLP towers side by side; their last layers are concatenated into one logit.

    The initial weights of both towers and the output layer are drawn with ``random_state``.
    """

    def __init__(self, n_users: int, n_items: int, dim: int = 32, layers: tuple[int, ...] = (64, 32, 16),
                 dropout: float = 0.0, random_state: int | None = 0):
        super().__init__()
        layers = _check_shape(n_users, n_items, dim, layers, dropout)
        with seeded(random_state):  # the towers draw in turn from this one seeded stream
            self.gmf = GMF(n_users, n_items, dim, random_state=None)
            self.mlp = MLP(n_users, n_items, dim, layers, dropout, random_state=None)
            self.out = nn.Linear(dim + layers[-1], 1)

    @classmethod
    def from_pretrained(cls, gmf: GMF, mlp: MLP, alpha: float = 0.5) -> "NeuMF":
        """Start from trained towers; the output layer weighs them ``alpha`` and ``1 - alpha`` (He et al.).

        The new network is on the towers' device.
        """
        dim = gmf.user.embedding_dim
        layers = tuple(m.out_features for m in mlp.tower if isinstance(m, nn.Linear))
        model = cls(gmf.user.num_embeddings, gmf.item.num_embeddings, dim, layers)
        model.gmf.load_state_dict(gmf.state_dict())
        model.mlp.load_state_dict(mlp.state_dict())
        with torch.no_grad():
            model.out.weight.copy_(torch.cat([alpha * gmf.out.weight, (1 - alpha) * mlp.out.weight], dim=1))
            model.out.bias.copy_(alpha * gmf.out.bias + (1 - alpha) * mlp.out.bias)
        return model.to(_device_of(gmf))

    def forward(self, users: torch.Tensor, items: torch.Tensor) -> torch.Tensor:
        both = torch.cat([self.gmf.features(users, items), self.mlp.features(users, items)], dim=-1)
        return self.out(both).squeeze(-1)


class NegativeSampler:
    """Draws, for each positive, items the user never interacted with in training.

    Rejection sampling against a per-user set of positives: draw uniformly,
    redraw the few that hit a positive. A user who has interacted with every
    item cannot get negatives and raises ``ValueError``.
    """

    def __init__(self, users: np.ndarray, items: np.ndarray, n_items: int, random_state: int = 0):
        self.n_items = n_items
        self.positive_codes = np.unique(users.astype(np.int64) * n_items + items)
        owners = self.positive_codes // n_items  # one entry per distinct (user, item) pair
        counts = np.bincount(owners)
        if (counts >= n_items).any():
            user = int(np.argmax(counts >= n_items))
            raise ValueError(f"user {user} interacted with all {n_items} items: there is nothing left to sample "
                             "as negative; leave that user out of training")
        self.rng = np.random.default_rng(random_state)

    def is_positive(self, users: np.ndarray, items: np.ndarray) -> np.ndarray:
        codes = users.astype(np.int64) * self.n_items + items
        pos = np.searchsorted(self.positive_codes, codes)
        pos = np.minimum(pos, len(self.positive_codes) - 1)
        return self.positive_codes[pos] == codes

    def sample(self, users: np.ndarray) -> np.ndarray:
        """One negative item per entry of ``users``."""
        items = self.rng.integers(0, self.n_items, len(users))
        bad = self.is_positive(users, items)
        while bad.any():
            items[bad] = self.rng.integers(0, self.n_items, int(bad.sum()))
            bad[bad] = self.is_positive(users[bad], items[bad])
        return items


@dataclass
class TrainingHistory:
    """Loss and validation metric per epoch, and the epoch whose weights were kept."""

    loss: list = field(default_factory=list)
    validation: list = field(default_factory=list)
    best_epoch: int = 0


def train(model: nn.Module, users: np.ndarray, items: np.ndarray, n_items: int, *, epochs: int = 20,
          n_negatives: int = 4, batch_size: int = 256, lr: float = 1e-3, weight_decay: float = 0.0,
          validate=None, patience: int = 3, random_state: int = 0, progress: bool = False,
          epoch_callback=None, sampler=None, device=None) -> TrainingHistory:
    """Train on positives ``(users[j], items[j])`` with ``n_negatives`` sampled negatives each (BCE loss).

    ``validate(model) -> float`` (higher is better) is called after every
    epoch; training stops when it has not improved for ``patience`` epochs and
    the best weights are restored. ``epoch_callback(model, epoch)`` runs after
    every epoch. ``sampler`` draws the negatives: any object with
    ``sample(users) -> items`` (one negative item row per entry of ``users``);
    the default is a uniform :class:`NegativeSampler` over the items each user
    has not interacted with, seeded with ``random_state``.

    ``device`` (``"cpu"``, ``"cuda"``, ``"cuda:N"`` or ``"auto"``, see
    :func:`~recsys_course.models.devices.resolve_device`) is where the network
    trains: the model is moved there (in place, and left there, so that
    ``validate`` and ``epoch_callback`` get it on that device) and each epoch's
    examples are copied there once; ``None`` (default) trains wherever the
    model's parameters are. The negatives are drawn on the CPU.

    Deterministic for a given ``random_state`` and starting model: the
    negatives, the order of the examples and dropout all draw from it, and
    torch's global random state is left as it was. (The starting weights come
    from the model's own ``random_state``.) On a GPU, the trained weights differ
    from the CPU's in their last digits (:mod:`~recsys_course.models.devices`).
    """
    from tqdm.auto import tqdm

    users, items = _training_pairs(model, users, items, n_items)
    check_int("epochs", epochs, 0)
    check_int("n_negatives", n_negatives, 1)
    check_int("batch_size", batch_size, 1)
    check_int("patience", patience, 1)
    check_number("lr", lr, above=0)
    check_number("weight_decay", weight_decay, at_least=0)
    device = _device_of(model) if device is None else resolve_device(device)
    model.to(device)
    with seeded(random_state, device):
        if sampler is None:
            sampler = NegativeSampler(users, items, n_items, random_state)
        elif not callable(getattr(sampler, "sample", None)):
            raise ValueError(f"sampler must have a sample(users) method, got {type(sampler).__name__}")
        shuffle = np.random.default_rng(random_state + 1)
        # fused: one vectorised kernel, the same digits on every CPU the pinned set-up covers (the
        # unfused Adam takes its square roots from MKL's vector library, whose code differs by vendor)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr, weight_decay=weight_decay, fused=True)
        loss_fn = nn.BCEWithLogitsLoss()
        history, best, best_state, waited = TrainingHistory(), -np.inf, None, 0
        for epoch in tqdm(range(1, epochs + 1), desc=type(model).__name__, disable=not progress):
            neg_users = np.repeat(users, n_negatives)
            all_users = np.concatenate([users, neg_users])
            all_items = np.concatenate([items, sampler.sample(neg_users)])
            labels = np.concatenate([np.ones(len(users)), np.zeros(len(neg_users))]).astype(np.float32)
            order = shuffle.permutation(len(all_users))
            # one copy to the device per epoch, in the shuffled order: the batches are slices of it
            epoch_users, epoch_items, epoch_labels = (torch.from_numpy(a[order]).to(device)
                                                      for a in (all_users, all_items, labels))
            model.train()
            # the loss is summed on the device (float64: the digits of a Python float sum), so that
            # a GPU need not wait for every batch to hand its loss back
            total = torch.zeros((), dtype=torch.float64, device=device)
            for start in range(0, len(order), batch_size):
                stop = min(start + batch_size, len(order))
                logits = model(epoch_users[start:stop], epoch_items[start:stop])
                loss = loss_fn(logits, epoch_labels[start:stop])
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.detach().double() * (stop - start)
            history.loss.append(total.item() / len(order))
            if epoch_callback is not None:
                epoch_callback(model, epoch)
            if validate is not None:
                model.eval()
                score = float(validate(model))
                history.validation.append(score)
                if score > best:
                    best, best_state, waited, history.best_epoch = score, copy.deepcopy(model.state_dict()), 0, epoch
                else:
                    waited += 1
                    if waited >= patience:
                        break
        if best_state is not None:
            model.load_state_dict(best_state)
        else:
            history.best_epoch = len(history.loss)
        model.eval()
        return history


def _device_of(model: nn.Module) -> torch.device:
    """Where ``model``'s parameters are (the CPU for a model without any)."""
    return next(model.parameters(), torch.empty(0)).device


def _rows(model: nn.Module) -> tuple[int | None, int | None]:
    """How many users and items ``model`` has embeddings for (None where it is not one of ours)."""
    tower = getattr(model, "gmf", model)
    user, item = getattr(tower, "user", None), getattr(tower, "item", None)
    return (user.num_embeddings if isinstance(user, nn.Embedding) else None,
            item.num_embeddings if isinstance(item, nn.Embedding) else None)


def _training_pairs(model, users, items, n_items) -> tuple[np.ndarray, np.ndarray]:
    """The positives as two int64 arrays of row numbers, or a ValueError that says what is wrong."""
    n_items = check_int("n_items", n_items, 1)
    pairs = []
    for name, values in (("users", users), ("items", items)):
        values = np.asarray(values)
        if values.ndim != 1:
            raise ValueError(f"{name} must be a 1-D array of row numbers, got shape {values.shape}")
        if len(values) and values.dtype.kind not in "iu":
            raise ValueError(f"{name} must hold integer row numbers (0, 1, ...), got dtype {values.dtype}: map raw "
                             "ids to rows first, e.g. pd.Index(item_ids).get_indexer(raw_ids)")
        pairs.append(values.astype(np.int64))
    users, items = pairs
    if len(users) != len(items):
        raise ValueError(f"users and items must be the same length (one positive per position), "
                         f"got {len(users)} and {len(items)}")
    if not len(users):
        raise ValueError("users and items are empty: there are no positives to train on")
    model_users, model_items = _rows(model)
    if model_items is not None and model_items != n_items:
        raise ValueError(f"n_items={n_items}, but the network has rows for {model_items} items: pass "
                         f"n_items={model_items}")
    for name, values, size in (("users", users, model_users), ("items", items, n_items)):
        low, high = int(values.min()), int(values.max())
        if low < 0 or (size is not None and high >= size):
            raise ValueError(f"{name} holds {low if low < 0 else high}, but the network's {name} are rows 0.."
                             f"{size - 1 if size else '?'}: {name} are row numbers (positions), not raw ids; "
                             "map them first, e.g. pd.Index(sorted(set(raw_ids))).get_indexer(raw_ids)")
    codes = users * n_items + items
    unique, counts = np.unique(codes, return_counts=True)
    if (counts > 1).any():
        code = int(unique[np.argmax(counts > 1)])
        raise ValueError(f"users and items repeat {int((counts - 1).sum())} (user, item) pair(s), e.g. "
                         f"({code // n_items}, {code % n_items}): a repeated positive would count twice; pass each "
                         "pair once, e.g. pairs = np.unique(np.c_[users, items], axis=0)")
    return users, items


@torch.no_grad()
def _score_pairs(module: nn.Module, rows: np.ndarray, cols: np.ndarray, batch_size: int) -> np.ndarray:
    """The network's logits for every (row, col) pair: a ``len(rows) x len(cols)`` numpy array.

    Computed on the module's device, returned on the CPU.
    """
    module.eval()
    device = _device_of(module)
    rows, cols = torch.as_tensor(rows, device=device), torch.as_tensor(cols, device=device)
    if isinstance(module, GMF):  # h . (p_u * q_i) + b = (p_u * h) . q_i + b: one matrix product
        P = module.user.weight[rows] * module.out.weight[0]
        return (P @ module.item.weight[cols].T + module.out.bias).cpu().numpy()
    out = np.empty((len(rows), len(cols)))
    for start in range(0, len(rows), batch_size):
        users = rows[start:start + batch_size]
        logits = module(users.repeat_interleave(len(cols)), cols.repeat(len(users)))
        out[start:start + len(users)] = logits.reshape(len(users), len(cols)).cpu().numpy()
    return out


class NCFRecommender(Recommender):
    """A network trained by hand (with :func:`train`) behind the package's protocol.

    ``fit(ratings)`` trains nothing: it records each user's rated items (left
    out of their lists) and the popularity fallback. The network's row ``j``
    is user ``user_ids[j]`` and its item ``j`` is ``item_ids[j]``; every rated
    id must be among them.

    Parameters
    ----------
    module : GMF, MLP or NeuMF (a trained ``nn.Module``)
    user_ids, item_ids : sequences of raw ids, in the module's row order
    batch_size : int
        Users scored per forward pass of the network.
    """

    _needs_rating = False

    def __init__(self, module: nn.Module, user_ids, item_ids, batch_size: int = 256):
        self.module = module
        self.user_ids = user_ids
        self.item_ids = item_ids
        self.batch_size = batch_size

    def _vocabularies(self, ratings, movies, users):
        vocabularies = []
        for given, column in ((self.user_ids, "user_id"), (self.item_ids, "item_id")):
            absent = pd.Index(ratings[column].unique()).difference(pd.Index(given))
            if len(absent):
                raise ValueError(f"ratings name {len(absent)} {column}(s) the network has no row for, "
                                 f"e.g. {show_id(absent[0])}: pass every id the network was trained on "
                                 f"as {column[:4]}_ids")
            vocabularies.append(id_index(given, column))
        return tuple(vocabularies)

    def _fit(self, data: TrainingData) -> None:
        self._module_rows = positions(pd.Index(self.user_ids), self.user_ids_)
        self._module_cols = positions(pd.Index(self.item_ids), self.item_ids_)

    def _score(self, rows, cols):
        return _score_pairs(self.module, self._module_rows[rows], self._module_cols[cols], self.batch_size)


_ARCHITECTURES = {"gmf": GMF, "mlp": MLP, "neumf": NeuMF}


class NCF(Recommender):
    """Neural collaborative filtering as an estimator: ``NCF("neumf").fit(ratings)`` builds and trains it.

    Every training rating (at or above ``positive_threshold``, if given) is an
    implicit positive; :func:`train` draws ``n_negatives`` negatives for each,
    anew every epoch, and minimises binary cross-entropy with (fused) Adam.
    No early stopping: the network trains ``n_epochs`` epochs (``history_``
    holds the loss of each).

    Parameters
    ----------
    architecture : {"neumf", "gmf", "mlp"}
    n_factors : int
        Embedding size of each tower (He et al.'s "predictive factors").
    layers : tuple of int
        Widths of the MLP tower's hidden layers (MLP and NeuMF).
    dropout : float
        Dropout after each hidden layer of the MLP tower.
    n_epochs, n_negatives, batch_size, lr : training (see :func:`train`)
    reg : float
        L2 penalty on every weight (Adam's ``weight_decay``).
    positive_threshold : float, optional
        Only ratings >= this are positives; ``None`` (default) takes every rating.
    device : {"cpu", "cuda", "cuda:N", "auto"}
        Where the network trains and scores
        (:func:`~recsys_course.models.devices.resolve_device`; ``"auto"``: a
        GPU if PyTorch sees one). The initial weights are drawn on the CPU and
        then moved, so every device starts from the same network; on the CPU a
        seeded fit gives the same digits every time, on a GPU the trained
        weights differ from the CPU's in their last digits (sums in another order).
    random_state : int
        Seeds the initial weights, the negatives, the order of the examples and dropout.
    verbose : bool
        A tqdm progress bar over epochs.

    Attributes
    ----------
    module_ : GMF, MLP or NeuMF
        The trained network, on ``device_``. A fitted model pickles with it, so
        it unpickles and scores on a machine with that device.
    device_ : torch.device
        The device ``device`` resolved to at ``fit``.
    history_ : TrainingHistory
        The mean training loss of each epoch.
    """

    _needs_rating = False
    _iterative = True

    def __init__(self, architecture: str = "neumf", n_factors: int = 32, layers: tuple[int, ...] = (64, 32, 16),
                 dropout: float = 0.0, n_epochs: int = 5, n_negatives: int = 4, batch_size: int = 1024,
                 lr: float = 2e-3, reg: float = 0.0, positive_threshold: float | None = None, device: str = "cpu",
                 random_state: int = 0, verbose: bool = False):
        self.architecture = architecture
        self.n_factors = n_factors
        self.layers = layers
        self.dropout = dropout
        self.n_epochs = n_epochs
        self.n_negatives = n_negatives
        self.batch_size = batch_size
        self.lr = lr
        self.reg = reg
        self.positive_threshold = positive_threshold
        self.device = device
        self.random_state = random_state
        self.verbose = verbose

    def _fit(self, data: TrainingData) -> None:
        check_choice("architecture", self.architecture, tuple(_ARCHITECTURES))
        check_int("n_factors", self.n_factors, 1)
        check_int("n_epochs", self.n_epochs, 0)
        check_number("reg", self.reg, at_least=0)
        self.device_ = resolve_device(self.device)
        keep = data.positives(self.positive_threshold)
        n_users, n_items = len(self.user_ids_), len(self.item_ids_)
        if self.architecture == "gmf":
            self.module_ = GMF(n_users, n_items, self.n_factors, random_state=self.random_state)
        else:
            self.module_ = _ARCHITECTURES[self.architecture](n_users, n_items, self.n_factors, self.layers,
                                                             self.dropout, random_state=self.random_state)
        self.history_ = train(self.module_, data.u[keep], data.i[keep], n_items, epochs=self.n_epochs,
                              n_negatives=self.n_negatives, batch_size=self.batch_size, lr=self.lr,
                              weight_decay=self.reg, random_state=self.random_state, progress=self.verbose,
                              epoch_callback=lambda module, epoch: self._callback(data, epoch), device=self.device_)

    def _learned_arrays(self):
        for name, weights in self.module_.named_parameters():
            yield f"module_.{name}", weights.detach().cpu().numpy()

    def _score(self, rows, cols):
        return _score_pairs(self.module_, rows, cols, max(1, 2**20 // max(1, len(cols))))
