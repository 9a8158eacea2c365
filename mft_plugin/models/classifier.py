"""
Fine-tuning a BERT-family encoder for classification, the way the paper does it: the last
layer's [CLS] vector f(x), dropout, one linear layer over the classes (§3.2, Devlin et al.).
The model section takes the keys of AllenNLP's `basic_classifier` too (`seq2seq_encoder`,
`seq2vec_encoder`, `feedforward`, `num_labels`, `namespace`, `regularizer`), in its order:
embed → seq2seq → seq2vec (f(x)) → dropout → feedforward → label classifier, so that a
`basic_classifier` config switches to any method of the plugin by its `type` alone.

`TransformerClassifier` is the plain model (BERT (S), BERT (Mix) and every stage-2 run); the
MFT model and the multi-task and adversarial baselines extend it, so every method shares the
same encoder and label classifier, under the same parameter names, and a stage-2 run can load
them from any stage-1 archive.
"""
import inspect
from typing import Any, Dict, List, NamedTuple, Optional, Sequence, Tuple

import numpy
import torch
import torch.nn.functional as F
from allennlp.common.checks import ConfigurationError, check_dimensions_match
from allennlp.data import Instance, TextFieldTensors, Vocabulary
from allennlp.models.model import Model
from allennlp.modules import FeedForward, Seq2SeqEncoder, Seq2VecEncoder, TextFieldEmbedder
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.modules.token_embedders import PretrainedTransformerEmbedder
from allennlp.nn import InitializerApplicator, RegularizerApplicator
from allennlp.nn import util as nn_util
from allennlp.nn.parallel import DdpAccelerator

from mft_plugin.data.collate import transformer_collate
from mft_plugin.data.domain_field import DOMAIN_NAMESPACE, NO_DOMAIN
from mft_plugin.metrics import DeviceAccuracy, PerDomainAccuracy


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
    A pretrained transformer fine-tuned for classification: f(x) → dropout → linear label
    classifier, cross-entropy loss. Reports accuracy overall and per domain. f(x) is the
    `seq2vec_encoder`'s output when one is given, the last layer's [CLS] vector otherwise (the
    paper's); with `feedforward`, the classifier reads the feedforward's output. What MFT does to
    the encoder (the skip-layer domain losses, the prototype embedding E(x)) stays on the
    transformer's own hidden states, as in the paper, whatever sits on top of it.

    Every method of the plugin extends this class, so the keys below are every model's keys,
    and the parameter names (`_text_field_embedder`, `_seq2seq_encoder`, `_seq2vec_encoder`,
    `_feedforward`, `_label_classifier`) are the same in every archive. Without the optional
    modules the model, its parameters and its numbers are the paper's. A key the model does not
    take is AllenNLP's "Extra parameters passed to ..." configuration error.

    Registered as a `Model` with name "mft_transformer_classifier".

    # Parameters

    vocab : `Vocabulary`
    text_field_embedder : `TextFieldEmbedder`
        A `basic` embedder with exactly one `pretrained_transformer` token embedder. Its
        HuggingFace model is called directly, so that every layer's output is available.
    dropout : `float`, optional (default = `0.1`)
        Dropout on f(x) before the feedforward (or the classifier), as in BERT fine-tuning.
        `null` or 0: none.
    label_namespace : `str`, optional (default = `"labels"`)
    domain_namespace : `str`, optional (default = `"domain_labels"`)
    keep_pooler : `bool`, optional (default = `False`)
        BERT's pooler is not used by this model (the paper's f(x) is the [CLS] vector itself);
        it is dropped so that every parameter gets a gradient (distributed training needs it).
        (A `bert_pooler` seq2vec_encoder holds a pooler of its own.)
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
    seq2seq_encoder : `Seq2SeqEncoder`, optional (default = `None`)
        Runs over the transformer's last layer (input dim: its hidden size), before f(x).
    seq2vec_encoder : `Seq2VecEncoder`, optional (default = `None`)
        Gives f(x) from the (seq2seq-encoded) last layer, e.g. `cls_pooler` (the same vector
        as without it) or `bert_pooler` (BERT's pooler, tanh(W·[CLS])). Without it f(x) is the
        [CLS] position.
    feedforward : `FeedForward`, optional (default = `None`)
        Applied after the dropout; the label classifier (and BERT (MTL)'s per-domain heads and
        BERT (Adv)'s domain classifier) read its output.
    num_labels : `int`, optional (default = the size of `label_namespace`)
        As in `basic_classifier`. With labels in the vocabulary it must equal their number
        (the heads, typicality and stage 2 match rows to label names); with integer labels the
        vocabulary does not hold (`skip_indexing`), it sizes the classifier and the labels are
        named "0", "1", ....
    namespace : `str`, optional (default = `"tokens"`)
        `basic_classifier`'s namespace of the input tokens, accepted so that its configs carry
        over. It changes nothing here: the transformer's wordpieces are indexed by its own
        tokenizer, and the output lists no tokens.
    regularizer : `RegularizerApplicator`, optional (default = `None`)
        As for every AllenNLP `Model`: its penalty is added to the training loss by the trainer.
    metrics_read_interval : `int`, optional (default = `1`)
        AllenNLP's trainer reads `get_metrics()` after every training batch, for its progress
        bar; each read copies the metrics from the device, which waits for the GPU to finish
        the optimizer step. With N > 1, only every Nth of these reads copies (the others repeat
        the last values, so the progress bar and `on_batch` callbacks see metrics up to N - 1
        batches old); a read with `reset` (the end of an epoch) and every read outside training
        are exact. The metrics of every epoch are the same whatever N is.
    """

    default_predictor = "mft_classifier"
    # Keyword arguments a subclass sets itself, so its configuration may not (see
    # `__init_subclass__`).
    _fixed_init_parameters: Tuple[str, ...] = ()

    def __init__(
        self,
        vocab: Vocabulary,
        text_field_embedder: TextFieldEmbedder,
        dropout: Optional[float] = 0.1,
        label_namespace: str = "labels",
        domain_namespace: str = DOMAIN_NAMESPACE,
        keep_pooler: bool = False,
        bf16: bool = False,
        compile_encoder: bool = False,
        compile_options: Optional[Dict[str, Any]] = None,
        initializer: Optional[InitializerApplicator] = None,
        seq2seq_encoder: Optional[Seq2SeqEncoder] = None,
        seq2vec_encoder: Optional[Seq2VecEncoder] = None,
        feedforward: Optional[FeedForward] = None,
        num_labels: Optional[int] = None,
        namespace: str = "tokens",
        regularizer: Optional[RegularizerApplicator] = None,
        metrics_read_interval: int = 1,
        serialization_dir: Optional[str] = None,
        ddp_accelerator: Optional[DdpAccelerator] = None,
    ) -> None:
        super().__init__(
            vocab,
            regularizer=regularizer,  # type: ignore[arg-type]  # Model's None default is untyped
            serialization_dir=serialization_dir,
            ddp_accelerator=ddp_accelerator,
        )
        self.bf16 = bf16
        self._text_field_embedder = text_field_embedder
        self._embedder_key = _single_transformer_key(text_field_embedder)
        transformer = self.transformer
        if not keep_pooler and getattr(transformer, "pooler", None) is not None:
            transformer.pooler = None  # type: ignore[assignment]  # a HuggingFace attribute
        # A HuggingFace config, which nn.Module's __getattr__ types as Tensor | Module.
        config: Any = transformer.config
        self._uses_token_types = getattr(config, "type_vocab_size", 0) > 1
        self.hidden_size: int = config.hidden_size
        self.num_layers: int = config.num_hidden_layers

        # basic_classifier's pipeline; modules not given are no submodules at all, so the state
        # dict (and every archive made without them) is unchanged.
        self._seq2seq_encoder = seq2seq_encoder
        self._seq2vec_encoder = seq2vec_encoder
        self._feedforward = feedforward
        self.sentence_vector_dim = self._check_pipeline_dimensions()
        self.classifier_input_dim: int = (
            feedforward.get_output_dim() if feedforward is not None else self.sentence_vector_dim
        )
        self._namespace = namespace

        self._label_namespace = label_namespace
        self._domain_namespace = domain_namespace
        self.num_labels = _number_of_labels(vocab, label_namespace, num_labels)
        self.domain_names: List[str] = [
            vocab.get_token_from_index(index, domain_namespace)
            for index in range(vocab.get_vocab_size(domain_namespace))
        ]
        self._dropout = torch.nn.Dropout(dropout or 0.0)
        self._label_classifier = torch.nn.Linear(self.classifier_input_dim, self.num_labels)

        self._accuracy = DeviceAccuracy()
        self._domain_accuracy = PerDomainAccuracy(self.domain_names)
        if metrics_read_interval < 1:
            raise ConfigurationError(
                f"metrics_read_interval must be at least 1, got {metrics_read_interval}."
            )
        self.metrics_read_interval = metrics_read_interval
        self._metrics_reads_skipped = 0
        self._last_metrics: Optional[Dict[str, float]] = None
        if initializer is not None:
            initializer(self)
        # The compiled forward is a function, not a submodule: it runs the transformer's own
        # parameters, so the state dict (and every archive) is the same with or without it.
        self._compiled_encoder = (
            compile_module_forward(transformer, compile_options or {}) if compile_encoder else None
        )

    def __init_subclass__(cls, **kwargs) -> None:
        """
        Gives a subclass's `__init__(self, ..., **kwargs)` (the keyword arguments handed on to
        this class) the explicit signature that `from_params` reads: its own parameters, then
        the parent's, keyword-only, less `_fixed_init_parameters`. AllenNLP passes every key
        it does not know on to a constructor that takes `**kwargs`, where it fails as a bare
        `TypeError`; with no `**kwargs` in the signature, `from_params` reports it as
        "Extra parameters passed to <class>: {key: ...}" instead. A call from Python is
        unchanged.
        """
        super().__init_subclass__(**kwargs)
        if "__init__" in cls.__dict__:
            cls.__init__.__signature__ = _explicit_init_signature(cls)  # type: ignore[attr-defined]

    def _check_pipeline_dimensions(self) -> int:
        """The dimension of f(x); a configuration error where two modules do not fit."""
        dim = self.hidden_size
        if self._seq2seq_encoder is not None:
            check_dimensions_match(
                dim,
                self._seq2seq_encoder.get_input_dim(),
                "the transformer's hidden size",
                "seq2seq_encoder input dim",
            )
            dim = self._seq2seq_encoder.get_output_dim()
        if self._seq2vec_encoder is not None:
            check_dimensions_match(
                dim,
                self._seq2vec_encoder.get_input_dim(),
                "seq2seq_encoder output dim"
                if self._seq2seq_encoder is not None
                else "the transformer's hidden size",
                "seq2vec_encoder input dim",
            )
            dim = self._seq2vec_encoder.get_output_dim()
        if self._feedforward is not None:
            check_dimensions_match(
                dim, self._feedforward.get_input_dim(), "f(x) dim", "feedforward input dim"
            )
        return dim

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

    def sentence_vector(self, encoded: EncoderOutput) -> torch.Tensor:
        """
        f(x): the `seq2vec_encoder`'s output over the last layer (after the `seq2seq_encoder`,
        if any), or the [CLS] position of that sequence without one.
        """
        sequence = encoded.last_layer
        if self._seq2seq_encoder is not None:
            sequence = self._seq2seq_encoder(sequence, mask=encoded.mask)
        if self._seq2vec_encoder is not None:
            return self._seq2vec_encoder(sequence, mask=encoded.mask)
        return sequence[:, 0]

    def project(self, vector: torch.Tensor) -> torch.Tensor:
        """The feedforward's output on `vector` (`vector` itself without a feedforward)."""
        return self._feedforward(vector) if self._feedforward is not None else vector

    def classifier_input(self, vector: torch.Tensor) -> torch.Tensor:
        """What the label classifier reads: f(x) → dropout → feedforward."""
        return self.project(self._dropout(vector))

    def classify(self, encoded: EncoderOutput) -> torch.Tensor:
        """Label logits τ(f(x))."""
        return self._label_classifier(self.classifier_input(self.sentence_vector(encoded)))

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
    def forward(
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
        logits = self.classify(self.encode(tokens))
        output = self.predictions(logits)
        if label is not None:
            output["loss"] = F.cross_entropy(logits, label.long())
            self.update_accuracy(logits, label, domain)
        return output

    def label_names(self) -> List[str]:
        """The label of each row of `probs` and `logits`, in index order."""
        names = self.vocab.get_index_to_token_vocabulary(self._label_namespace)
        return [names.get(index, str(index)) for index in range(self.num_labels)]

    def make_output_human_readable(
        self, output_dict: Dict[str, torch.Tensor]
    ) -> Dict[str, torch.Tensor]:
        """
        Adds, first, `label` (the argmax class name), `class_probabilities` ({class: p}) and
        `labels` (the class names in the order of `probs` and `logits`, which follow the
        vocabulary's indexes, not the names: `probs[i]` is the probability of `labels[i]`).
        """
        probs = output_dict["probs"]
        if probs.dim() == 1:
            probs = probs.unsqueeze(0)
        names = self.label_names()
        # One copy to Python numbers for the whole batch, not one small tensor op per number.
        rows = probs.tolist()
        readable: Dict[str, Any] = {
            "label": [names[index] for index in probs.argmax(dim=-1).tolist()],
            "class_probabilities": [
                {names[index]: p for index, p in enumerate(row)} for row in rows
            ],
            "labels": [list(names) for _ in rows],
        }
        readable.update((key, value) for key, value in output_dict.items() if key not in readable)
        return readable

    def forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, numpy.ndarray]]:
        """
        What every predictor calls. AllenNLP runs it under `torch.no_grad()`; a prediction never
        reaches autograd, so inference mode also drops the version counters and view tracking
        that `no_grad` still keeps (a few percent of a forward pass on a CPU).
        """
        with torch.inference_mode():
            return self._forward_on_instances(instances)

    def _forward_on_instances(self, instances: List[Instance]) -> List[Dict[str, numpy.ndarray]]:
        """
        AllenNLP's `Model.forward_on_instances`, with the batch collated by
        `transformer_collate` (the same tensors as `Batch.as_tensor_dict`, padded a key at a time
        rather than instance by instance) and moved to the model's device without a walk
        over every parameter and every metadata entry.
        """
        batch_size = len(instances)
        for instance in instances:  # `Batch.index_instances`; the collator checks the fields
            instance.index_fields(self.vocab)
        # The device of the first parameter (AllenNLP's `_get_prediction_device` hashes every
        # parameter on every call); metadata lists stay where they are.
        device = nn_util.get_device_of(next(self.parameters()))
        model_input = {
            name: value if isinstance(value, list) else nn_util.move_to_device(value, device)
            for name, value in transformer_collate(instances).items()
        }
        outputs = self.make_output_human_readable(self(**model_input))
        separated: List[Dict[str, numpy.ndarray]] = [{} for _ in instances]
        output: Any  # a tensor, then its numpy array; or a list
        for name, output in list(outputs.items()):
            if isinstance(output, torch.Tensor):
                if output.dim() == 0:
                    output = output.unsqueeze(0)
                if output.size(0) != batch_size:
                    self._maybe_warn_for_unseparable_batches(name)
                    continue
                output = output.detach().cpu().numpy()
            elif len(output) != batch_size:
                self._maybe_warn_for_unseparable_batches(name)
                continue
            for instance_output, batch_element in zip(separated, output):
                instance_output[name] = batch_element
        return separated

    def get_metrics(self, reset: bool = False) -> Dict[str, float]:
        """`read_metrics`, or in training its last values between reads (`metrics_read_interval`)."""
        if reset or not self.training or self.metrics_read_interval == 1:
            self._last_metrics = None
            return self.read_metrics(reset)
        if (
            self._last_metrics is None
            or self._metrics_reads_skipped + 1 >= self.metrics_read_interval
        ):
            self._metrics_reads_skipped = 0
            self._last_metrics = self.read_metrics(reset=False)
        else:
            self._metrics_reads_skipped += 1
        return dict(self._last_metrics)

    def read_metrics(self, reset: bool = False) -> Dict[str, float]:
        """The metrics from their counters (one copy from the device per metric)."""
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


def _number_of_labels(vocab: Vocabulary, label_namespace: str, num_labels: Optional[int]) -> int:
    """The classifier's size: the labels of the vocabulary, or `num_labels` where it has none."""
    in_vocabulary = vocab.get_vocab_size(label_namespace)
    if num_labels is None:
        return in_vocabulary
    if in_vocabulary and num_labels != in_vocabulary:
        raise ConfigurationError(
            f"num_labels is {num_labels}, but the vocabulary namespace {label_namespace!r} holds "
            f"{in_vocabulary} labels; leave num_labels out (it defaults to that number)."
        )
    if num_labels < 1:
        raise ConfigurationError(f"num_labels must be at least 1, got {num_labels}.")
    return num_labels


def _explicit_init_signature(cls: type) -> inspect.Signature:
    """`cls.__init__`'s own parameters, then its parent's keyword arguments (see above)."""
    own = inspect.signature(cls.__dict__["__init__"])
    kept = [
        parameter
        for parameter in own.parameters.values()
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    ]
    if len(kept) == len(own.parameters):  # no **kwargs: nothing is handed on
        return own
    names = {parameter.name for parameter in kept}
    fixed = set(getattr(cls, "_fixed_init_parameters", ()))
    parent = inspect.signature(cls.__mro__[1].__init__)  # type: ignore[misc]
    inherited = [
        parameter.replace(kind=parameter.KEYWORD_ONLY)
        for name, parameter in parent.parameters.items()
        if name not in names
        and name not in fixed
        and parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    ]
    positional = [p for p in kept if p.kind != p.KEYWORD_ONLY]
    keyword_only = [p for p in kept if p.kind == p.KEYWORD_ONLY]
    return own.replace(parameters=positional + keyword_only + inherited)


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
