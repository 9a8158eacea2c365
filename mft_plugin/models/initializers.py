"""Loading a stage-1 model's encoder and label classifier into a stage-2 (per-domain) model."""
from typing import Dict, List, Optional

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.nn.initializers import Initializer, PretrainedModelInitializer

from mft_plugin.models.multi_task import head_name
from mft_plugin.models.stage1_archive import label_names, read_stage1_archive

# The stage-2 parameters whose rows are labels, in the order of the label vocabulary.
LABEL_CLASSIFIER_PARAMETERS = ("_label_classifier.weight", "_label_classifier.bias")


@Initializer.register("mft_stage1")
class StageOneInitializer(PretrainedModelInitializer):
    """
    AllenNLP's `pretrained` initializer (weights from a `.th` file or a `model.tar.gz`) that
    knows where each stage-1 method keeps the label classifier of a domain: MFT, BERT (Mix) and
    BERT (Adv) have one `_label_classifier`; BERT (MTL) has `_domain_classifiers.<domain>`.
    With `domain` given and no single classifier in the weights, the domain's head is loaded as
    the stage-2 model's `_label_classifier`. Apply it to the encoder (with the optional
    `_seq2seq_encoder`, `_seq2vec_encoder` and `_feedforward` on top of it) and the label
    classifier only (the regex `_text_field_embedder\\..*|_seq2seq_encoder\\..*|`
    `_seq2vec_encoder\\..*|_feedforward\\..*|_label_classifier\\..*` of
    training_configs/common.libsonnet), so the MFT heads (E_D, δ_l), the adversary and the
    other domains' heads stay behind. A module the stage-2 model has and the archive lacks is a
    `ConfigurationError` naming the parameter.

    The label classifier's rows are matched to labels by name: row k of the stage-2 classifier
    is the stage-1 row of the stage-2 model's label k, whatever order each vocabulary put the
    labels in (the stage-2 data's first-seen order may differ from stage 1's). Label sets that
    differ (an archive of another task) are a `ConfigurationError`. Problems with the archive
    itself (missing, truncated, without weights or vocabulary) name the archive given.

    Registered as an `Initializer` with name "mft_stage1".

    # Parameters

    weights_file_path : `str`
        A stage-1 `model.tar.gz` (or its serialization directory, or its `best.th` with
        `vocabulary/` beside it).
    domain : `str`, optional
        The domain of the stage-2 model.
    parameter_name_overrides : `Dict[str, str]`, optional
        As for `pretrained`; these win over the automatic choice.
    vocab : `Vocabulary`, optional
        The stage-2 model's vocabulary. A configuration never sets it: `Model.from_params`
        hands the model's vocabulary down to its initializer. Built in code, pass it; without it
        the label classifier is not loaded (an error says so).
    label_namespace : `str`, optional (default = `"labels"`)
        The label namespace, the same in both models.
    """

    def __init__(
        self,
        weights_file_path: str,
        domain: Optional[str] = None,
        parameter_name_overrides: Optional[Dict[str, str]] = None,
        vocab: Optional[Vocabulary] = None,
        label_namespace: str = "labels",
    ) -> None:
        # Not `super().__init__`: it reports a truncated or incomplete archive with the paths
        # of its temporary extraction. The attributes are the ones it sets.
        archive = read_stage1_archive(weights_file_path)
        self.archive_path = str(weights_file_path)
        self.weights: Dict[str, torch.Tensor] = archive.weights  # type: ignore[assignment]
        self.parameter_name_overrides = dict(parameter_name_overrides or {})
        self.label_namespace = label_namespace
        self.stage1_labels: Optional[List[str]] = (
            label_names(archive.vocabulary, label_namespace) if archive.vocabulary else None
        )
        self.stage2_labels: Optional[List[str]] = (
            label_names(vocab, label_namespace) if vocab is not None else None
        )
        if domain is not None and "_label_classifier.weight" not in self.weights:
            for suffix in ("weight", "bias"):
                source = f"_domain_classifiers.{head_name(domain)}.{suffix}"
                if source in self.weights:
                    self.parameter_name_overrides.setdefault(f"_label_classifier.{suffix}", source)

    def __call__(self, tensor: torch.Tensor, parameter_name: str, **kwargs) -> None:  # type: ignore[override]
        source_name = self.parameter_name_overrides.get(parameter_name, parameter_name)
        if source_name not in self.weights:
            raise ConfigurationError(self._missing_parameter_message(parameter_name, source_name))
        source = self.weights[source_name]
        if parameter_name in LABEL_CLASSIFIER_PARAMETERS:
            source = source[self._stage1_rows_of_stage2_labels(source_name, source)]
        if tensor.size() != source.size():
            raise ConfigurationError(
                f"The stage-1 archive {self.archive_path} has {source_name} of size "
                f"{tuple(source.size())}, but the stage-2 model's {parameter_name} has size "
                f"{tuple(tensor.size())}: stage 2 must use the stage-1 encoder."
            )
        tensor.data.copy_(source.data)

    def _stage1_rows_of_stage2_labels(self, source_name: str, source: torch.Tensor) -> List[int]:
        """Index k: the stage-1 row of the stage-2 label k."""
        if self.stage2_labels is None:
            raise ConfigurationError(
                "The mft_stage1 initializer loads the label classifier only with the stage-2 "
                "model's vocabulary, to match its rows to labels by name: build it through "
                "from_params (the model hands its vocabulary down) or pass `vocab`."
            )
        if self.stage1_labels is None:
            raise ConfigurationError(
                f"The stage-1 weights file {self.archive_path} has no vocabulary/ folder beside "
                "it, so the rows of its label classifier cannot be matched to labels: give the "
                "stage-1 model.tar.gz instead."
            )
        stage1, stage2 = self.stage1_labels, self.stage2_labels
        if set(stage1) != set(stage2):
            if set(stage2) < set(stage1):
                advice = (
                    "The stage-2 data holds only some of them: use the stage-1 vocabulary, "
                    f'"vocabulary": {{"type": "mft_stage1", "archive": "{self.archive_path}"}} '
                    "(as training_configs/common.libsonnet does)."
                )
            else:
                advice = (
                    "Stage 2 continues the stage-1 task: start it from a stage-1 archive "
                    "trained on this task's data."
                )
            raise ConfigurationError(
                f"The stage-1 archive {self.archive_path} classifies into the labels {stage1} "
                f"(namespace {self.label_namespace!r}), but the stage-2 model's labels are "
                f"{stage2}. {advice}"
            )
        if source.size(0) != len(stage1):
            raise ConfigurationError(
                f"The stage-1 archive {self.archive_path} has {source_name} with "
                f"{source.size(0)} rows but {len(stage1)} labels in namespace "
                f"{self.label_namespace!r}."
            )
        return [stage1.index(label) for label in stage2]

    def _missing_parameter_message(self, parameter_name: str, source_name: str) -> str:
        message = (
            f"The stage-1 archive {self.archive_path} has no parameter {source_name!r} for the "
            f"stage-2 model's {parameter_name!r}."
        )
        heads = sorted(
            {
                name[len("_domain_classifiers.") :].rsplit(".", 1)[0]
                for name in self.weights
                if name.startswith("_domain_classifiers.")
            }
        )
        if parameter_name in LABEL_CLASSIFIER_PARAMETERS and heads:
            message += (
                f" It is a BERT (MTL) archive with a classifier per domain ({', '.join(heads)}):"
                " set the initializer's `domain` (MFT_DOMAIN) to one of them, or, for a domain"
                " it has no head for, apply the initializer to the encoder only (the regex"
                " `_text_field_embedder\\..*`, with `|_seq2vec_encoder\\..*|_feedforward\\..*` where"
                " the model has them), so that the label classifier starts afresh, as"
                " single_domain(..., stage1_label_classifier=false) in"
                " training_configs/common.libsonnet does."
            )
        return message
