"""Loading a stage-1 model's encoder and label classifier into a stage-2 (per-domain) model."""
from typing import Dict, Optional

from allennlp.nn.initializers import Initializer, PretrainedModelInitializer

from mft_plugin.models.multi_task import head_name


@Initializer.register("mft_stage1")
class StageOneInitializer(PretrainedModelInitializer):
    """
    AllenNLP's `pretrained` initializer (weights from a `.th` file or a `model.tar.gz`) that
    knows where each stage-1 method keeps the label classifier of a domain: MFT, BERT (Mix) and
    BERT (Adv) have one `_label_classifier`; BERT (MTL) has `_domain_classifiers.<domain>`.
    With `domain` given and no single classifier in the weights, the domain's head is loaded as
    the stage-2 model's `_label_classifier`. Apply it to the encoder and the label classifier
    only (the regex `_text_field_embedder\\..*|_label_classifier\\..*`), so the MFT heads (E_D,
    δ_l), the adversary and the other domains' heads stay behind.

    Registered as an `Initializer` with name "mft_stage1".

    # Parameters

    weights_file_path : `str`
        A stage-1 `model.tar.gz` (or its `best.th`).
    domain : `str`, optional
        The domain of the stage-2 model.
    parameter_name_overrides : `Dict[str, str]`, optional
        As for `pretrained`; these win over the automatic choice.
    """

    def __init__(
        self,
        weights_file_path: str,
        domain: Optional[str] = None,
        parameter_name_overrides: Optional[Dict[str, str]] = None,
    ) -> None:
        super().__init__(weights_file_path, parameter_name_overrides)
        if domain is not None and "_label_classifier.weight" not in self.weights:
            for suffix in ("weight", "bias"):
                source = f"_domain_classifiers.{head_name(domain)}.{suffix}"
                if source in self.weights:
                    self.parameter_name_overrides.setdefault(f"_label_classifier.{suffix}", source)
