"""Canaries for the set-up that makes the stored notebook outputs the same on every machine.

`make test` runs under pins (Makefile, README "Same numbers on every machine") that make the compiled
libraries take the same code on every x86-64 CPU with AVX2, and builds LightFM without
``-march=native``. The two libraries whose numbers moved from one CPU to another, LightFM and PyTorch,
train a small model here, and a digest of what they learned is compared with the one recorded with the
notebooks' outputs. When a digest differs, so will notebooks 05-07, and the message says which part of
the set-up to look at; these tests say it in seconds, where a notebook diff says it in minutes.

The digests were recorded under the pins on an AMD EPYC (Zen 5, AVX-512) and came out identical on the
same machine emulating an Intel Haswell and an AMD EPYC Rome (``qemu-x86_64 -cpu ...``: another
processor as the libraries see it; the same operating system, compiler and C library). Outside the pinned set-up (a
plain ``pytest``, macOS, ARM) the tests are skipped: there the course promises the same claims, not
the same digits.
"""

import hashlib
import os

import numpy as np
import pytest

pytestmark = pytest.mark.skipif(
    os.environ.get("RECSYS_COURSE_PINNED") != "1",
    reason="outside the pinned set-up of `make test` (README: Same numbers on every machine)",
)


def _digest(arrays) -> str:
    return hashlib.sha256(b"".join(np.ascontiguousarray(a).tobytes() for a in arrays)).hexdigest()


# LightFM on MovieLens-100k: ratings >= 4 as positives, 30 components, 10 epochs, one thread, seed 0.
LIGHTFM_DIGESTS = {
    "warp": "604a99b25602666bca99640731631c5d77b7c4908bc221cfc5332d5e2031b7b9",
    "bpr": "1bbdaa697b4beb0fe5e705505ac2f0acf0312912927f688c50700a49d564662e",
    "logistic": "c2bb8a917822b54a6aa96c885da8b9b8baa680d916be45987f02b93da599d679",
}


@pytest.fixture(scope="module")
def positives():
    from lightfm.data import Dataset

    from recsys_course.data import load_movielens_100k

    ratings = load_movielens_100k()[0]
    liked = ratings[ratings.rating >= 4]
    dataset = Dataset()
    dataset.fit(ratings.user_id.unique(), ratings.item_id.unique())
    return dataset.build_interactions(zip(liked.user_id, liked.item_id))[0]


@pytest.mark.parametrize("loss", sorted(LIGHTFM_DIGESTS))
def test_lightfm_learns_the_recorded_embeddings(positives, loss):
    from lightfm import LightFM

    model = LightFM(no_components=30, loss=loss, random_state=0).fit(positives, epochs=10, num_threads=1)
    got = _digest([model.user_embeddings, model.item_embeddings, model.user_biases, model.item_biases])
    assert got == LIGHTFM_DIGESTS[loss], (
        f"LightFM ({loss}) learned other embeddings than the build the notebooks were recorded with. Most "
        "likely it was compiled with -march=native -ffast-math (its setup.py's default) or taken from pip's "
        "wheel cache: `make clean && make test` rebuilds it portably (LIGHTFM_NO_CFLAGS=1). If that does "
        "not help, your compiler or C maths library computes differently from the recording machine's "
        "(Debian 12, gcc 12, glibc 2.36): please report it."
    )


def test_pytorch_trains_the_recorded_neumf():
    import torch

    from recsys_course.models.ncf import NeuMF, train

    assert torch.backends.cpu.get_cpu_capability() == "AVX2", "ATEN_CPU_CAPABILITY=avx2 is not in effect"
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        codes = np.random.default_rng(0).choice(300 * 400, 6000, replace=False)
        model = NeuMF(300, 400, dim=32, layers=(64, 32, 16), random_state=0)
        train(model, codes // 400, codes % 400, 400, epochs=2, batch_size=256, random_state=0)
    finally:
        torch.set_num_threads(threads)
    got = _digest([t.numpy() for t in model.state_dict().values()])
    assert got == "635caa12d2e29e485524b423d8730c142f70a138d27fa1faea1fa222e81d6157", (
        "PyTorch trained another NeuMF than the one the notebooks were recorded with: check that torch is "
        f"2.13.0+cpu (found {torch.__version__}) and that ATEN_CPU_CAPABILITY=avx2 and MKL_CBWR=COMPATIBLE "
        "are set, as `make test` does."
    )
