"""Accuracy per domain, the paper's evaluation unit (every table reports one column a domain)."""
from typing import Dict, List, Optional

import torch
from allennlp.nn.util import dist_reduce_sum
from allennlp.training.metrics import Metric

from mft_plugin.data.domain_field import NO_DOMAIN


@Metric.register("per_domain_accuracy")
class PerDomainAccuracy(Metric):
    """
    Accuracy of the label predictions, kept separately for every domain.

    Counts are summed over distributed workers on every call, as AllenNLP's own metrics do, so
    every worker reports the same figures. Domains that have not been seen since the last reset
    are left out of `get_metric` rather than reported as 0. Rows whose domain is `NO_DOMAIN` (a
    domain the model was not trained on) count in no domain.

    # Parameters

    domain_names : `List[str]`
        The domain of index k is `domain_names[k]` (the `domain_labels` vocabulary).
    """

    supports_distributed = True

    def __init__(self, domain_names: List[str]) -> None:
        self.domain_names = list(domain_names)
        self.reset()

    def __call__(  # type: ignore
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        domains: torch.Tensor,
        mask: Optional[torch.BoolTensor] = None,
    ) -> None:
        predictions, gold_labels, domains = self.detach_tensors(predictions, gold_labels, domains)
        correct = (predictions.argmax(dim=-1) == gold_labels.long()).double()
        weights = torch.ones_like(correct) if mask is None else mask.double()
        domains = domains.long()
        weights = weights * (domains != NO_DOMAIN).double()
        domains = domains.clamp(min=0)  # a NO_DOMAIN row weighs 0: any valid index will do
        size = len(self.domain_names)
        correct_counts = torch.bincount(domains, weights=correct * weights, minlength=size)
        total_counts = torch.bincount(domains, weights=weights, minlength=size)
        self._correct += dist_reduce_sum(correct_counts).cpu()
        self._total += dist_reduce_sum(total_counts).cpu()

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        metrics = {
            name: float(self._correct[index] / self._total[index])
            for index, name in enumerate(self.domain_names)
            if self._total[index] > 0
        }
        if reset:
            self.reset()
        return metrics

    def reset(self) -> None:
        self._correct = torch.zeros(len(self.domain_names), dtype=torch.float64)
        self._total = torch.zeros(len(self.domain_names), dtype=torch.float64)
