"""Eq. 1 and eq. 2 and their variants, against hand computations."""
import math
import subprocess
import sys

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from mft_plugin.models.meta_fine_tuning import TypicalitySection

from mft_plugin.typicality import (
    TypicalityConfig,
    class_prototypes,
    cluster_prototypes,
    compute_typicality,
    mean_pool_without_cls,
    membership_weighted_similarities,
    prototype_sums_and_counts,
    rescale_to_mean_one,
    typicality_scores,
    unmasked_mean_after_cls,
)
from tests.conftest import PROJECT_ROOT


def _cos(a, b):
    dot = sum(x * y for x, y in zip(a, b))
    return dot / math.sqrt(sum(x * x for x in a)) / math.sqrt(sum(y * y for y in b))


def test_mean_pool_excludes_cls_and_padding():
    hidden = torch.tensor([[[100.0, 100.0], [1.0, 2.0], [3.0, 4.0], [50.0, 50.0]]])
    mask = torch.tensor([[True, True, True, False]])
    assert mean_pool_without_cls(hidden, mask).tolist() == [[2.0, 3.0]]
    # EasyNLP's variant averages every position after [CLS], padding included
    assert unmasked_mean_after_cls(hidden).tolist() == [[18.0, pytest.approx(56 / 3)]]


# Three domains, two classes, 2-d embeddings; class 1 is missing from domain 2.
EMBEDDINGS = torch.tensor(
    [[1.0, 0.0], [3.0, 1.0], [0.0, 1.0], [1.0, 1.0], [2.0, 0.0], [1.0, 3.0], [0.0, 2.0]]
)
DOMAINS = torch.tensor([0, 0, 0, 1, 1, 1, 2])
CLASSES = torch.tensor([0, 0, 1, 0, 1, 1, 0])


def test_prototypes_are_group_means_and_absent_groups_are_marked():
    sums, counts = prototype_sums_and_counts(EMBEDDINGS, DOMAINS, CLASSES, 3, 2)
    assert counts.tolist() == [[2, 1], [1, 2], [1, 0]]
    prototypes = class_prototypes(sums, counts)
    assert prototypes[0, 0].tolist() == [2.0, 0.5]
    assert prototypes[1, 1].tolist() == [1.5, 1.5]
    assert prototypes[2, 0].tolist() == [0.0, 2.0]


def _hand_typicality(alpha):
    prototypes = {
        (0, 0): [2.0, 0.5],
        (0, 1): [0.0, 1.0],
        (1, 0): [1.0, 1.0],
        (1, 1): [1.5, 1.5],
        (2, 0): [0.0, 2.0],
    }
    scores = []
    for e, k, m in zip(EMBEDDINGS.tolist(), DOMAINS.tolist(), CLASSES.tolist()):
        own = _cos(e, prototypes[(k, m)])
        others = [_cos(e, prototypes[(j, m)]) for j in range(3) if j != k and (j, m) in prototypes]
        scores.append(alpha * own + (1 - alpha) * sum(others) / len(others) if others else own)
    return scores


@pytest.mark.parametrize("alpha", [0.5, 0.8])
def test_eq2_matches_hand_computation_with_a_missing_class(alpha):
    sums, counts = prototype_sums_and_counts(EMBEDDINGS, DOMAINS, CLASSES, 3, 2)
    scores = compute_typicality(EMBEDDINGS, DOMAINS, CLASSES, sums, counts, TypicalityConfig(alpha))
    assert scores.tolist() == pytest.approx(_hand_typicality(alpha), abs=1e-6)
    # Class 1 of domain 0 has one other domain with that class: divide by 1, not K - 1 = 2.
    e, own, other = [0.0, 1.0], [0.0, 1.0], [1.5, 1.5]
    assert float(scores[2]) == pytest.approx(alpha * _cos(e, own) + (1 - alpha) * _cos(e, other))


def test_class_in_no_other_domain_uses_the_first_cosine_unscaled():
    similarities = torch.tensor([[0.4, 0.9]])
    present = torch.tensor([[True, False]])
    assert typicality_scores(similarities, torch.tensor([0]), present, 0.5).tolist() == [
        pytest.approx(0.4)
    ]


def test_one_prototype_per_class_is_exactly_eq2():
    sums, counts = prototype_sums_and_counts(EMBEDDINGS, DOMAINS, CLASSES, 3, 2)
    centroids, valid = cluster_prototypes(EMBEDDINGS, DOMAINS, CLASSES, 3, 2, clusters=1, seed=0)
    assert torch.allclose(centroids[:, :, 0], class_prototypes(sums, counts))
    similarities = membership_weighted_similarities(EMBEDDINGS, CLASSES, centroids, valid, 0.1)
    present = (counts > 0)[:, CLASSES].T
    scores = typicality_scores(similarities, DOMAINS, present, 0.5)
    assert scores.tolist() == pytest.approx(_hand_typicality(0.5), abs=1e-6)


def test_membership_weights_are_a_softmax_over_cluster_cosines():
    # One domain, one class, two clusters at (1, 0) and (0, 1); the instance is (2, 1).
    centroids = torch.tensor([[[[1.0, 0.0], [0.0, 1.0]]]])
    valid = torch.tensor([[[True, True]]])
    e = [2.0, 1.0]
    cos_a, cos_b = _cos(e, [1, 0]), _cos(e, [0, 1])
    temperature = 0.5
    beta_a, beta_b = math.exp(cos_a / temperature), math.exp(cos_b / temperature)
    expected = (beta_a * cos_a + beta_b * cos_b) / (beta_a + beta_b)
    result = membership_weighted_similarities(
        torch.tensor([e]), torch.tensor([0]), centroids, valid, temperature
    )
    assert float(result[0, 0]) == pytest.approx(expected, abs=1e-6)


def test_cluster_count_is_capped_by_group_size():
    _, valid = cluster_prototypes(EMBEDDINGS, DOMAINS, CLASSES, 3, 2, clusters=3, seed=0)
    assert valid.sum(dim=-1).tolist() == [[2, 1], [1, 2], [1, 0]]


def test_multi_prototype_scores_run_through_compute_typicality():
    sums, counts = prototype_sums_and_counts(EMBEDDINGS, DOMAINS, CLASSES, 3, 2)
    config = TypicalityConfig(prototypes_per_class=2)
    scores = compute_typicality(
        EMBEDDINGS, DOMAINS, CLASSES, sums, counts, config, (EMBEDDINGS, DOMAINS, CLASSES)
    )
    assert scores.shape == (7,)
    # a group of one instance has one cluster, the instance itself: cosine 1 to its own "prototype"
    assert float(scores[2]) == pytest.approx(0.5 * 1.0 + 0.5 * _cos([0, 1], [1.5, 1.5]), abs=0.2)


def test_cosine_to_mean_of_other_domains_variant():
    sums, counts = prototype_sums_and_counts(EMBEDDINGS, DOMAINS, CLASSES, 3, 2)
    config = TypicalityConfig(alpha=0.5, other_domains="cosine_to_mean")
    scores = compute_typicality(EMBEDDINGS, DOMAINS, CLASSES, sums, counts, config)
    # instance 0: domain 0, class 0; other domains' class-0 prototypes (1, 1) and (0, 2)
    e = [1.0, 0.0]
    expected = 0.5 * _cos(e, [2.0, 0.5]) + 0.5 * _cos(e, [0.5, 1.5])
    assert float(scores[0]) == pytest.approx(expected, abs=1e-6)


def test_negative_cosines_are_kept_as_given():
    similarities = torch.tensor([[-0.5, -0.3]])
    present = torch.tensor([[True, True]])
    assert typicality_scores(similarities, torch.tensor([0]), present, 0.5).tolist() == [
        pytest.approx(-0.4)
    ]


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"alpha": 1.0}, r"typicality.alpha must lie in \(0, 1\)"),
        ({"alpha": 0.0}, r"typicality.alpha must lie in \(0, 1\)"),
        ({"prototypes_per_class": 0}, "typicality.prototypes_per_class must be at least 1"),
        ({"embedding": "cls"}, "typicality.embedding must be one of"),
        ({"other_domains": "cosine_to_mean", "prototypes_per_class": 2}, "single-prototype form"),
    ],
)
def test_configuration_errors_name_the_key(kwargs, message):
    with pytest.raises(ValueError, match=message):
        TypicalityConfig(**kwargs)
    # Through a model config, the same message is a configuration error.
    with pytest.raises(ConfigurationError, match=message):
        TypicalitySection.from_params(Params(dict(kwargs)))


def test_math_modules_import_without_allennlp_and_change_no_environment():
    code = (
        "import os, sys\n"
        "before = dict(os.environ)\n"
        "import mft_plugin.typicality, mft_plugin.losses\n"
        "loaded = {m.split('.')[0] for m in sys.modules}\n"
        "frameworks = sorted(loaded & {'allennlp', 'allennlp_models', 'transformers'})\n"
        "print(frameworks, sorted(set(os.environ) - set(before)))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, cwd=PROJECT_ROOT
    )
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "[] []"


def test_rescale_to_mean_one_clips_negatives_and_divides_by_the_mean():
    scores = torch.tensor([0.3, -0.1, 0.1, 0.2])
    # clipped: 0.3, 0, 0.1, 0.2 -> mean 0.15
    assert rescale_to_mean_one(scores).tolist() == pytest.approx([2.0, 0.0, 2 / 3, 4 / 3])
    assert rescale_to_mean_one(torch.tensor([-0.2, 0.0])).tolist() == [1.0, 1.0]
