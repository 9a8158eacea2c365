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


def test_device_accuracy_equals_categorical_accuracy():
    from allennlp.training.metrics import CategoricalAccuracy

    from mft_plugin.metrics import DeviceAccuracy

    torch.manual_seed(0)
    ours, allennlps = DeviceAccuracy(), CategoricalAccuracy()
    for size in (7, 32, 5):
        logits = torch.randn(size, 3)
        logits[0] = torch.tensor([1.0, 1.0, 0.0])  # a tie: the first maximum is the prediction
        gold = torch.randint(3, (size,))
        mask = torch.rand(size) > 0.3
        for metric in (ours, allennlps):
            metric(logits, gold)
            metric(logits, gold, mask)
        assert ours.get_metric() == allennlps.get_metric()
    assert ours.get_metric(reset=True) == allennlps.get_metric(reset=True)
    assert ours.get_metric() == 0.0


def test_device_average_equals_average_exactly():
    from allennlp.training.metrics import Average

    from mft_plugin.metrics import DeviceAverage

    torch.manual_seed(0)
    ours, allennlps = DeviceAverage(), Average()
    for value in torch.rand(50) * 3:  # float32 losses, summed in float64 by both
        ours(value)
        allennlps(value)
    assert ours.get_metric() == allennlps.get_metric()
    assert ours.get_metric(reset=True) == allennlps.get_metric(reset=True)
    assert ours.get_metric() == 0.0


def test_per_domain_accuracy_reads_its_counts_in_one_call(monkeypatch):
    metric = PerDomainAccuracy(["animal", "vehicle", "plant"])
    metric(torch.tensor([[2.0, 0.0], [0.0, 2.0]]), torch.tensor([0, 0]), torch.tensor([0, 1]))
    assert isinstance(metric._correct, torch.Tensor) and metric._correct.dtype == torch.float64
    calls = []
    original = torch.Tensor.tolist
    monkeypatch.setattr(torch.Tensor, "tolist", lambda self: calls.append(1) or original(self))
    assert metric.get_metric() == {"animal": 1.0, "vehicle": 0.0}
    assert len(calls) == 1
