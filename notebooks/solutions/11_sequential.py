"""Reference solutions to the exercises of notebook 11 (sequential recommendation).

Try the exercises first! ``tests/test_exercises.py`` runs each function below
through its check in ``recsys_course.exercises``.
"""

import math

import torch


# Exercise 11.1 (find the bug): the function exactly as the notebook shows it, then the fix.
def causal_attention(q, k, v):
    # q, k, v: (batch, positions, dim); each position may look at itself and the positions before it
    logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).tril(-1)
    return torch.softmax(logits.masked_fill(future, float("-inf")), dim=-1) @ v


def causal_attention_fixed(q, k, v):
    """The future is *above* the diagonal (key s > query t): ``triu(1)``. ``tril(-1)`` hid the past instead,
    so every position read only itself and the future, and a model trained with it would copy the next item."""
    logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
    future = torch.ones(q.shape[1], q.shape[1], dtype=torch.bool).triu(1)
    return torch.softmax(logits.masked_fill(future, float("-inf")), dim=-1) @ v


def gbce_loss(s_pos, s_neg, n_items, t):
    """Exercise 11.2: -beta log sigmoid(s+) - sum_j log(1 - sigmoid(s-_j)), beta from the sampling rate and t."""
    alpha = len(s_neg) / (n_items - 1)
    beta = alpha * (t * (1 - 1 / alpha) + 1 / alpha)
    softplus = lambda s: math.log1p(math.exp(-abs(s))) + max(s, 0.0)  # log(1 + e^s), stable
    return beta * softplus(-s_pos) + sum(softplus(s) for s in s_neg)


SOLUTIONS = {"11.1": causal_attention_fixed, "11.2": gbce_loss}
PLANTED_BUGS = {"11.1": causal_attention}
