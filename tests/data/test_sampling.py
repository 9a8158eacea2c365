"""Few-shot sampling: stratified by class per domain, deterministic, nested, shard-stable."""
import collections

import pytest

from mft_plugin.data import MultiDomainNliReader, TermPairReader
from mft_plugin.data.common import RawRecord, _class_quotas, stratified_sample
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
    # domain a: shares 7 * 0.6 = 4.2 and 7 * 0.4 = 2.8 -> 4 and 3; b: 3.5 each -> 4 + 3
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


# The class sizes at which splitting each count by largest remainder is not nested.
UNEVEN_SIZES = {"x": 100, "y": 189, "z": 157}


def test_count_quotas_never_fall_as_the_count_rises():
    total = sum(UNEVEN_SIZES.values())
    previous = {label: 0 for label in UNEVEN_SIZES}
    for count in range(1, total + 1):
        quotas = _class_quotas(UNEVEN_SIZES, None, count)
        assert sum(quotas.values()) == count
        for label, size in UNEVEN_SIZES.items():
            assert previous[label] <= quotas[label] <= size, (count, label)
            # stratified: within one instance of the class's proportional share
            assert abs(quotas[label] - count * size / total) < 1, (count, label)
        previous = quotas


def test_sample_at_count_n_is_inside_the_sample_at_count_n_plus_1():
    records = [
        RawRecord(f"{label}{index}", "d", label, ("t",))
        for label, size in UNEVEN_SIZES.items()
        for index in range(size)
    ]
    previous = set()
    for count in range(1, len(records) + 1):
        sample = set(stratified_sample(records, fraction=None, count=count, seed=4))
        assert len(sample) == count and previous <= sample, count
        previous = sample


def test_count_allocation_hands_out_one_instance_at_a_time_to_the_neediest_class():
    # Sizes 3/2/1 (shares 1/2, 1/3, 1/6). The k-th instance goes to the class furthest below
    # k * share: k=1 x (.5 .33 .17); k=2 y (0 .67 .33); k=3 x (.5 0 .5, tie: label order);
    # k=4 z (0 .33 .67); k=5 y (.5 .67 -.17); k=6 x.
    sizes = {"x": 3, "y": 2, "z": 1}
    assert [tuple(_class_quotas(sizes, None, count).values()) for count in range(1, 7)] == [
        (1, 0, 0),
        (1, 1, 0),
        (2, 1, 0),
        (2, 1, 1),
        (2, 2, 1),
        (3, 2, 1),
    ]
    # The uneven sizes: shares at 15 are 3.36 / 6.36 / 5.28 and at 16 3.59 / 6.78 / 5.63.
    # Largest remainder gives 4/6/5 then 3/7/6; one at a time, the 16th instance goes to y.
    assert _class_quotas(UNEVEN_SIZES, None, 15) == {"x": 4, "y": 6, "z": 5}
    assert _class_quotas(UNEVEN_SIZES, None, 16) == {"x": 4, "y": 7, "z": 5}
