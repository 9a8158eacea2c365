"""
Fine-tuning a BERT-family encoder for classification, the way the paper does it: the last
layer's [CLS] vector f(x), dropout, one linear layer over the classes (§3.2, Devlin et al.).

`TransformerClassifier` is the plain model (BERT (S), BERT (Mix) and every stage-2 run); the
MFT model and the multi-task and adversarial baselines extend it, so every method shares the
same encoder and label classifier, under the same parameter names, and a stage-2 run can load
them from any stage-1 archive.
"""
from typing import Any, Dict, List, NamedTuple, Optional, Sequence

import numpy
import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import TextFieldEmbedder
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.modules.token_embedders import PretrainedTransformerEmbedder
from allennlp.nn import InitializerApplicator
from allennlp.training.metrics import CategoricalAccuracy

from mft_plugin.data.domain_field import DOMAIN_NAMESPACE, NO_DOMAIN
from mft_plugin.metrics import PerDomainAccuracy


class EncoderOutput(NamedTuple):
    """What one encoder pass gives the heads."""

    last_layer: torch.Tensor  # (batch, length, d)
    # HuggingFace's hidden_states: index 0 is the embedding layer, index l is layer l.
    hidden_states: Optional[Sequence[torch.Tensor]]
    mask: torch.Tensor  # (batch, length), True for real tokens
    pooler_output: Optional[torch.Tensor]


@Model.register("mft_transformer_classifier")
class TransformerClassifier(Model):
    """
    A pretrained transformer fine-tuned for classification: last-layer [CLS] → dropout →
    linear label classifier, cross-entropy loss. Reports accuracy overall and per domain.

    Registered as a `Model` with name "mft_transformer_classifier".

    # Parameters

    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
        A `basic` embedder with exactly one `pretrained_transformer` token embedder. Its
        HuggingFace model is called directly, so that every layer's output is available.
    dropout : `float`, optional (default = `0.1`)
        Dropout on f(x) before the classifier, as in BERT fine-tuning.
    label_namespace : `str`, optional (default = `"labels"`)
    domain_namespace : `str`, optional (default = `"domain_labels"`)
    keep_pooler : `bool`, optional (default = `False`)
        BERT's pooler is not used by this model (the paper's f(x) is the [CLS] vector itself);
        it is dropped so that every parameter gets a gradient (distributed training needs it).
    bf16 : `bool`, optional (default = `False`)
        Run the encoder under bfloat16 autocast (weights, optimizer and heads stay float32),
        on the CPU or a GPU. On CPUs with AVX512-BF16 a training step is several times faster.
    compile_encoder : `bool`, optional (default = `False`)
        Run the encoder through `torch.compile` (torch 2 only). The first batches of each new
        shape pay for compilation (tens of seconds on a CPU), so it pays off in long runs.
        The weights and the archive are the same as without it.
    compile_options : `Dict[str, Any]`, optional (default = `None`)
        Keyword arguments of `torch.compile`, e.g. `{"mode": "max-autotune"}` on a GPU, or
        `{"dynamic": true}` for batches of many lengths.
    initializer : `InitializerApplicator`, optional
        Applied to the whole model (use it, with `"mft_stage1"`, to load a stage-1 encoder and
        label classifier; `from_params` hands the model's vocabulary to that initializer).
    """

    default_predictor = "mft_classifier"

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        dropout: float = 0.1,
        label_namespace: str = "labels",
        domain_namespace: str = DOMAIN_NAMESPACE,
        keep_pooler: bool = False,
        bf16: bool = False,
        compile_encoder: bool = False,
        compile_options: Optional[Dict[str, Any]] = None,
        initializer: Optional[InitializerApplicator] = None,
        **kwargs,
    ) -> None:
        super().__init__(vocab, **kwargs)
        self.bf16 = bf16
        self._text_field_embedder = text_field_embedder
        self._embedder_key = _single_transformer_key(text_field_embedder)
        transformer = self.transformer
        if not keep_pooler and getattr(transformer, "pooler", None) is not None:
            transformer.pooler = None
        self._uses_token_types = getattr(transformer.config, "type_vocab_size", 0) > 1
        self.hidden_size: int = transformer.config.hidden_size
        self.num_layers: int = transformer.config.num_hidden_layers

        self._label_namespace = label_namespace
        self._domain_namespace = domain_namespace
        self.num_labels = vocab.get_vocab_size(label_namespace)
        self.domain_names: List[str] = [
            vocab.get_token_from_index(index, domain_namespace)
            for index in range(vocab.get_vocab_size(domain_namespace))
        ]
        self._dropout = torch.nn.Dropout(dropout)
        self._label_classifier = torch.nn.Linear(self.hidden_size, self.num_labels)

        self._accuracy = CategoricalAccuracy()
        self._domain_accuracy = PerDomainAccuracy(self.domain_names)
        if initializer is not None:
            initializer(self)
        # The compiled forward is a function, not a submodule: it runs the transformer's own
        # parameters, so the state dict (and every archive) is the same with or without it.
        self._compiled_encoder = (
            compile_module_forward(transformer, compile_options or {}) if compile_encoder else None
        )

    # ----------------------------------------------------------------------------------------
    # Pieces shared by every method
    @property
    def transformer(self) -> torch.nn.Module:
        """The HuggingFace model inside the embedder (not a second registered submodule)."""
        embedder = getattr(self._text_field_embedder, f"token_embedder_{self._embedder_key}")
        return embedder.transformer_model

    def encode(self, tokens: TextFieldTensors, all_layers: bool = False) -> EncoderOutput:
        """One pass of the encoder; `all_layers` also returns every layer's output."""
        inputs = tokens[self._embedder_key]
        mask = inputs["mask"]
        # Encoders without segment embeddings (RoBERTa-style, ModernBERT) take no type ids;
        # ModernBERT's forward does not even accept the keyword.
        type_ids = {"token_type_ids": inputs.get("type_ids")} if self._uses_token_types else {}
        device_type = inputs["token_ids"].device.type
        with torch.autocast(device_type=device_type, dtype=torch.bfloat16, enabled=self.bf16):
            output = (self._compiled_encoder or self.transformer)(
                input_ids=inputs["token_ids"],
                attention_mask=mask.float(),
                output_hidden_states=all_layers,
                return_dict=True,
                **type_ids,
            )
        # The heads and losses work in float32 whatever the encoder ran in.
        pooler_output = getattr(output, "pooler_output", None)
        return EncoderOutput(
            last_layer=output.last_hidden_state.float(),
            hidden_states=tuple(h.float() for h in output.hidden_states) if all_layers else None,
            mask=mask,
            pooler_output=pooler_output.float() if pooler_output is not None else None,
        )

    def classify(self, last_layer: torch.Tensor) -> torch.Tensor:
        """Label logits τ(f(x)) from f(x), the last layer's [CLS] vector."""
        return self._label_classifier(self._dropout(last_layer[:, 0]))

    @staticmethod
    def predictions(logits: torch.Tensor) -> Dict[str, torch.Tensor]:
        return {"logits": logits, "probs": F.softmax(logits, dim=-1)}

    def update_accuracy(
        self, logits: torch.Tensor, label: torch.Tensor, domain: Optional[torch.Tensor]
    ) -> None:
        self._accuracy(logits, label)
        if domain is not None and self.domain_names:
            self._domain_accuracy(logits, label, domain)

    def require_known_domains(
        self, domain: torch.Tensor, metadata: Optional[List[Dict]], purpose: str
    ) -> None:
        """
        Fail, naming them, when instances have a domain the model does not know (one absent
        from its vocabulary, indexed `NO_DOMAIN` by `DomainField`). `purpose` says what needs
        the domain, e.g. "BERT (MTL) chooses its classifier by domain". The metrics and the
        label classifier need no domain, so only the parts that do call this.
        """
        unknown_rows = (domain == NO_DOMAIN).nonzero().flatten().tolist()
        if not unknown_rows:
            return
        names = sorted(
            {str(metadata[row].get("domain")) for row in unknown_rows} if metadata else set()
        )
        raise ConfigurationError(
            f"{purpose}, but domain(s) {names or '(unnamed)'} are not among the domains the "
            f"model knows ({sorted(self.domain_names)})."
        )

    # ----------------------------------------------------------------------------------------
    # Model API
    def forward(  # type: ignore
        self,
        tokens: TextFieldTensors,
        label: Optional[torch.IntTensor] = None,
        domain: Optional[torch.IntTensor] = None,
        metadata: Optional[List[Dict]] = None,
    ) -> Dict[str, torch.Tensor]:
        """
        # Returns

        `logits` and `probs` (batch, classes), and `loss` (plain cross-entropy) with a label.
        """
        encoded = self.encode(tokens)
        logits = self.classify(encoded.last_layer)
        output = self.predictions(logits)
        if label is not None:
            output["loss"] = F.cross_entropy(logits, label.long())
            self.update_accuracy(logits, label, domain)
        return output

    def make_output_human_readable(
        self, output_dict: Dict[str, torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        """Adds `label` (the argmax class name) and `class_probabilities` ({class: p})."""
        probs = output_dict["probs"]
        if probs.dim() == 1:
            probs = probs.unsqueeze(0)
        names = self.vocab.get_index_to_token_vocabulary(self._label_namespace)
        output_dict["label"] = [names[int(row.argmax())] for row in probs]
        output_dict["class_probabilities"] = [
            {names[index]: float(p) for index, p in enumerate(row)} for row in probs
        ]
        return output_dict

    def forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, numpy.ndarray]]:
        """
        What every predictor calls. AllenNLP runs it under `torch.no_grad()`; a prediction never
        reaches autograd, so inference mode also drops the version counters and view tracking
        that `no_grad` still keeps (a few percent of a forward pass on a CPU).
        """
        with torch.inference_mode():
            return super().forward_on_instances(instances)

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        metrics = {"accuracy": self._accuracy.get_metric(reset)}
        for name, value in self._domain_accuracy.get_metric(reset).items():
            metrics[f"accuracy_{name}"] = value
        return metrics


def compile_module_forward(module: torch.nn.Module, options: Dict[str, Any]):
    """`torch.compile(module.forward, **options)`, or a configuration error on torch 1.x."""
    if not hasattr(torch, "compile"):
        raise ConfigurationError(
            f"compile_encoder needs torch 2 (torch.compile); this is torch {torch.__version__}. "
            "Install the default stack (`make install`) or leave compile_encoder false."
        )
    return torch.compile(module.forward, **options)


def _single_transformer_key(text_field_embedder: TextFieldEmbedder) -> str:
    """The key of the one `PretrainedTransformerEmbedder`, or a configuration error."""
    if not isinstance(text_field_embedder, BasicTextFieldEmbedder):
        raise ConfigurationError(
            "text_field_embedder must be a 'basic' embedder holding one 'pretrained_transformer'."
        )
    embedders = text_field_embedder._token_embedders
    if len(embedders) != 1 or not isinstance(
        next(iter(embedders.values())), PretrainedTransformerEmbedder
    ):
        raise ConfigurationError(
            "text_field_embedder.token_embedders must hold exactly one 'pretrained_transformer' "
            f"embedder; found {sorted(embedders)}."
        )
    return next(iter(embedders))
