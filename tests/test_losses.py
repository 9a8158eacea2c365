"""Eq. 3 and eq. 7 against hand computations, and the corrupted-label distributions."""
import math

import pytest
import torch

from mft_plugin.losses import (
    corrupt_domain_labels,
    skip_layer_domain_corruption_loss,
    typicality_weighted_label_loss,
)


def _log_softmax(row, index):
    return row[index] - math.log(sum(math.exp(v) for v in row))


def test_tlc_is_the_typicality_weighted_mean_cross_entropy():
    logits = [[2.0, 0.0, -1.0], [0.5, 0.5, 0.0]]
    labels = [0, 2]
    weights = [0.8, 0.3]
    expected = (
        -(weights[0] * _log_softmax(logits[0], 0) + weights[1] * _log_softmax(logits[1], 2)) / 2
    )
    result = typicality_weighted_label_loss(
        torch.tensor(logits), torch.tensor(labels), torch.tensor(weights)
    )
    assert float(result) == pytest.approx(expected)


def test_sdc_averages_layers_and_weights_instances():
    layer_a = [[1.0, 0.0], [0.0, 2.0]]
    layer_b = [[0.5, 0.5], [3.0, 1.0]]
    corrupted = [1, 0]
    weights = [1.0, 0.5]
    expected = 0.0
    for i in range(2):
        per_layer = [-_log_softmax(layer[i], corrupted[i]) for layer in (layer_a, layer_b)]
        expected += weights[i] * sum(per_layer)
    expected /= 2 * 2  # |Ls| * |B|
    result = skip_layer_domain_corruption_loss(
        [torch.tensor(layer_a), torch.tensor(layer_b)],
        torch.tensor(corrupted),
        torch.tensor(weights),
    )
    assert float(result) == pytest.approx(expected)


def test_zero_typicality_instance_gets_no_gradient():
    logits = torch.tensor([[2.0, 0.0], [0.1, 0.3]], requires_grad=True)
    loss = typicality_weighted_label_loss(logits, torch.tensor([0, 1]), torch.tensor([0.0, 1.0]))
    loss.backward()
    assert logits.grad[0].abs().sum() == 0
    assert logits.grad[1].abs().sum() > 0


def test_shuffle_is_a_permutation_of_the_batch_domains():
    torch.manual_seed(0)
    domains = torch.tensor([0, 0, 1, 2, 2, 2])
    corrupted = corrupt_domain_labels(domains, "shuffle")
    assert sorted(corrupted.tolist()) == sorted(domains.tolist())
    # with enough draws, the permutation is not the identity
    assert any(
        not torch.equal(corrupt_domain_labels(domains, "shuffle"), domains) for _ in range(10)
    )


def test_uniform_covers_every_domain_and_empirical_follows_the_prior():
    torch.manual_seed(0)
    domains = torch.zeros(2000, dtype=torch.long)
    uniform = corrupt_domain_labels(domains, "uniform", num_domains=4)
    assert set(uniform.tolist()) == {0, 1, 2, 3}
    empirical = corrupt_domain_labels(domains, "empirical", prior=torch.tensor([0.0, 0.25, 0.75]))
    assert 0 not in empirical.tolist()
    assert abs((empirical == 2).float().mean().item() - 0.75) < 0.05


def test_unknown_corruption_is_refused():
    with pytest.raises(ValueError, match="Unknown corruption 'flip'"):
        corrupt_domain_labels(torch.tensor([0, 1]), "flip")
