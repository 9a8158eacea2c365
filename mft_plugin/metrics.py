"""
The plugin's metrics: accuracy per domain (the paper's evaluation unit: every table reports one
column a domain), and accuracy and averages that stay on the device of their inputs.

AllenNLP's trainer reads `model.get_metrics()` after every batch (for the progress bar), so a
metric that copies its counts to the host in `__call__` (`CategoricalAccuracy`'s `.item()`,
`Average`'s `float()`) adds a host-device synchronisation in the middle of the model's forward,
before the backward is queued. These accumulate on the device and are read once per
`get_metric` (one copy per metric), with the same numbers.
"""
from typing import Dict, List, Optional

import torch
import torch.distributed as dist
from allennlp.nn.util import dist_reduce_sum, is_distributed
from allennlp.training.metrics import Metric

from mft_plugin.data.domain_field import NO_DOMAIN


@Metric.register("per_domain_accuracy")
class PerDomainAccuracy(Metric):
    """
    Accuracy of the label predictions, kept separately for every domain.

    Counts are summed over distributed workers on every call, as AllenNLP's own metrics do, so
    every worker reports the same figures. They stay on the device of the predictions and are
    copied to the host once per `get_metric`. Domains that have not been seen since the last reset
    are left out of `get_metric` rather than reported as 0. Rows whose domain is `NO_DOMAIN` (a
    domain the model was not trained on) count in no domain.

    # Parameters

    domain_names : `List[str]`
        The domain of index k is `domain_names[k]` (the `domain_labels` vocabulary).
    """

    supports_distributed = True
    _correct: torch.Tensor  # set by reset()
    _total: torch.Tensor

    def __init__(self, domain_names: List[str]) -> None:
        self.domain_names = list(domain_names)
        self.reset()

    def __call__(  # type: ignore[override]
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
        if self._correct.device != correct_counts.device:
            self._correct = self._correct.to(correct_counts.device)
            self._total = self._total.to(correct_counts.device)
        # (gloo reduces on the CPU: the sums come back to the counts' device.)
        # Out of place: a count made under inference mode (prediction) must take training's.
        self._correct = self._correct + dist_reduce_sum(correct_counts).to(self._correct.device)
        self._total = self._total + dist_reduce_sum(total_counts).to(self._total.device)

    def get_metric(self, reset: bool = False) -> Dict[str, float]:
        correct, total = torch.stack([self._correct, self._total]).tolist()  # one copy
        metrics = {
            name: correct[index] / total[index]
            for index, name in enumerate(self.domain_names)
            if total[index] > 0
        }
        if reset:
            self.reset()
        return metrics

    def reset(self) -> None:
        self._correct = torch.zeros(len(self.domain_names), dtype=torch.float64)
        self._total = torch.zeros(len(self.domain_names), dtype=torch.float64)


@Metric.register("mft_accuracy")
class DeviceAccuracy(Metric):
    """
    Top-1 accuracy, as AllenNLP's `CategoricalAccuracy` computes it (the first maximal logit is
    the prediction), with its counts kept on the device of the predictions: no host copy in
    `__call__`, one in `get_metric`. It does not check the gold labels against the number of
    classes (`CategoricalAccuracy` does, with a synchronisation per batch): the loss has
    refused an out-of-range label by then.

    Registered as a `Metric` with name "mft_accuracy".
    """

    supports_distributed = True
    _counts: torch.Tensor  # set by reset()

    def __init__(self) -> None:
        self.reset()

    def __call__(
        self,
        predictions: torch.Tensor,
        gold_labels: torch.Tensor,
        mask: Optional[torch.Tensor] = None,
    ) -> None:
        # detach_tensors passes a None mask through; AllenNLP annotates it for tensors only.
        tensors = self.detach_tensors(predictions, gold_labels, mask)  # type: ignore[arg-type]
        predictions, gold_labels, mask = tensors
        predicted = predictions.view(-1, predictions.size(-1)).max(-1)[1]
        correct = (predicted == gold_labels.reshape(-1).long()).double()
        weights = torch.ones_like(correct) if mask is None else mask.reshape(-1).double()
        counts = torch.stack([(correct * weights).sum(), weights.sum()])
        if self._counts.device != counts.device:
            self._counts = self._counts.to(counts.device)
        # Out of place: a count made under inference mode (prediction) must take training's.
        self._counts = self._counts + dist_reduce_sum(counts).to(self._counts.device)

    def get_metric(self, reset: bool = False) -> float:
        correct, total = self._counts.tolist()
        if reset:
            self.reset()
        return correct / total if total > 1e-12 else 0.0

    def reset(self) -> None:
        self._counts = torch.zeros(2, dtype=torch.float64)


@Metric.register("mft_average")
class DeviceAverage(Metric):
    """
    The mean of the scalar tensors it is given, as AllenNLP's `Average` (a sum in float64
    divided by the number of calls, summed over distributed workers), kept on the device of
    the values: no host copy in `__call__`, one in `get_metric`.

    Registered as a `Metric` with name "mft_average".
    """

    supports_distributed = True
    _total: torch.Tensor  # set by reset()
    _count: int

    def __init__(self) -> None:
        self.reset()

    def __call__(self, value: torch.Tensor) -> None:  # type: ignore[override]
        value = value.detach().double().reshape(())
        if self._total.device != value.device:
            self._total = self._total.to(value.device)
        self._total = self._total + dist_reduce_sum(value).to(self._total.device)
        # Every worker calls once per batch: Average's count, without a collective per call.
        self._count += dist.get_world_size() if is_distributed() else 1

    def get_metric(self, reset: bool = False) -> float:
        average = self._total.item() / self._count if self._count > 0 else 0.0
        if reset:
            self.reset()
        return float(average)

    def reset(self) -> None:
        self._total = torch.zeros((), dtype=torch.float64)
        self._count = 0
