"""
The meta-learner of MFT (paper §3, Figure 2, Algorithm 1): the encoder trained with the
typicality-weighted label loss and the skip-layer domain corruption loss,
L = L_TLC + λ·L_SDC (§3.4).
"""
import logging
from typing import Dict, List, Mapping, Optional

import torch
from allennlp.common import FromParams
from allennlp.common.checks import ConfigurationError
from allennlp.data import TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import TextFieldEmbedder

from mft_plugin.data.contract import CONTRACT_PAGE, WRAPPER_ADVICE
from mft_plugin.losses import (
    CORRUPTIONS,
    corrupt_domain_labels,
    skip_layer_domain_corruption_loss,
    typicality_weighted_label_loss,
)
from mft_plugin.metrics import DeviceAverage
from mft_plugin.models.classifier import EncoderOutput, TransformerClassifier
from mft_plugin.typicality import TypicalityConfig, mean_pool_without_cls, unmasked_mean_after_cls

logger = logging.getLogger(__name__)


class TypicalitySection(TypicalityConfig, FromParams):
    """
    The `typicality` section of a `meta_fine_tuning` config: `TypicalityConfig` (the math
    module's settings, which know nothing of AllenNLP) built from params, a bad value reported
    as a `ConfigurationError` that names the key. Takes `TypicalityConfig`'s arguments.
    """

    def __init__(self, **kwargs) -> None:
        try:
            super().__init__(**kwargs)
        except (TypeError, ValueError) as error:  # an unknown key, or a value out of range
            raise ConfigurationError(f"typicality: {error}") from error


def default_skip_layers(num_layers: int) -> List[int]:
    """Ls scaled to the depth: {4, 8, 12} for 12 layers, {2, 4, 6} for 6 (thirds of the depth)."""
    return sorted({max(1, round(num_layers * share / 3)) for share in (1, 2, 3)})


@Model.register("meta_fine_tuning")
class MetaFineTuning(TransformerClassifier):
    """
    Stage 1 of MFT. On top of `TransformerClassifier` (f(x) = last-layer [CLS] or the
    `seq2vec_encoder`'s output → dropout → `feedforward`, if any → label classifier) it has a
    K×d domain-embedding table E_D and, for every layer l in Ls, a linear domain classifier
    δ_l: d → K fed with pool(h_l(x)) + E_D(k) (§3.3).

    Training loss (only in training mode): L = L_TLC + λ·L_SDC, where
    - L_TLC (eq. 3) weights each instance's cross-entropy by its typicality t_i, which the
      `mft_prototypes` trainer callback computes before the first update (§3.2);
    - L_SDC (eq. 7) asks every δ_l to predict corrupted domain labels z (by default a shuffle of
      the batch's true domains), so that h_l(x) carries no domain information.
    Instances without a score (validation, prediction, an id unseen by the callback) have t = 1,
    and in evaluation mode the loss is the plain cross-entropy: nothing random, so validation
    is deterministic.

    The paper's variants: Full (the defaults), DC (`typicality: null`, all t_i = 1) and
    TW (`domain_corruption_weight: 0`, no domain heads at all).

    Registered as a `Model` with name "meta_fine_tuning".

    # Parameters

    vocab, text_field_embedder, dropout, ..., seq2vec_encoder, feedforward, ...
        As for `TransformerClassifier` (`mft_transformer_classifier`), whose keys it takes,
        but `keep_pooler`, which follows `typicality.embedding`. L_TLC weights the loss of
        the label classifier on top of them; L_SDC (the δ_l on the hidden states of Ls) and
        the prototype embedding E(x) read the transformer's own hidden states (§3.2-3.3), not
        the seq2seq/seq2vec/feedforward modules.
    skip_layers : `List[int]`, optional (default = thirds of the depth)
        Ls, 1-based layer indexes (layer l is HuggingFace's `hidden_states[l]`). The paper uses
        {4, 8, 12} for BERT-base; the default scales this to the encoder's depth.
    domain_corruption_weight : `float`, optional (default = `0.1`)
        λ. 0 gives MFT (TW).
    typicality : `TypicalitySection`, optional (default = the paper's settings)
        How the callback computes typicality (α, prototypes per class, ...). `null` gives
        MFT (DC): every t_i is 1 and no prototype pass runs.
    corruption : `str`, optional (default = `"shuffle"`)
        How z is drawn: `shuffle` (in-batch permutation, Algorithm 1), `uniform` or
        `empirical` (training-set domain frequencies, counted by the callback).
    shared_domain_head : `bool`, optional (default = `False`)
        One δ for all layers in Ls instead of one per layer (the authors' code).
    weight_domain_loss : `bool`, optional (default = `True`)
        Weight L_SDC by typicality as eq. 7 does; `False` follows the authors' code.
    """

    # The reader contract (mft_plugin/data/contract.py): every training instance has a domain.
    requires_domain = True

    _fixed_init_parameters = ("keep_pooler",)
    _domain_prior: torch.Tensor  # a registered buffer

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        skip_layers: Optional[List[int]] = None,
        domain_corruption_weight: float = 0.1,
        typicality: Optional[TypicalitySection] = TypicalitySection(),
        corruption: str = "shuffle",
        shared_domain_head: bool = False,
        weight_domain_loss: bool = True,
        **kwargs,
    ) -> None:
        keep_pooler = typicality is not None and typicality.embedding == "pooler"
        super().__init__(vocab, text_field_embedder, keep_pooler=keep_pooler, **kwargs)
        num_domains = len(self.domain_names)
        if num_domains == 0:
            raise ConfigurationError(
                f"MFT needs at least two domains to transfer between, but the vocabulary has no "
                f"domains in namespace {self._domain_namespace!r}: the training instances have no "
                f"`domain` field (a mft_plugin.data.DomainField in {self._domain_namespace!r}). "
                f"See {CONTRACT_PAGE}; to give an existing reader's instances their domain, "
                f"{WRAPPER_ADVICE}."
            )
        if num_domains < 2:
            raise ConfigurationError(
                f"MFT needs at least two domains to transfer between, but the vocabulary namespace "
                f"{self._domain_namespace!r} has {num_domains} ({self.domain_names}). Read the "
                "training data of every domain (the reader's `domains` option selects them)."
            )
        if domain_corruption_weight < 0:
            raise ConfigurationError(
                f"domain_corruption_weight (λ) must be >= 0, got {domain_corruption_weight}."
            )
        if corruption not in CORRUPTIONS:
            raise ConfigurationError(
                f"corruption must be one of {CORRUPTIONS}, got {corruption!r}."
            )
        if skip_layers is not None and (
            len(skip_layers) == 0 or len(set(skip_layers)) != len(skip_layers)
        ):
            raise ConfigurationError(
                f"model.skip_layers must list distinct layers (or be null for thirds of the "
                f"depth), got {list(skip_layers)}."
            )
        self.skip_layers = (
            list(skip_layers) if skip_layers is not None else default_skip_layers(self.num_layers)
        )
        outside = [layer for layer in self.skip_layers if not 1 <= layer <= self.num_layers]
        if outside:
            raise ConfigurationError(
                f"skip_layers {outside} lie outside the encoder's layers 1..{self.num_layers}."
            )
        self.domain_corruption_weight = domain_corruption_weight
        self.typicality_config = typicality
        self.corruption = corruption
        self.weight_domain_loss = weight_domain_loss

        self._domain_embedding: Optional[torch.nn.Embedding] = None
        self._domain_heads: Optional[torch.nn.ModuleList] = None
        if domain_corruption_weight > 0:
            self._domain_embedding = torch.nn.Embedding(num_domains, self.hidden_size)
            head_count = 1 if shared_domain_head else len(self.skip_layers)
            self._domain_heads = torch.nn.ModuleList(
                torch.nn.Linear(self.hidden_size, num_domains) for _ in range(head_count)
            )

        # t_i by instance id, set by the `mft_prototypes` callback. Scores belong to one training
        # set, so they are not part of the weights; a recovered run reloads them from its files.
        self._typicality_by_id: Dict[str, float] = {}
        # Set by the callback once it has checked every training instance's domain, so that
        # the forward need not look at the batch's domains on the host (a synchronisation).
        self.training_domains_checked = False
        # Pr(z) of `empirical` corruption, counted by the callback; a buffer, so an archive keeps it.
        self.register_buffer("_domain_prior", torch.zeros(num_domains))
        self._warned_no_typicality = False

        self._label_loss = DeviceAverage()
        self._domain_loss = DeviceAverage()

    # ----------------------------------------------------------------------------------------
    # What the prototype callback needs
    @property
    def uses_typicality(self) -> bool:
        return self.typicality_config is not None

    @property
    def needs_domain_prior(self) -> bool:
        return self._domain_heads is not None and self.corruption == "empirical"

    def set_typicality(self, scores: Mapping[str, float]) -> None:
        """Hand the model t_i by instance id (the readers' `metadata["instance_id"]`)."""
        self._typicality_by_id = dict(scores)

    def set_domain_prior(self, domain_counts: torch.Tensor) -> None:
        """Training-set domain frequencies, the Pr(z) of `empirical` corruption."""
        counts = torch.as_tensor(domain_counts, dtype=torch.float)
        self._domain_prior.copy_(counts / counts.sum())

    def prototype_embedding(self, tokens: TextFieldTensors) -> torch.Tensor:
        """E(x) of §3.2, as `typicality.embedding` defines it (the paper: masked mean, no [CLS])."""
        config = self.typicality_config or TypicalityConfig()
        encoded = self.encode(tokens)
        if config.embedding == "pooler":
            if encoded.pooler_output is None:
                raise ConfigurationError(
                    "typicality.embedding='pooler' needs an encoder with a pooler."
                )
            return encoded.pooler_output
        if config.embedding == "unmasked_mean":
            return unmasked_mean_after_cls(encoded.last_layer)
        return mean_pool_without_cls(encoded.last_layer, encoded.mask)

    # ----------------------------------------------------------------------------------------
    # The losses
    def typicality_weights(self, metadata: Optional[List[Dict]], batch_size: int) -> torch.Tensor:
        """t_i for the batch: the callback's score by instance id, 1 where there is none."""
        device = next(self.parameters()).device
        if not (self.training and self.uses_typicality):
            return torch.ones(batch_size, device=device)
        if not self._typicality_by_id and not self._warned_no_typicality:
            # Not an error: a loaded archive trained further has no scores either.
            logger.warning(
                "This MFT model weights instances by typicality, but no scores were computed, so "
                'every weight is 1. Add {"type": "mft_prototypes"} to trainer.callbacks, or set '
                '"typicality": null for MFT (DC).'
            )
            self._warned_no_typicality = True
        if metadata is None:
            return torch.ones(batch_size, device=device)
        # One small host-to-device copy a batch. A table of every score on the device, gathered
        # by row, would still need the rows copied (the reader contract gives the batch no
        # index field) and measured twice as slow on the host (8 vs 17 µs a batch of 32).
        # An instance_id of None finds no score, so its weight is 1.
        scores = [
            self._typicality_by_id.get(m.get("instance_id"), 1.0)  # type: ignore[arg-type]
            for m in metadata
        ]
        return torch.tensor(scores, dtype=torch.float, device=device)

    def domain_corruption_logits(
        self, encoded: EncoderOutput, domain: torch.Tensor
    ) -> List[torch.Tensor]:
        """δ_l(h_l(x) + E_D(k)) for every l in Ls, h_l the masked mean without [CLS] (§3.3)."""
        # Both are set when domain_corruption_weight > 0, which corrupting requires.
        assert self._domain_embedding is not None and self._domain_heads is not None
        assert encoded.hidden_states is not None  # corrupting encodes with all_layers
        true_domain = self._domain_embedding(domain.long())
        logits = []
        for position, layer in enumerate(self.skip_layers):
            pooled = mean_pool_without_cls(encoded.hidden_states[layer], encoded.mask)
            head = self._domain_heads[position if len(self._domain_heads) > 1 else 0]
            logits.append(head(pooled + true_domain))
        return logits

    def forward(
        self,
        tokens: TextFieldTensors,
        label: Optional[torch.IntTensor] = None,
        domain: Optional[torch.IntTensor] = None,
        metadata: Optional[List[Dict]] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        # Returns

        `logits`, `probs`; with a label also `loss` (L in training mode, plain cross-entropy in
        evaluation mode), `label_loss` (L_TLC) and, when corrupting, `domain_loss` (L_SDC).
        """
        corrupting = (
            self.training
            and self._domain_heads is not None
            and domain is not None
            and label is not None
        )
        if self.training and label is not None and domain is None:
            raise ConfigurationError(
                "MFT received a training batch without the `domain` field; its domain "
                "corruption and its typicality prototypes need a mft_plugin.data.DomainField "
                f"`domain` on every training instance. See {CONTRACT_PAGE}, or {WRAPPER_ADVICE}."
            )
        encoded = self.encode(tokens, all_layers=corrupting)
        logits = self.classify(encoded)
        output = self.predictions(logits)
        if label is None:
            return output

        typicality = self.typicality_weights(metadata, logits.shape[0])
        label_loss = typicality_weighted_label_loss(logits, label, typicality)
        output["label_loss"] = label_loss
        loss = label_loss
        if corrupting:
            assert domain is not None  # corrupting requires it
            if not self.training_domains_checked:
                self.require_known_domains(
                    domain,
                    metadata,
                    "MFT's domain corruption loss needs the domain of every instance",
                )
            if self.corruption == "empirical" and self._domain_prior.sum() == 0:
                raise ConfigurationError(
                    "corruption='empirical' needs the training-set domain frequencies; add "
                    '{"type": "mft_prototypes"} to trainer.callbacks.'
                )
            corrupted = corrupt_domain_labels(
                domain.long(), self.corruption, len(self.domain_names), self._domain_prior
            )
            domain_weights = typicality if self.weight_domain_loss else torch.ones_like(typicality)
            domain_loss = skip_layer_domain_corruption_loss(
                self.domain_corruption_logits(encoded, domain), corrupted, domain_weights
            )
            output["domain_loss"] = domain_loss
            loss = label_loss + self.domain_corruption_weight * domain_loss
            self._domain_loss(domain_loss.detach())
        if self.training:
            self._label_loss(label_loss.detach())
        output["loss"] = loss
        self.update_accuracy(logits, label, domain)
        return output

    def read_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = super().read_metrics(reset)
        # The loss components exist in training only; every worker is in the same mode.
        if self.training:
            metrics["label_loss"] = self._label_loss.get_metric(reset)
            if self._domain_heads is not None:
                metrics["domain_loss"] = self._domain_loss.get_metric(reset)
        return metrics
