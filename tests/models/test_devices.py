"""resolve_device: what each name resolves to, with and without a GPU, and the refusals that say what to do.

Whether PyTorch sees a GPU is faked (``torch.cuda.is_available``,
``torch.cuda.device_count``), so every branch runs on every machine:
``resolve_device`` only names a device, it never touches one.
"""

import pytest
import torch

from recsys_course.models.devices import resolve_device
from recsys_course.models.seeding import seeded


@pytest.fixture()
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture()
def two_gpus(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "device_count", lambda: 2)


@pytest.mark.parametrize("name", ["cpu", torch.device("cpu")])
def test_the_cpu_is_the_cpu_with_or_without_a_gpu(name, no_gpu):
    assert resolve_device(name) == torch.device("cpu")


def test_auto_is_the_cpu_without_a_gpu(no_gpu):
    assert resolve_device("auto") == torch.device("cpu")


def test_auto_is_the_first_gpu_with_one(two_gpus):
    assert resolve_device("auto") == torch.device("cuda")


@pytest.mark.parametrize(("name", "expected"), [("cuda", "cuda"), ("cuda:1", "cuda:1"),
                                                (torch.device("cuda", 1), "cuda:1"), (torch.device("cuda"), "cuda")])
def test_a_gpu_is_named_with_its_index(name, expected, two_gpus):
    assert resolve_device(name) == torch.device(expected)


@pytest.mark.parametrize("name", ["cuda", "cuda:0", torch.device("cuda")])
def test_a_gpu_is_refused_where_pytorch_sees_none(name, no_gpu):
    with pytest.raises(ValueError, match=r"but PyTorch sees no GPU here \(torch .*\): use device='cpu', or 'auto'"):
        resolve_device(name)


def test_a_gpu_beyond_the_last_is_refused(two_gpus):
    with pytest.raises(ValueError, match=r"device='cuda:2', but PyTorch sees 2 GPU\(s\): choose cuda:0 .. cuda:1"):
        resolve_device("cuda:2")


@pytest.mark.parametrize("name", ["gpu", "CPU", "Cuda", "cuda:x", "cuda:", "cuda:-1", "mps", "", None, 0,
                                  torch.device("meta")])
def test_other_names_are_refused_with_the_choices(name, two_gpus):
    with pytest.raises(ValueError, match=r"device must be one of \('cpu', 'cuda', 'auto'\) \(or 'cuda:N'\), got "):
        resolve_device(name)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a GPU")
def test_seeded_seeds_the_gpus_generator_and_restores_it():
    gpu = torch.device("cuda")
    before = torch.cuda.get_rng_state(gpu)
    with seeded(3, gpu):
        a = torch.rand(4, device=gpu)
    with seeded(3, gpu):
        b = torch.rand(4, device=gpu)
    assert torch.equal(a, b)
    assert torch.equal(torch.cuda.get_rng_state(gpu), before)
