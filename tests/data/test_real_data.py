"""The readers on the real data beside the project: exactly the counts of its README."""
import collections

import pytest

from mft_plugin.data import MultiDomainNliReader, MultiDomainReviewReader, TermPairReader
from tests.conftest import SHARED_DATA, TINY_BERT, requires_shared_data

pytestmark = requires_shared_data


def _per_domain_and_label(reader, path):
    instances = list(reader.read(SHARED_DATA / path))
    ids = [i["metadata"]["instance_id"] for i in instances]
    assert len(ids) == len(set(ids))
    return collections.Counter((i["domain"].label, i["label"].label) for i in instances)


@pytest.mark.parametrize("split, per_class", [("train", 880), ("dev", 60)])
def test_amazon_counts(split, per_class):
    counts = _per_domain_and_label(MultiDomainReviewReader(TINY_BERT), f"amazon/{split}")
    expected = {
        (domain, label): per_class
        for domain in ("books", "dvd", "electronics", "kitchen")
        for label in ("positive", "negative")
    }
    assert counts == expected


@pytest.mark.parametrize(
    "split, sizes",
    [
        ("train", {"animal": 8640, "plant": 6160, "vehicle": 848}),
        ("dev", {"animal": 1080, "plant": 770, "vehicle": 106}),
    ],
)
def test_taxonomy_counts(split, sizes):
    counts = _per_domain_and_label(TermPairReader(TINY_BERT), f"taxonomy/{split}")
    per_domain = collections.Counter()
    for (domain, _), count in counts.items():
        per_domain[domain] += count
    assert per_domain == sizes
    assert {label for _, label in counts} == {"0", "1"}


@pytest.mark.parametrize(
    "split, total, per_genre",
    [
        (
            "train",
            2343,
            {"fiction": 400, "government": 447, "slate": 463, "telephone": 463, "travel": 570},
        ),
        (
            "dev",
            1906,
            {"fiction": 330, "government": 415, "slate": 380, "telephone": 389, "travel": 392},
        ),
    ],
)
def test_mnli_counts(split, total, per_genre):
    counts = _per_domain_and_label(MultiDomainNliReader(TINY_BERT), f"mnli/{split}.jsonl")
    per_domain = collections.Counter()
    for (domain, _), count in counts.items():
        per_domain[domain] += count
    assert sum(counts.values()) == total
    assert per_domain == per_genre
    assert {label for _, label in counts} == {"entailment", "neutral", "contradiction"}
