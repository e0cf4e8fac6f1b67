"""GMF / MLP / NeuMF building blocks: shapes, the sampler, the MF special case, seeds, exclusion."""

import subprocess
import sys

import numpy as np
import pandas as pd
import pytest
import torch

from recsys_course.models.ncf import GMF, MLP, NCF, NCFRecommender, NegativeSampler, NeuMF, train


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
