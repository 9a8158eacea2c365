"""BERT (MTL), the multi-task baseline of the paper's tables (§4.2; Sun et al., 2019)."""
from typing import Dict, List, Optional

import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import TextFieldEmbedder

from mft_plugin.data.contract import CONTRACT_PAGE
from mft_plugin.models.classifier import EncoderOutput, TransformerClassifier


def head_name(domain: str) -> str:
    """The module name of a domain's classifier (module names may not contain dots)."""
    return domain.replace(".", "_")


@Model.register("mft_multi_task")
class MultiTaskClassifier(TransformerClassifier):
    """
    Multi-task fine-tuning: the encoder is shared and every domain has its own label classifier
    on f(x) (the last-layer [CLS] vector, or the `seq2vec_encoder`'s output), after the dropout
    and the `feedforward` if there is one (the shared part, which stage 2 loads too). Train it
    with single-domain batches (`mft_single_domain_bucket`), then fine-tune per domain (stage 2
    loads head k as the label classifier of domain k).

    Every head is computed for every instance and the instance's own domain picks the logits,
    so each step touches every parameter (distributed training needs that).

    Registered as a `Model` with name "mft_multi_task".

    # Parameters

    As for `TransformerClassifier` (`mft_transformer_classifier`), whose keys it takes;
    `_domain_classifiers.<domain>` replace its `_label_classifier`.
    """

    # The reader contract (mft_plugin/data/contract.py): every training instance has a domain.
    requires_domain = True

    def __init__(self, vocab: Vocabulary, text_field_embedder: TextFieldEmbedder, **kwargs) -> None:
        super().__init__(vocab, text_field_embedder, **kwargs)
        if not self.domain_names:
            raise ConfigurationError(
                f"BERT (MTL) needs domain labels (namespace {self._domain_namespace!r}) in the data."
            )
        # One classifier a domain replaces the single one. Keyed by domain name, so that the
        # weights of domain k are `_domain_classifiers.<k>.weight` (stage 2 loads them by name).
        del self._label_classifier
        self._domain_classifiers = torch.nn.ModuleDict(
            {
                head_name(name): torch.nn.Linear(self.classifier_input_dim, self.num_labels)
                for name in self.domain_names
            }
        )

    def classify_in_domain(self, encoded: EncoderOutput, domain: torch.Tensor) -> torch.Tensor:
        """Logits of head k_i for every instance i."""
        features = self.classifier_input(self.sentence_vector(encoded))
        every_head = torch.stack(
            [self._domain_classifiers[head_name(name)](features) for name in self.domain_names],
            dim=1,
        )
        return every_head[torch.arange(features.shape[0], device=features.device), domain.long()]

    def forward(
        self,
        tokens: TextFieldTensors,
        label: Optional[torch.IntTensor] = None,
        domain: Optional[torch.IntTensor] = None,
        metadata: Optional[List[Dict]] = None,
    ) -> Dict[str, torch.Tensor]:
        if domain is None:
            raise ConfigurationError(
                "BERT (MTL) chooses its classifier by domain: every instance needs a known domain "
                f"(a mft_plugin.data.DomainField `domain`; see {CONTRACT_PAGE})."
            )
        self.require_known_domains(domain, metadata, "BERT (MTL) chooses its classifier by domain")
        logits = self.classify_in_domain(self.encode(tokens), domain)
        output = self.predictions(logits)
        if label is not None:
            output["loss"] = F.cross_entropy(logits, label.long())
            self.update_accuracy(logits, label, domain)
        return output
