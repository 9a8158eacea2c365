"""Per-domain accuracy against hand counts."""
import pytest
import torch

from mft_plugin.data import NO_DOMAIN
from mft_plugin.metrics import PerDomainAccuracy


def test_per_domain_accuracy_skips_rows_without_a_domain():
    metric = PerDomainAccuracy(["animal", "vehicle"])
    # rows: animal right, no domain wrong, vehicle right, vehicle wrong, no domain right
    logits = torch.tensor([[2.0, 0.0], [2.0, 0.0], [0.0, 2.0], [2.0, 0.0], [0.0, 1.0]])
    gold = torch.tensor([0, 1, 1, 1, 1])
    domains = torch.tensor([0, NO_DOMAIN, 1, 1, NO_DOMAIN])
    metric(logits, gold, domains)
    assert metric.get_metric() == {"animal": pytest.approx(1.0), "vehicle": pytest.approx(0.5)}
    # a mask still applies on top: only the first vehicle row counts
    metric.reset()
    metric(logits, gold, domains, mask=torch.tensor([True, True, True, False, True]))
    assert metric.get_metric() == {"animal": pytest.approx(1.0), "vehicle": pytest.approx(1.0)}
