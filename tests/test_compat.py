"""The patches for libraries newer than AllenNLP's pins (mft_plugin.compat)."""
import pytest
import transformers
from allennlp.common import cached_transformers
from allennlp.data.tokenizers import PretrainedTransformerTokenizer

from mft_plugin import compat
from tests.conftest import TINY_BERT

NEEDS_TOKENIZER_PATCH = compat.transformers_version() >= (4, 44)


@pytest.mark.parametrize(
    "text, parsed",
    [
        ("4.49.0", (4, 49, 0)),
        ("4.20.1", (4, 20, 1)),
        ("2.15.0+cu132", (2, 15, 0)),
        ("4.50.0.dev0", (4, 50, 0)),
        ("1.12.1rc2", (1, 12, 1)),
    ],
)
def test_version_tuple_reads_release_numbers(text, parsed):
    assert compat.version_tuple(text) == parsed


def test_tokenizer_patch_is_applied_exactly_where_transformers_needs_it():
    compat.apply()
    patched = getattr(cached_transformers.get_tokenizer, "_mft_drops_add_special_tokens", False)
    assert patched == NEEDS_TOKENIZER_PATCH


@pytest.mark.skipif(not NEEDS_TOKENIZER_PATCH, reason="transformers < 4.44 takes the keyword")
def test_transformers_refuses_the_keyword_allennlp_passes_without_the_patch():
    with pytest.raises(AttributeError, match="add_special_tokens conflicts with the method"):
        transformers.AutoTokenizer.from_pretrained(TINY_BERT, add_special_tokens=False)


def test_allennlp_tokenizer_builds_and_adds_special_tokens_itself():
    compat.apply()
    tokenizer = PretrainedTransformerTokenizer(TINY_BERT, add_special_tokens=False)
    pair = tokenizer.add_special_tokens(
        tokenizer.tokenize("a dog"), tokenizer.tokenize("an animal")
    )
    texts = [token.text for token in pair]
    assert texts[0] == "[CLS]" and texts.count("[SEP]") == 2
    assert [token.type_id for token in pair] == [0] * texts.index("[SEP]") + [0] + [1] * (
        len(texts) - texts.index("[SEP]") - 1
    )
