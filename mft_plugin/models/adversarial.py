"""BERT (Adv), the adversarial baseline of the paper's tables (§4.2; Hu et al., 2019 style)."""
import math
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import TextFieldEmbedder

from mft_plugin.data.contract import CONTRACT_PAGE, WRAPPER_ADVICE
from mft_plugin.metrics import DeviceAccuracy, DeviceAverage
from mft_plugin.models.classifier import TransformerClassifier
from mft_plugin.typicality import mean_pool_without_cls

REVERSAL_SCHEDULES = ("fixed", "dann")
FEATURES = ("cls", "mean")


class GradientReversal(torch.autograd.Function):
    """Identity forward; the gradient is multiplied by −weight on the way back (Ganin & Lempitsky)."""

    @staticmethod
    def forward(ctx, features: torch.Tensor, weight: float) -> torch.Tensor:
        ctx.weight = weight
        return features.view_as(features)

    @staticmethod
    def backward(ctx, gradient: torch.Tensor):
        return -ctx.weight * gradient, None


def reverse_gradient(features: torch.Tensor, weight: float) -> torch.Tensor:
    return GradientReversal.apply(features, weight)


def dann_schedule(progress: float) -> float:
    """DANN's ramp from 0 to 1 over training: 2 / (1 + exp(−10 p)) − 1."""
    return 2.0 / (1.0 + math.exp(-10.0 * progress)) - 1.0


@Model.register("mft_adversarial")
class AdversarialClassifier(TransformerClassifier):
    """
    BERT (Mix) plus an adversarial domain classifier: the pooled representation goes through a
    gradient-reversal layer into a linear domain classifier trained with cross-entropy on the
    true domains, so the encoder learns to hide the domain. L = CE(labels) + CE(domains), the
    reversal weight scaling the domain gradient that reaches the encoder.

    Registered as a `Model` with name "mft_adversarial".

    # Parameters

    vocab, text_field_embedder, dropout, ..., seq2vec_encoder, feedforward, ...
        As for `TransformerClassifier` (`mft_transformer_classifier`), whose keys it takes.
    reversal_weight : `float`, optional (default = `0.1`)
        How strongly the reversed domain gradient pushes the encoder.
    reversal_schedule : `str`, optional (default = `"fixed"`)
        `fixed`, or `dann`: the weight ramps up as reversal_weight · (2 / (1 + e^(−10 p)) − 1)
        with p the share of training done (needs the `mft_training_progress` callback).
    features : `str`, optional (default = `"cls"`)
        The domain classifier's input: `cls`, what the label classifier reads without its
        dropout (f(x), the [CLS] vector or the `seq2vec_encoder`'s output, through the
        `feedforward` if there is one); or `mean`, the masked mean of the transformer's last
        layer without [CLS] (the encoder's own states, whatever sits on top).
    """

    # The reader contract (mft_plugin/data/contract.py): every training instance has a domain.
    requires_domain = True

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        reversal_weight: float = 0.1,
        reversal_schedule: str = "fixed",
        features: str = "cls",
        **kwargs,
    ) -> None:
        super().__init__(vocab, text_field_embedder, **kwargs)
        if len(self.domain_names) < 2:
            raise ConfigurationError(
                f"BERT (Adv) needs at least two domains; namespace {self._domain_namespace!r} "
                f"has {self.domain_names}."
            )
        if reversal_weight < 0:
            raise ConfigurationError(f"reversal_weight must be >= 0, got {reversal_weight}.")
        if reversal_schedule not in REVERSAL_SCHEDULES:
            raise ConfigurationError(
                f"reversal_schedule must be one of {REVERSAL_SCHEDULES}, got {reversal_schedule!r}."
            )
        if features not in FEATURES:
            raise ConfigurationError(f"features must be one of {FEATURES}, got {features!r}.")
        self.reversal_weight = reversal_weight
        self.reversal_schedule = reversal_schedule
        self.features = features
        self.training_progress = 0.0  # set by the `mft_training_progress` callback
        self._domain_classifier = torch.nn.Linear(
            self.classifier_input_dim if features == "cls" else self.hidden_size,
            len(self.domain_names),
        )
        self._domain_accuracy_metric = DeviceAccuracy()
        self._adversarial_loss = DeviceAverage()

    def current_reversal_weight(self) -> float:
        if self.reversal_schedule == "dann":
            return self.reversal_weight * dann_schedule(self.training_progress)
        return self.reversal_weight

    def forward(
        self,
        tokens: TextFieldTensors,
        label: Optional[torch.IntTensor] = None,
        domain: Optional[torch.IntTensor] = None,
        metadata: Optional[List[Dict]] = None,
    ) -> Dict[str, torch.Tensor]:
        encoded = self.encode(tokens)
        vector = self.sentence_vector(encoded)
        logits = self._label_classifier(self.classifier_input(vector))
        output = self.predictions(logits)
        if label is None:
            return output
        loss = F.cross_entropy(logits, label.long())
        if self.training and domain is None:
            raise ConfigurationError(
                "BERT (Adv) received a training batch without the `domain` field, so its domain "
                "classifier could not train; every training instance needs a "
                f"mft_plugin.data.DomainField `domain`. See {CONTRACT_PAGE}, or {WRAPPER_ADVICE}."
            )
        if self.training:
            assert domain is not None  # refused above when training
            self.require_known_domains(
                domain,
                metadata,
                "BERT (Adv)'s domain classifier needs the domain of every instance",
            )
            pooled = (
                self.project(vector)
                if self.features == "cls"
                else mean_pool_without_cls(encoded.last_layer, encoded.mask)
            )
            domain_logits = self._domain_classifier(
                reverse_gradient(pooled, self.current_reversal_weight())
            )
            adversarial_loss = F.cross_entropy(domain_logits, domain.long())
            output["adversarial_loss"] = adversarial_loss
            loss = loss + adversarial_loss
            self._adversarial_loss(adversarial_loss.detach())
            self._domain_accuracy_metric(domain_logits, domain)
        output["loss"] = loss
        self.update_accuracy(logits, label, domain)
        return output

    def read_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = super().read_metrics(reset)
        if self.training:
            metrics["adversarial_loss"] = self._adversarial_loss.get_metric(reset)
            metrics["domain_classifier_accuracy"] = self._domain_accuracy_metric.get_metric(reset)
        return metrics
