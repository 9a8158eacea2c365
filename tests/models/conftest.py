import pytest

from tests.models.helpers import term_pair_instances, vocabulary


@pytest.fixture(scope="module")
def instances():
    """The fixture's term pairs of every domain, as the taxonomy reader gives them."""
    return term_pair_instances()


@pytest.fixture(scope="module")
def vocab(instances):
    return vocabulary(instances)
