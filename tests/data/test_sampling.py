"""Few-shot sampling: stratified by class per domain, deterministic, nested, shard-stable."""
import collections

import pytest

from mft_plugin.data import MultiDomainNliReader, TermPairReader
from mft_plugin.data.common import RawRecord, stratified_sample
from tests.conftest import FIXTURE_DATA, TINY_BERT


def _records():
    """Domain a: 60 of class x, 40 of class y; domain b: 10 x, 10 y."""
    records = []
    for domain, sizes in (("a", {"x": 60, "y": 40}), ("b", {"x": 10, "y": 10})):
        for label, size in sizes.items():
            for index in range(size):
                records.append(RawRecord(f"{domain}{label}{index}", domain, label, ("t",)))
    return records


def _counts(records):
    return collections.Counter((r.domain, r.label) for r in records)


def test_fraction_keeps_that_share_of_every_class_in_every_domain():
    sample = stratified_sample(_records(), fraction=0.25, count=None, seed=1)
    assert _counts(sample) == {("a", "x"): 15, ("a", "y"): 10, ("b", "x"): 2, ("b", "y"): 2}


def test_tiny_fraction_keeps_one_of_each_class():
    sample = stratified_sample(_records(), fraction=0.001, count=None, seed=1)
    assert _counts(sample) == {("a", "x"): 1, ("a", "y"): 1, ("b", "x"): 1, ("b", "y"): 1}


def test_count_per_domain_is_split_in_proportion_to_the_classes():
    sample = stratified_sample(_records(), fraction=None, count=7, seed=1)
    # domain a: 7 * 0.6 = 4.2 and 7 * 0.4 = 2.8 -> 4 and 3 (largest remainder); b: 3.5 each -> 4 + 3
    counts = _counts(sample)
    assert counts[("a", "x")] == 4 and counts[("a", "y")] == 3
    assert counts[("b", "x")] + counts[("b", "y")] == 7
    # a count larger than the domain keeps the whole domain
    assert len(stratified_sample(_records(), fraction=None, count=1000, seed=1)) == 120


def test_sample_is_deterministic_and_seed_dependent():
    first = stratified_sample(_records(), fraction=0.3, count=None, seed=7)
    again = stratified_sample(_records(), fraction=0.3, count=None, seed=7)
    other = stratified_sample(_records(), fraction=0.3, count=None, seed=8)
    assert first == again
    assert first != other


def test_smaller_sample_is_contained_in_larger_and_keeps_file_order():
    records = _records()
    small = stratified_sample(records, fraction=0.1, count=None, seed=3)
    large = stratified_sample(records, fraction=0.5, count=None, seed=3)
    assert set(small) <= set(large)
    positions = [records.index(r) for r in large]
    assert positions == sorted(positions)


def test_reader_sampling_is_the_same_in_every_shard():
    """Two workers sample identically, then split the sample between them without overlap."""
    from allennlp.data.dataset_readers.dataset_reader import WorkerInfo

    path = FIXTURE_DATA / "taxonomy" / "train"
    ids = []
    for rank in range(2):
        reader = TermPairReader(TINY_BERT, sample_count=4, sample_seed=5)
        reader._set_worker_info(WorkerInfo(num_workers=2, id=rank))
        ids.append([i["metadata"]["instance_id"] for i in reader.read(path)])
    whole = [
        i["metadata"]["instance_id"]
        for i in TermPairReader(TINY_BERT, sample_count=4, sample_seed=5).read(path)
    ]
    assert len(whole) == 8
    assert not set(ids[0]) & set(ids[1])
    assert sorted(ids[0] + ids[1]) == sorted(whole)


def test_reader_rejects_contradictory_sampling_options():
    with pytest.raises(ValueError, match="either sample_fraction or sample_count"):
        MultiDomainNliReader(TINY_BERT, sample_fraction=0.1, sample_count=5)
    with pytest.raises(ValueError, match="sample_fraction must be in"):
        MultiDomainNliReader(TINY_BERT, sample_fraction=1.5)
