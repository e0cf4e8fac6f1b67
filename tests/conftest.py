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
