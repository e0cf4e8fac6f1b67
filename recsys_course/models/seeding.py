"""Seeding PyTorch without touching the caller's random state, shared by the course's torch models."""

from __future__ import annotations

import contextlib

import torch

from ..checks import check_int

__all__ = ["seeded"]


@contextlib.contextmanager
def seeded(random_state: int | None, device: torch.device | None = None):
    """Run the block on torch's CPU generator seeded with ``random_state``, then restore its state.

    With a CUDA ``device``, that GPU's generator (dropout on the GPU draws from
    it) is seeded and restored too. ``None`` draws from the global generators
    as they stand (not reproducible).
    """
    if random_state is None:
        yield
        return
    gpus = [device] if device is not None and torch.device(device).type == "cuda" else []
    with torch.random.fork_rng(devices=gpus):
        torch.manual_seed(check_int("random_state", random_state, 0))
        yield
