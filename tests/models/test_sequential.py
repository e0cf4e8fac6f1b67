"""SASRec and GRU4Rec: windows against a loop, the block against PyTorch's, causality, the losses, learning."""

import itertools
import math

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_course.models.baselines import Popularity
from recsys_course.models.sequential import (
    Block as SASRecBlock,
)
from recsys_course.models.sequential import (
    GRU4Rec,
    SASRec,
    SASRecNetwork,
    _loss,
    gbce_beta,
    training_windows,
)

torch.set_num_threads(1)


CYCLE = 20


def _cycles(n_users=12, length=15, n_items=CYCLE, start=1):
    """Each user walks part of the cycle 1 -> 2 -> ... -> n_items -> 1 from a different place (no movie twice)."""
    rows = []
    for user in range(1, n_users + 1):
        for t in range(length):
            rows.append((user, (user + t) % n_items + start, 1000 * user + t))
    return pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])


# ------------------------------------------------------------------ windows


def _slow_windows(sequences, max_len):
    """Every (input, target) pair of every user, then cut by hand into windows from the end."""
    X, Y = [], []
    for row in sequences:
        seq = [int(x) for x in row if x >= 0]
        pairs = list(itertools.pairwise(seq))
        while pairs:
            chunk, pairs = pairs[-max_len:], pairs[:-max_len]
            pad = [-1] * (max_len - len(chunk))
            X.append(pad + [a for a, _ in chunk])
            Y.append(pad + [b for _, b in chunk])
    return X, Y


@pytest.mark.parametrize("max_len", [1, 2, 3, 7, 50])
def test_windows_are_the_loop_and_every_item_but_the_first_is_a_target_once(max_len):
    rng = np.random.default_rng(max_len)
    sequences = np.full((6, 20), -1)
    for u, length in enumerate([20, 1, 2, 9, 13, 0]):
        sequences[u, 20 - length:] = rng.integers(0, 30, length)
    X, Y = training_windows(sequences, max_len)
    sX, sY = _slow_windows(sequences, max_len)
    assert sorted(map(tuple, X.tolist())) == sorted(map(tuple, sX))
    assert sorted(map(tuple, Y.tolist())) == sorted(map(tuple, sY))
    assert (Y >= 0).sum() == sum(max(0, n - 1) for n in [20, 1, 2, 9, 13, 0])
    assert ((X >= 0) == (Y >= 0)).all()  # a target exactly where there is an input


def test_windows_refuse_sequences_with_nothing_to_predict():
    with pytest.raises(ValueError, match="two or more training items"):
        training_windows(np.array([[-1, 3], [-1, -1]]), 5)


# ------------------------------------------------------------------ the network


def test_a_block_is_pytorchs_pre_norm_transformer_layer_under_a_causal_mask():
    torch.manual_seed(0)
    dim, heads, L = 8, 2, 5
    ours = SASRecBlock(dim, heads, dropout=0.0).eval()
    ref = torch.nn.TransformerEncoderLayer(dim, heads, dim_feedforward=dim, dropout=0.0, norm_first=True,
                                           batch_first=True).eval()
    with torch.no_grad():
        ref.self_attn.in_proj_weight.copy_(ours.attention.qkv.weight)
        ref.self_attn.in_proj_bias.copy_(ours.attention.qkv.bias)
        ref.self_attn.out_proj.weight.copy_(ours.attention.out.weight)
        ref.self_attn.out_proj.bias.copy_(ours.attention.out.bias)
        ref.linear1.weight.copy_(ours.feed_forward[0].weight)
        ref.linear1.bias.copy_(ours.feed_forward[0].bias)
        ref.linear2.weight.copy_(ours.feed_forward[3].weight)
        ref.linear2.bias.copy_(ours.feed_forward[3].bias)
        for a, b in ((ref.norm1, ours.norm1), (ref.norm2, ours.norm2)):
            a.weight.copy_(b.weight)
            a.bias.copy_(b.bias)
    x = torch.randn(3, L, dim)
    no_padding = torch.zeros(3, L, dtype=torch.bool)
    causal = torch.nn.Transformer.generate_square_subsequent_mask(L)
    with torch.no_grad():
        assert torch.allclose(ours(x, no_padding), ref(x, src_mask=causal, is_causal=True), atol=1e-6)


def test_the_network_is_causal_and_ignores_padding():
    torch.manual_seed(1)
    net = SASRecNetwork(n_items=10, max_len=6, dim=8, n_blocks=2, n_heads=2, dropout=0.0).eval()
    items = torch.tensor([[-1, -1, 3, 4, 5, 6]])
    later_changed = torch.tensor([[-1, -1, 3, 4, 9, 0]])
    with torch.no_grad():
        h, h2 = net(items), net(later_changed)
    assert torch.allclose(h[0, :4], h2[0, :4], atol=1e-6)  # positions 2, 3 never see 4 and 5
    assert not torch.allclose(h[0, 4:], h2[0, 4:])
    attention = net.blocks[0].attention
    attention.keep_weights = True
    with torch.no_grad():
        net(items)
    W = attention.weights_[0]  # heads x query x key
    assert torch.allclose(W.sum(-1), torch.ones(2, 6))
    assert (W.triu(1) == 0).all()  # nothing from the future
    assert (W[:, 2:, :2] == 0).all()  # nothing from padding


# ------------------------------------------------------------------ the losses


def test_gbce_beta_is_one_at_t_zero_and_the_sampling_rate_at_t_one():
    assert gbce_beta(128, 1683, 0.0) == pytest.approx(1.0)
    assert gbce_beta(128, 1683, 1.0) == pytest.approx(128 / 1682)
    assert gbce_beta(128, 1683, 0.75) == pytest.approx(128 / 1682 * (0.75 * (1 - 1682 / 128) + 1682 / 128))


class _Fixed(torch.nn.Module):
    """A 'network' with given hidden vectors and item table, to check the loss by hand."""

    def __init__(self, H, E):
        super().__init__()
        self.H, self.E = H, E

    def forward(self, items):
        return self.H

    def item_vectors(self):
        return self.E


@pytest.mark.parametrize("kind, k, beta", [("bce", 1, 1.0), ("gbce", 3, 0.4), ("gbce", 20, 0.7), ("softmax", 0, 1.0)])
def test_each_loss_is_its_formula_written_out(kind, k, beta):
    rng = np.random.default_rng(0)
    n_items, dim = 7, 4
    H = torch.from_numpy(rng.normal(size=(2, 3, dim)))
    E = torch.from_numpy(rng.normal(size=(n_items, dim)))
    targets = torch.tensor([[-1, 2, 5], [1, 1, 6]])
    gen = torch.Generator().manual_seed(5)
    got = _loss(_Fixed(H, E), None, targets, kind, k, beta, gen, n_items)
    negatives = torch.randint(n_items, (5, max(k, 1)), generator=torch.Generator().manual_seed(5))
    sig = lambda s: 1 / (1 + math.exp(-s))
    total = 0.0
    for n, ((b, t), pos) in enumerate(zip([(0, 1), (0, 2), (1, 0), (1, 1), (1, 2)], [2, 5, 1, 1, 6])):
        h = H[b, t]
        if kind == "softmax":
            logits = [float(h @ E[j]) for j in range(n_items)]
            total += math.log(sum(math.exp(s) for s in logits)) - logits[pos]
        else:
            total += -beta * math.log(sig(float(h @ E[pos])))
            for j in negatives[n].tolist():
                if j != pos:  # a negative that is the target is left out
                    total += -math.log(1 - sig(float(h @ E[j])))
    assert float(got) == pytest.approx(total / 5, rel=1e-9)


# ------------------------------------------------------------------ the estimators


@pytest.mark.parametrize("cls", [SASRec, GRU4Rec])
def test_it_learns_the_next_step_of_a_cycle(cls):
    ratings = _cycles()
    model = cls(max_len=8, dim=16, n_epochs=40, lr=0.02, dropout=0.0, batch_size=16).fit(ratings)
    lists = model.recommend_batch(n=1, exclude_seen=False)
    last = ratings.sort_values("timestamp").groupby("user_id")["item_id"].last()
    expected = last % CYCLE + 1
    assert (lists.set_index("user_id")["item_id"] == expected).all(), lists
    assert model.history_[-1] < model.history_[0] / 2


@pytest.mark.parametrize("loss", ["bce", "gbce"])
def test_sampled_losses_learn_the_cycle_too(loss):
    model = SASRec(max_len=8, dim=16, n_epochs=60, lr=0.02, dropout=0.0, batch_size=16, loss=loss,
                   n_negatives=3).fit(_cycles())
    last = _cycles().sort_values("timestamp").groupby("user_id")["item_id"].last()
    got = model.recommend_batch(n=1, exclude_seen=False).set_index("user_id")["item_id"]
    assert (got == last % CYCLE + 1).mean() >= 0.9


def test_a_seed_gives_the_same_model_and_leaves_torchs_generator_alone():
    ratings = _cycles(n_users=4, length=6)
    torch.manual_seed(123)
    before = torch.rand(1)
    torch.manual_seed(123)
    a = SASRec(max_len=4, dim=8, n_epochs=2, random_state=7).fit(ratings)
    assert torch.equal(torch.rand(1), before)
    b = SASRec(max_len=4, dim=8, n_epochs=2, random_state=7).fit(ratings)
    c = SASRec(max_len=4, dim=8, n_epochs=2, random_state=8).fit(ratings)
    assert a.history_ == b.history_
    assert np.array_equal(a.score([1, 2]).to_numpy(), b.score([1, 2]).to_numpy())
    assert not np.array_equal(a.score([1, 2]).to_numpy(), c.score([1, 2]).to_numpy())


def test_the_protocol_unknown_users_seen_items_and_a_user_with_one_item():
    ratings = pd.concat([_cycles(n_users=5, length=6),
                         pd.DataFrame({"user_id": [99], "item_id": [3], "timestamp": [1]})])
    model = SASRec(max_len=4, dim=8, n_epochs=2).fit(ratings)
    unknown = model.recommend(12345, n=3)
    assert (unknown["source"] == "popularity: unknown user").all()
    assert unknown["item_id"].tolist() == Popularity().fit(ratings).recommend(12345, n=3)["item_id"].tolist()
    one = model.recommend(99, n=3)  # one item: a state to continue from, so the model scores
    assert (one["source"] == "model").all() and 3 not in one["item_id"].tolist()
    seen = set(ratings.loc[ratings.user_id == 1, "item_id"])
    assert not seen & set(model.recommend(1, n=3)["item_id"])


def test_attention_rows_sum_to_one_and_look_back_only():
    model = SASRec(max_len=5, dim=8, n_epochs=1, n_heads=2).fit(_cycles(n_users=3, length=8))
    maps = model.attention(1)
    assert len(maps) == 2 and maps[0].shape == (5, 5)
    for W in maps:
        assert np.allclose(W.sum(1), 1, atol=1e-6) and np.allclose(np.triu(W, 1), 0)
    with pytest.raises(ValueError, match="user_id=777 is not a training user"):
        model.attention(777)


@pytest.mark.parametrize("params, message", [
    ({"max_len": 0}, "max_len must be an integer >= 1, got 0"),
    ({"dim": 6, "n_heads": 4}, "dim=6 must be a multiple of n_heads=4"),
    ({"loss": "hinge"}, "loss must be one of"),
    ({"gbce_t": 1.5}, "gbce_t must be between 0 and 1, got 1.5"),
    ({"dropout": 1.0}, "dropout must be < 1, got 1.0"),
    ({"loss": "gbce", "n_negatives": 20}, "n_negatives=20 must be below the number of items"),
    ({"device": "tpu"}, "device must be one of"),
    ({"lr": 0}, "lr must be a finite number > 0"),
])
def test_bad_settings_are_refused_by_name(params, message):
    with pytest.raises(ValueError, match=message):
        SASRec(n_epochs=1, **params).fit(_cycles(n_users=2, length=4))


def test_no_timestamp_is_refused_with_the_columns_there():
    with pytest.raises(ValueError, match=r"no timestamp column \(it has \['user_id', 'item_id'\]\)"):
        SASRec().fit(_cycles()[["user_id", "item_id"]])


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_cuda_without_a_gpu_is_refused_before_training():
    with pytest.raises(ValueError, match="PyTorch sees no GPU"):
        SASRec(device="cuda").fit(_cycles())
    assert SASRec(n_epochs=1, device="auto").fit(_cycles(n_users=2, length=4)).device_.type == "cpu"


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_it_learns_the_same_cycle():
    model = SASRec(max_len=8, dim=16, n_epochs=40, lr=0.02, dropout=0.0, batch_size=16, device="cuda").fit(_cycles())
    last = _cycles().sort_values("timestamp").groupby("user_id")["item_id"].last()
    got = model.recommend_batch(n=1, exclude_seen=False).set_index("user_id")["item_id"]
    assert (got == last % CYCLE + 1).all()
