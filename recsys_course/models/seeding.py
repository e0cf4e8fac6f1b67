"""Seeding PyTorch without touching the caller's random state, shared by the course's torch models."""

from __future__ import annotations

import contextlib

import torch

from ..checks import check_int

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(random_state: int | None):
    """Run the block on torch's CPU generator seeded with ``random_state``, then restore its state.

    ``None`` draws from the global generator as it stands (not reproducible).
    """
    if random_state is None:
        yield
        return
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(check_int("random_state", random_state, 0))
        yield
