"""Where the course's PyTorch models run: ``device="cpu"`` (the default), ``"cuda"`` or ``"auto"``.

Shared by :class:`~recsys_course.models.ncf.NCF`,
:class:`~recsys_course.models.two_tower.TwoTower` and
:class:`~recsys_course.models.sequential.SASRec`. On the CPU every model is
deterministic for its ``random_state``, digit for digit under the pinned
set-up. On a GPU the initial weights are the same (they are drawn on the CPU
and then moved), but the sums inside the kernels run in another order, so the
trained weights and scores differ in their last digits and the metrics agree
with the CPU run within their confidence intervals, not bit for bit.
"""

from __future__ import annotations

import torch

__all__ = ["DEVICES", "resolve_device"]

DEVICES = ("cpu", "cuda", "auto")


def resolve_device(device) -> torch.device:
    """The :class:`torch.device` that ``device`` names: ``"cpu"``, ``"cuda"`` (or ``"cuda:N"``), or ``"auto"``.

    ``"auto"`` is the first GPU when PyTorch sees one, else the CPU. Asking
    for ``"cuda"`` on a machine where PyTorch sees no GPU (a CPU-only build,
    or no driver) is refused with a ValueError that says so, rather than a
    failure deep inside the first batch.

    >>> resolve_device("cpu")
    device(type='cpu')
    """
    name = device
    if isinstance(device, torch.device):  # keep a GPU's index (torch.device('cuda:1') is 'cuda:1', not 'cuda')
        name = str(device) if device.type == "cuda" else device.type
    if not isinstance(name, str) or not (name in DEVICES or (name.startswith("cuda:") and name[5:].isdigit())):
        raise ValueError(f"device must be one of {DEVICES} (or 'cuda:N'), got {device!r}")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise ValueError(f"device={device!r}, but PyTorch sees no GPU here (torch {torch.__version__}, "
                             f"built for CUDA {torch.version.cuda}): use device='cpu', or 'auto' to take "
                             "a GPU only when there is one")
        index = torch.device(name).index
        if index is not None and index >= torch.cuda.device_count():
            raise ValueError(f"device={device!r}, but PyTorch sees {torch.cuda.device_count()} GPU(s): "
                             f"choose cuda:0 .. cuda:{torch.cuda.device_count() - 1}")
    return torch.device(name)
