"""The plugin's collator gives exactly the tensors of AllenNLP's default one."""
import pytest
import torch
from allennlp.data import Instance, Vocabulary
from allennlp.data.data_loaders.data_collator import DataCollator, allennlp_collate
from allennlp.data.fields import ArrayField, LabelField

from mft_plugin.data import (
    MultiDomainNliReader,
    MultiDomainReviewReader,
    TermPairReader,
    transformer_collate,
)
from tests.conftest import FIXTURE_DATA, TINY_BERT

READS = [
    (MultiDomainNliReader, FIXTURE_DATA / "mnli" / "train.jsonl"),
    (MultiDomainReviewReader, FIXTURE_DATA / "amazon" / "train"),
    (TermPairReader, FIXTURE_DATA / "taxonomy" / "train"),
]


def _indexed(reader_class, path):
    instances = list(reader_class(TINY_BERT).read(path))
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
    return instances


def _assert_same(fast, slow):
    assert list(fast) == list(slow)
    for key, expected in slow.items():
        actual = fast[key]
        if isinstance(expected, dict):
            _assert_same(actual, expected)
        elif isinstance(expected, torch.Tensor):
            assert actual.dtype == expected.dtype and actual.shape == expected.shape, key
            assert torch.equal(actual, expected), key
        else:
            assert actual == expected, key


@pytest.mark.parametrize(
    "reader_class, path", READS, ids=lambda value: getattr(value, "__name__", "")
)
def test_same_tensors_as_allennlp(reader_class, path):
    instances = _indexed(reader_class, path)
    # Batches of different lengths, so that padding happens.
    instances.sort(key=lambda instance: len(instance["tokens"]))
    batch = instances[::3][:8]
    lengths = {len(instance["tokens"]) for instance in batch}
    assert len(lengths) > 1, "the batch must need padding"
    fast, slow = transformer_collate(batch), allennlp_collate(batch)
    assert "domain" in slow and "metadata" in slow
    _assert_same(fast, slow)
    tokens = fast["tokens"]["tokens"]
    # Padding: the mask is False, the ids are the tokenizer's [PAD] (0 in the tiny BERT).
    shortest = tokens["mask"].sum(dim=1).argmin()
    assert not tokens["mask"][shortest, -1]
    assert tokens["token_ids"][shortest, -1] == 0


def test_registered_and_falls_back_for_other_fields():
    collator = DataCollator.by_name("mft_transformer")()
    instances = [
        Instance(
            {"array": ArrayField(torch.ones(2).numpy()), "label": LabelField(1, skip_indexing=True)}
        )
        for _ in range(2)
    ]
    _assert_same(collator(instances), allennlp_collate(instances))


def test_instances_of_different_fields_get_allennlp_error():
    vocab = Vocabulary()
    first = Instance({"label": LabelField(0, skip_indexing=True)})
    second = Instance({"other": LabelField(0, skip_indexing=True)})
    for instance in (first, second):
        instance.index_fields(vocab)
    with pytest.raises(Exception) as fast_error:
        transformer_collate([first, second])
    with pytest.raises(Exception) as slow_error:
        allennlp_collate([first, second])
    assert str(fast_error.value) == str(slow_error.value)
