import json

import pytest

from recsys_course import testing


@pytest.fixture(scope="session")
def toy():
    """The course's toy data (5 users, 8 movies), loaded once."""
    return testing.load_toy()


@pytest.fixture(scope="session")
def synthetic():
    """Random data with MovieLens-100k's exact counts, for the loader's fetch and cache paths."""
    return testing.synthetic_movielens(random_state=0)


@pytest.fixture(scope="session")
def synthetic_digests(synthetic, tmp_path_factory):
    """SHA-256 of the cache files the synthetic stand-in gives."""
    from recsys_course import data

    cache = tmp_path_factory.mktemp("digests") / data.CACHE_NAME
    data._write_cache(cache, synthetic, source="synthetic", accept_different=True)
    return json.loads((cache / data.MANIFEST).read_text())["sha256"]


@pytest.fixture()
def synthetic_is_canonical(monkeypatch, synthetic_digests):
    """The loader's tests fetch the synthetic stand-in: make it the data set the cache accepts as canonical."""
    from recsys_course import data

    monkeypatch.setattr(data, "CANONICAL_SHA256", synthetic_digests)
