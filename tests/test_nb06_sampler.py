"""train() takes a negative sampler of the caller's: notebook 06 trains with a popularity-aware one."""

import numpy as np
import pytest
import torch

from recsys_course.models.ncf import GMF, NegativeSampler, train


@pytest.fixture()
def interactions():
    rng = np.random.default_rng(0)
    codes = rng.choice(30 * 40, 300, replace=False)
    return codes // 40, codes % 40  # 30 users, 40 items


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
