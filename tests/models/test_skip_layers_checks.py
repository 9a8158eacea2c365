"""`skip_layers` of MFT: an empty list or a repeated layer is an error, not the default."""
import re

import pytest
from allennlp.common.checks import ConfigurationError

from tests.models.helpers import term_pair_instances, tiny_mft, vocabulary


@pytest.mark.parametrize("skip_layers", [[], [1, 1]], ids=["empty", "duplicate"])
def test_empty_or_repeated_skip_layers_are_refused(skip_layers):
    vocab = vocabulary(term_pair_instances())
    with pytest.raises(
        ConfigurationError,
        match=r"model.skip_layers must list distinct layers.*got " + re.escape(str(skip_layers)),
    ):
        tiny_mft(vocab, skip_layers=skip_layers)


def test_null_skip_layers_still_means_thirds_of_the_depth():
    vocab = vocabulary(term_pair_instances())
    model = tiny_mft(vocab, skip_layers=None)
    assert model.skip_layers == tiny_mft(vocab).skip_layers
    assert tiny_mft(vocab, skip_layers=[1]).skip_layers == [1]
