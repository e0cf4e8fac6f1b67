import pytest
import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

# what moves a tensor from one device to another, the only operations allowed to see two
_MOVES = (torch.ops.aten.copy_.default, torch.ops.aten._to_copy.default)


class _OneDevicePerOperation(TorchDispatchMode):
    """Refuse any operation whose tensors are on two devices (a 0-dim CPU tensor counts as a number, as on a GPU)."""

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if func not in _MOVES:
            devices = {t.device for t in tree_leaves((args, kwargs))
                       if isinstance(t, torch.Tensor) and not (t.device.type == "cpu" and t.dim() == 0)}
            if len(devices) > 1:
                raise RuntimeError(f"{func} mixes tensors on {sorted(map(str, devices))}: move them first")
        return func(*args, **kwargs)


@pytest.fixture()
def meta_device(monkeypatch):
    """Make the given modules train and score on PyTorch's ``meta`` device, to test a GPU's code path without one.

    ``meta_device(module, ...)`` patches each module's ``resolve_device`` to
    answer ``meta`` and returns that device. A meta tensor has a shape and no
    data; for the rest of the test, every operation on tensors of two devices
    raises (stricter than a GPU, which takes CPU row numbers for indexing),
    so a model that fits and scores here moves every tensor it computes with
    to its device. Not tested here: the numbers (there are none: ``.cpu()`` of
    a meta tensor gives zeros, ``.item()`` 0.5) and the fused Adam, which has
    no meta kernel (the per-parameter Adam stands in for it).
    """
    def on_meta(*modules):
        for module in modules:
            monkeypatch.setattr(module, "resolve_device", lambda device: torch.device("meta"))
        return torch.device("meta")

    adam = torch.optim.Adam
    monkeypatch.setattr(torch.optim, "Adam", lambda *a, fused=None, **k: adam(*a, foreach=False, **k))
    cpu, item = torch.Tensor.cpu, torch.Tensor.item
    monkeypatch.setattr(torch.Tensor, "cpu", lambda t, *a, **k: torch.zeros(t.shape, dtype=t.dtype) if t.is_meta
                        else cpu(t, *a, **k))
    monkeypatch.setattr(torch.Tensor, "item", lambda t: 0.5 if t.is_meta else item(t))
    with _OneDevicePerOperation():
        yield on_meta
