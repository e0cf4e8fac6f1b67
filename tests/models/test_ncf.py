"""GMF / MLP / NeuMF building blocks: shapes, the sampler, the MF special case, seeds, exclusion, devices."""

import pickle
import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from torch import nn

from recsys_course.models.ncf import GMF, MLP, NCF, NCFRecommender, NegativeSampler, NeuMF, train
from recsys_course.models.seeding import seeded


@pytest.fixture()
def interactions():
    rng = np.random.default_rng(0)
    codes = rng.choice(30 * 40, 300, replace=False)
    return codes // 40, codes % 40  # 30 users, 40 items


@pytest.mark.parametrize("cls", [GMF, MLP, NeuMF])
def test_output_is_one_logit_per_pair(cls):
    model = cls(n_users=7, n_items=11, dim=4) if cls is GMF else cls(7, 11, dim=4, layers=(8, 4))
    out = model(torch.tensor([0, 3, 6]), torch.tensor([1, 10, 5]))
    assert out.shape == (3,)


def test_gmf_with_an_all_ones_output_is_the_dot_product():
    gmf = GMF(5, 6, dim=3)
    with torch.no_grad():
        gmf.out.weight.fill_(1.0)
        gmf.out.bias.zero_()
    users, items = torch.tensor([0, 4, 2]), torch.tensor([5, 0, 3])
    expected = (gmf.user.weight[users] * gmf.item.weight[items]).sum(dim=1)
    torch.testing.assert_close(gmf(users, items), expected)


def test_the_sampler_never_returns_a_positive(interactions):
    users, items = interactions
    sampler = NegativeSampler(users, items, n_items=40, random_state=1)
    draws_for = np.repeat(np.arange(30), 200)
    negatives = sampler.sample(draws_for)
    positives = set(zip(users.tolist(), items.tolist()))
    assert not any((u, i) in positives for u, i in zip(draws_for.tolist(), negatives.tolist()))
    assert len(set(negatives.tolist())) > 30  # and it does spread over the catalogue


def test_a_user_with_every_item_cannot_get_negatives():
    with pytest.raises(ValueError, match="user 0 interacted with all 3 items"):
        NegativeSampler(np.zeros(3, dtype=int), np.arange(3), n_items=3)


def test_a_repeated_pair_is_one_positive_to_the_sampler():
    # two rows of (0, 1) are one item: user 0 still has item 2 to draw as a negative
    sampler = NegativeSampler(np.zeros(3, dtype=int), np.array([0, 1, 1]), n_items=3)
    assert set(sampler.sample(np.zeros(20, dtype=int))) == {2}


# Build and train a NeuMF (dropout on, so every random source is used) after disturbing torch's
# global generator in a way that differs per process; print a digest of the trained weights.
_TRAIN_IN_A_FRESH_PROCESS = """
import hashlib, sys
import numpy as np, torch
from recsys_course.models.ncf import NeuMF, train
noise, model_seed = int(sys.argv[1]), int(sys.argv[2])
torch.manual_seed(noise); torch.rand(noise)
codes = np.random.default_rng(0).choice(30 * 40, 300, replace=False)
model = NeuMF(30, 40, dim=4, layers=(8, 4), dropout=0.3, random_state=model_seed)
history = train(model, codes // 40, codes % 40, 40, epochs=2, random_state=5)
digest = hashlib.sha256(b"".join(t.numpy().tobytes() for t in model.state_dict().values()))
print(digest.hexdigest(), history.loss)
"""


def _train_in_a_fresh_process(noise, model_seed):
    done = subprocess.run([sys.executable, "-c", _TRAIN_IN_A_FRESH_PROCESS, str(noise), str(model_seed)],
                          capture_output=True, text=True, check=True)
    return done.stdout


def test_a_seeded_run_is_identical_in_two_processes_initial_weights_included():
    first, second = _train_in_a_fresh_process(1, model_seed=7), _train_in_a_fresh_process(2, model_seed=7)
    assert first == second
    assert _train_in_a_fresh_process(1, model_seed=8) != first  # the model's seed does reach the weights


@pytest.mark.parametrize("cls", [GMF, MLP, NeuMF])
def test_the_initial_weights_come_from_random_state_alone(cls):
    weights = []
    for noise in (1, 2):
        torch.manual_seed(noise)
        weights.append(cls(7, 11, dim=4, random_state=3).state_dict())
    for a, b in zip(weights[0].values(), weights[1].values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)


def test_building_and_training_leave_the_global_generator_alone(interactions):
    users, items = interactions
    before = torch.get_rng_state()
    train(NeuMF(30, 40, dim=4, layers=(8, 4), dropout=0.3, random_state=1), users, items, 40, epochs=1)
    assert torch.equal(before, torch.get_rng_state())


def test_training_lowers_the_loss_and_early_stopping_keeps_the_best(interactions):
    users, items = interactions
    model = GMF(30, 40, dim=8)
    scores = iter([0.1, 0.3, 0.2, 0.25, 0.1, 0.0])
    history = train(model, users, items, 40, epochs=6, lr=0.01, validate=lambda m: next(scores), patience=2)
    assert history.loss[-1] < history.loss[0]
    assert history.best_epoch == 2 and len(history.loss) == 4  # stopped 2 epochs after the best


def test_neumf_from_pretrained_starts_as_the_weighted_towers():
    gmf, mlp = GMF(5, 6, dim=3), MLP(5, 6, dim=3, layers=(4, 2))
    fused = NeuMF.from_pretrained(gmf, mlp, alpha=0.5)
    users, items = torch.tensor([1, 2]), torch.tensor([3, 4])
    expected = 0.5 * gmf(users, items) + 0.5 * mlp(users, items)
    torch.testing.assert_close(fused(users, items), expected)


def test_the_wrapper_scores_in_batches_and_excludes_seen_items(interactions):
    users, items = interactions
    model = GMF(30, 40, dim=4)
    frame = pd.DataFrame({"user_id": users + 100, "item_id": items + 1000})
    rec = NCFRecommender(model, np.arange(30) + 100, np.arange(40) + 1000, batch_size=7).fit(frame)
    scores = rec.score([100, 101, 129]).to_numpy()
    direct = model(torch.tensor([0] * 40), torch.arange(40)).detach().numpy()
    np.testing.assert_allclose(scores[0], direct, rtol=1e-5, atol=1e-7)  # GMF by one matrix product
    top = rec.recommend(100, n=40)
    assert len(top) == 40 - (users == 0).sum() and not set(top.item_id) & set(frame[frame.user_id == 100].item_id)
    assert (rec.recommend(5)["source"] == "popularity: unknown user").all()
    with pytest.raises(ValueError, match="the network has no row for, e.g. 5000"):
        NCFRecommender(model, np.arange(30) + 100, np.arange(40) + 1000).fit(
            pd.DataFrame({"user_id": [100], "item_id": [5000]}))


@pytest.mark.parametrize("cls", [MLP, NeuMF])
def test_the_wrapper_runs_the_network_on_every_pair(interactions, cls):
    users, items = interactions
    model = cls(30, 40, dim=4, layers=(8, 4))
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    rec = NCFRecommender(model, np.arange(30), np.arange(40), batch_size=7).fit(frame)
    with torch.no_grad():
        direct = model(torch.arange(30).repeat_interleave(40), torch.arange(40).repeat(30)).reshape(30, 40)
    np.testing.assert_allclose(rec.score(range(30)).to_numpy(), direct.numpy(), rtol=1e-6)


def test_the_estimator_trains_the_free_function_way(interactions):
    users, items = interactions
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    estimator = NCF("neumf", n_factors=4, layers=(8, 4), n_epochs=2, batch_size=64, random_state=3).fit(frame)
    by_hand = NeuMF(30, 40, dim=4, layers=(8, 4), random_state=3)
    history = train(by_hand, users, items, 40, epochs=2, batch_size=64, lr=2e-3, random_state=3)
    assert estimator.history_.loss == history.loss
    for a, b in zip(estimator.module_.state_dict().values(), by_hand.state_dict().values()):
        torch.testing.assert_close(a, b, rtol=0, atol=0)
    with pytest.raises(ValueError, match="architecture must be one of"):
        NCF("transformer").fit(frame)


# ---- a caller-supplied negative sampler (notebook 06)

class RecordingSampler:
    """Uniform negatives that remember what they were asked for."""

    def __init__(self, users, items, n_items):
        self.inner = NegativeSampler(users, items, n_items, random_state=3)
        self.calls = []

    def sample(self, users):
        self.calls.append(len(users))
        return self.inner.sample(users)


def test_train_draws_its_negatives_from_the_given_sampler(interactions):
    users, items = interactions
    sampler = RecordingSampler(users, items, 40)
    train(GMF(30, 40, dim=4), users, items, 40, epochs=2, n_negatives=3, batch_size=64, sampler=sampler)
    assert sampler.calls == [3 * len(users)] * 2


def test_the_default_sampler_is_the_uniform_one_seeded_with_random_state(interactions):
    users, items = interactions
    a, b = GMF(30, 40, dim=4), GMF(30, 40, dim=4)
    train(a, users, items, 40, epochs=2, batch_size=64, random_state=5)
    train(b, users, items, 40, epochs=2, batch_size=64, random_state=5,
          sampler=NegativeSampler(users, items, 40, random_state=5))
    for p, q in zip(a.parameters(), b.parameters()):
        torch.testing.assert_close(p, q, rtol=0, atol=0)


def test_a_sampler_without_sample_is_refused(interactions):
    users, items = interactions
    with pytest.raises(ValueError, match="sample\\(users\\) method"):
        train(GMF(30, 40, dim=4), users, items, 40, epochs=1, sampler=np.arange(40))


# ---- where it runs: device (a GPU's own test is at the end, skipped without one)

def _loop_before_devices(model, users, items, n_items, epochs, batch_size, random_state, lr=1e-3, n_negatives=4):
    """The training loop as it was before ``device`` (a copy per batch, the loss summed by Python).

    The CPU path of :func:`train` must give its digits: the notebooks record them.
    """
    with seeded(random_state):
        sampler = NegativeSampler(users, items, n_items, random_state)
        shuffle = np.random.default_rng(random_state + 1)
        optimiser = torch.optim.Adam(model.parameters(), lr=lr, fused=True)
        losses = []
        for _ in range(epochs):
            neg_users = np.repeat(users, n_negatives)
            all_users = np.concatenate([users, neg_users])
            all_items = np.concatenate([items, sampler.sample(neg_users)])
            labels = np.concatenate([np.ones(len(users)), np.zeros(len(neg_users))]).astype(np.float32)
            order = shuffle.permutation(len(all_users))
            model.train()
            total = 0.0
            for start in range(0, len(order), batch_size):
                batch = order[start:start + batch_size]
                logits = model(torch.from_numpy(all_users[batch]), torch.from_numpy(all_items[batch]))
                loss = nn.BCEWithLogitsLoss()(logits, torch.from_numpy(labels[batch]))
                optimiser.zero_grad()
                loss.backward()
                optimiser.step()
                total += loss.item() * len(batch)
            losses.append(total / len(order))
    return losses


def _assert_same_weights(a: nn.Module, b: nn.Module):
    for (name, p), q in zip(a.state_dict().items(), b.state_dict().values()):
        assert p.device == q.device, name
        torch.testing.assert_close(p, q, rtol=0, atol=0, msg=name)


@pytest.mark.parametrize("device", [None, "cpu", "auto"])
def test_on_the_cpu_training_gives_the_digits_of_the_loop_before_devices(interactions, device, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # "auto" is the CPU, even on a GPU machine
    users, items = interactions
    model, before = (NeuMF(30, 40, dim=4, layers=(8, 4), dropout=0.3, random_state=1) for _ in range(2))
    history = train(model, users, items, 40, epochs=2, batch_size=64, random_state=5, device=device)  # 1500 / 64:
    assert history.loss == _loop_before_devices(before, users, items, 40, 2, 64, 5)  # a short last batch too
    _assert_same_weights(model, before)


def test_the_estimator_on_the_cpu_is_the_default_digit_for_digit(interactions):
    frame = pd.DataFrame({"user_id": interactions[0], "item_id": interactions[1]})
    params = {"n_factors": 4, "layers": (8, 4), "dropout": 0.2, "n_epochs": 2, "batch_size": 64, "random_state": 3}
    default, cpu = NCF(**params).fit(frame), NCF(**params, device="cpu").fit(frame)
    assert default.device_ == cpu.device_ == torch.device("cpu")
    assert default.history_.loss == cpu.history_.loss
    _assert_same_weights(default.module_, cpu.module_)
    np.testing.assert_array_equal(default.score(range(30)).to_numpy(), cpu.score(range(30)).to_numpy())


def test_auto_is_the_cpu_where_pytorch_sees_no_gpu_and_cuda_is_refused_before_training(interactions, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    frame = pd.DataFrame({"user_id": interactions[0], "item_id": interactions[1]})
    model = NCF("gmf", n_factors=4, n_epochs=1, device="auto").fit(frame)
    assert model.device_ == torch.device("cpu") and model.module_.user.weight.device == torch.device("cpu")
    assert model.device == "auto"  # the hyperparameter is kept as given
    with pytest.raises(ValueError, match=r"device='cuda', but PyTorch sees no GPU here .*use device='cpu'"):
        NCF(device="cuda").fit(frame)
    with pytest.raises(ValueError, match=r"device='cuda:0', but PyTorch sees no GPU here"):
        train(GMF(30, 40, dim=4), *interactions, 40, epochs=1, device="cuda:0")


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a GPU")
def test_here_auto_is_the_cpu(interactions):
    frame = pd.DataFrame({"user_id": interactions[0], "item_id": interactions[1]})
    assert NCF("gmf", n_factors=4, n_epochs=1, device="auto").fit(frame).device_ == torch.device("cpu")


@pytest.mark.parametrize("device", ["gpu", "CUDA", None, 0])
def test_a_bad_device_is_refused_with_the_choices(interactions, device):
    frame = pd.DataFrame({"user_id": interactions[0], "item_id": interactions[1]})
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda', 'auto'\) \(or 'cuda:N'\), got "):
        NCF(device=device).fit(frame)
    with pytest.raises(ValueError, match=r"device must be one of"):
        train(GMF(30, 40, dim=4), *interactions, 40, epochs=1, device=device if device is not None else "gpu")


def test_device_is_a_hyperparameter_like_the_others():
    model = NCF("gmf", device="auto")
    assert model.get_params()["device"] == "auto"
    assert clone(model).device == "auto" and clone(model.set_params(device="cpu")).device == "cpu"


def test_a_fitted_model_pickles_and_scores_the_same(interactions):
    frame = pd.DataFrame({"user_id": interactions[0], "item_id": interactions[1]})
    model = NCF(n_factors=4, layers=(8, 4), n_epochs=1, batch_size=64).fit(frame)
    again = pickle.loads(pickle.dumps(model))
    assert again.device_ == model.device_
    np.testing.assert_array_equal(again.score(range(30)).to_numpy(), model.score(range(30)).to_numpy())
    pd.testing.assert_frame_equal(again.recommend_batch(range(30), n=5), model.recommend_batch(range(30), n=5))


@pytest.mark.parametrize("architecture", ["neumf", "gmf", "mlp"])
def test_every_tensor_of_training_and_scoring_goes_to_the_device(interactions, meta_device, architecture):
    """On the meta device, which refuses to mix with the CPU as a GPU does: nothing is left behind on the CPU."""
    from recsys_course.models import ncf

    device = meta_device(ncf)
    users, items = interactions
    frame = pd.DataFrame({"user_id": users, "item_id": items})
    model = NCF(architecture, n_factors=4, layers=(8, 4), dropout=0.2, n_epochs=2, batch_size=64, device="cuda")
    model.fit(frame, epoch_callback=lambda m, epoch: m.score([0]))
    assert model.device_ == device and all(p.device == device for p in model.module_.parameters())
    assert model.score(range(30)).shape == (30, 40) and len(model.recommend(0, n=3)) == 3
    network = NeuMF(30, 40, dim=4, layers=(8, 4))
    train(network, users, items, 40, epochs=3, batch_size=64, validate=lambda m: 0.0, patience=1, device="meta")
    assert NCFRecommender(network, np.arange(30), np.arange(40)).fit(frame).score([0, 1]).shape == (2, 40)


def _planted(n_groups=4, users_per_group=30, items_per_group=40, per_user=12, seed=0):
    """Users rate items of their own group only; each user's last rating is held out."""
    rng = np.random.default_rng(seed)
    rows = []
    for user in range(n_groups * users_per_group):
        group = user // users_per_group
        picks = rng.choice(items_per_group, per_user, replace=False) + group * items_per_group
        rows += [(user, int(item), t) for t, item in enumerate(picks)]
    frame = pd.DataFrame(rows, columns=["user_id", "item_id", "timestamp"])
    last = frame.groupby("user_id")["timestamp"].transform("max") == frame["timestamp"]
    return frame[~last], frame[last]


def _quality(model, held_out, users_per_group=30, items_per_group=40):
    """The share of the top-10 lists in the user's own group, and the held-out hit rate@10."""
    lists = model.recommend_batch(held_out.user_id, n=10)
    own = float(((lists.user_id // users_per_group) == (lists.item_id // items_per_group)).mean())
    return own, len(lists.merge(held_out, on=["user_id", "item_id"])) / len(held_out)


def _agrees_with_the_cpu(device):
    """Fit on ``device`` and on the CPU: the same start, close losses and the same quality of lists.

    Without dropout, so that both runs see the same examples in the same order
    (a GPU draws its dropout masks from its own generator). Measured on the
    CPU over seeds 0-4: the own-group share of the lists is 0.996-1.0 (a
    group-blind list: 0.25), the held-out hit rate 0.30-0.41 (10 of the 29
    unseen items of the group: 0.34; group-blind: 0.07).
    """
    train_part, held_out = _planted()
    params = {"n_factors": 16, "layers": (32, 16), "batch_size": 256, "lr": 0.01, "random_state": 0}
    start = NCF(n_epochs=0, device=device, **params).fit(train_part)
    _assert_same_weights(start.module_.cpu(), NCF(n_epochs=0, **params).fit(train_part).module_)
    on_device = NCF(n_epochs=8, device=device, **params).fit(train_part)
    on_cpu = NCF(n_epochs=8, **params).fit(train_part)
    assert on_device.device_ == torch.device(device) and on_device.module_.out.weight.device == torch.device(device)
    np.testing.assert_allclose(on_device.history_.loss[0], on_cpu.history_.loss[0], rtol=1e-3)
    np.testing.assert_allclose(on_device.history_.loss, on_cpu.history_.loss, rtol=0.05)
    (own_device, hits_device), (own_cpu, hits_cpu) = _quality(on_device, held_out), _quality(on_cpu, held_out)
    assert min(own_device, own_cpu) >= 0.95 and abs(own_device - own_cpu) <= 0.05, (own_device, own_cpu)
    assert min(hits_device, hits_cpu) >= 0.2, (hits_device, hits_cpu)
    again = pickle.loads(pickle.dumps(on_device))  # on the machine it was fitted on
    np.testing.assert_array_equal(again.score([0, 1]).to_numpy(), on_device.score([0, 1]).to_numpy())
    towers = GMF(120, 160, 4).to(device), MLP(120, 160, 4).to(device)
    assert NeuMF.from_pretrained(*towers).out.weight.device == torch.device(device)
    state = torch.cuda.get_rng_state(device) if torch.device(device).type == "cuda" else None
    NCF(n_epochs=1, dropout=0.3, device=device, **params).fit(train_part)  # dropout draws from the GPU's generator
    if state is not None:
        assert torch.equal(torch.cuda.get_rng_state(device), state)  # which is left as it was
    return (own_device, hits_device), (own_cpu, hits_cpu)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_on_a_gpu_it_starts_from_the_cpus_weights_and_learns_as_well():
    _agrees_with_the_cpu("cuda")
