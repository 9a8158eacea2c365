"""
Predictors for the three tasks: JSON lines in, the predicted label and class probabilities out.

    {"premise": "...", "hypothesis": "...", "domain": "fiction"}      (NLI)
    {"text": "...", "domain": "books"}                                  (reviews)
    {"hyponym": "oak", "hypernym": "tree", "domain": "plant"}           (term pairs)

`domain` is optional everywhere: the models predict from the text alone, and a domain the model
has not seen is indexed as "no domain" (`DomainField`), with a warning that names it. BERT
(MTL), which picks its classifier by domain, refuses both. `allennlp predict ARCHIVE
input.jsonl` picks `mft_classifier` by itself, which takes its keys from the archive's dataset
reader; a malformed line is reported with the file's own line number (see `input_lines`).
"""
import json
from typing import Dict, Iterator, List, Tuple

import numpy
from allennlp.common.util import JsonDict
from allennlp.data import Instance
from allennlp.data.fields import LabelField
from allennlp.predictors.predictor import Predictor

from mft_plugin.data.common import MultiDomainReader


class MalformedInputError(ValueError):
    """A prediction input line that is not a usable JSON object; names the line."""


@Predictor.register("mft_classifier")
class MultiDomainClassifierPredictor(Predictor):
    """
    Predictor of every model of this package. The input keys are the reader's
    `predictor_fields`, and optionally `"domain"` (a string); the output adds `label` and
    `class_probabilities` to the model's `logits` and `probs`.

    A malformed line is reported by where it is: `allennlp predict` reads its input file
    through `load_input_line`, which names the file and its physical line
    (`input.jsonl:4: malformed JSON`, or `<stdin>:4: ...`). `load_line`, AllenNLP's hook, can
    only count the lines it is given, `input line N`: fine for a caller that hands over every
    line, but `allennlp predict` drops blank lines before they reach it.

    Registered as a `Predictor` with name "mft_classifier".
    """

    # Fixed by the task-specific subclasses; empty means "ask the dataset reader".
    fields: Tuple[str, ...] = ()
    # Instances per forward pass (the configs' training batch size).
    forward_batch_size: int = 32

    def __init__(self, model, dataset_reader, frozen: bool = True) -> None:
        super().__init__(model, dataset_reader, frozen)
        if not isinstance(dataset_reader, MultiDomainReader):
            raise ValueError(
                f"{type(self).__name__} needs one of this package's readers, not "
                f"{type(dataset_reader).__name__}."
            )
        self._fields = self.fields or dataset_reader.predictor_fields
        if tuple(dataset_reader.predictor_fields) != tuple(self._fields):
            raise ValueError(
                f"{type(self).__name__} reads {self._fields}, but the archive's reader "
                f"({type(dataset_reader).__name__}) takes {dataset_reader.predictor_fields}."
            )
        self._lines_read = 0

    def load_line(self, line: str) -> JsonDict:
        """Parse and check one input line, named `input line N` by counting the calls."""
        self._lines_read += 1
        return self.load_input_line(line, f"input line {self._lines_read}")

    def load_input_line(self, line: str, where: str) -> JsonDict:
        """Parse and check one input line; `where` (e.g. `input.jsonl:4`) starts any error."""
        try:
            json_dict = json.loads(line)
        except json.JSONDecodeError as error:
            raise MalformedInputError(f"{where}: malformed JSON ({error.msg})") from None
        if not isinstance(json_dict, dict):
            raise MalformedInputError(f"{where}: expected a JSON object")
        self._check_keys(json_dict, where)
        return json_dict

    def _check_keys(self, json_dict: JsonDict, where: str) -> None:
        missing = [key for key in self._fields if not isinstance(json_dict.get(key), str)]
        if missing:
            raise MalformedInputError(
                f"{where}: missing or non-string key(s) {missing}; expected {list(self._fields)} "
                'and optionally "domain"'
            )
        domain = json_dict.get("domain")
        if domain is not None and not isinstance(domain, str):
            raise MalformedInputError(
                f'{where}: "domain" must be a string (one domain name), not {json.dumps(domain)}'
            )

    def _json_to_instance(self, json_dict: JsonDict) -> Instance:
        self._check_keys(json_dict, "input")
        return self._dataset_reader.text_to_instance(  # type: ignore
            *(json_dict[key] for key in self._fields), domain=json_dict.get("domain")
        )

    def predict_batch_instance(self, instances: List[Instance]) -> List[JsonDict]:
        """
        Predicts `instances` in forward passes of at most `forward_batch_size`, each of inputs
        of similar length (less padding, as in training), and returns the outputs in the
        input's order: `allennlp predict --batch-size 512` sorts 512 inputs at a time.

        An input without a domain has no `domain` field, and AllenNLP's `Batch` refuses
        instances with different fields, so inputs with and without a domain go into separate
        passes. (A domain the model does not know keeps its field, indexed as "no domain".)
        """
        order = sorted(
            range(len(instances)),
            key=lambda index: ("domain" in instances[index].fields, _length(instances[index])),
        )
        outputs: List[JsonDict] = [{}] * len(instances)
        for indices in _forward_batches(order, instances, self.forward_batch_size):
            group = super().predict_batch_instance([instances[index] for index in indices])
            for index, output in zip(indices, group):
                outputs[index] = output
        return outputs

    def predictions_to_labeled_instances(
        self, instance: Instance, outputs: Dict[str, numpy.ndarray]
    ) -> List[Instance]:
        new_instance = instance.duplicate()
        label = numpy.argmax(outputs["probs"])
        new_instance.add_field("label", LabelField(int(label), skip_indexing=True))
        return [new_instance]


def _length(instance: Instance) -> int:
    return len(instance["tokens"])  # type: ignore[arg-type]


def _forward_batches(order: List[int], instances: List[Instance], size: int) -> Iterator[List[int]]:
    """Consecutive runs of `order` of at most `size`, none mixing domain and no domain."""
    batch: List[int] = []
    for index in order:
        if batch and (
            len(batch) == size
            or ("domain" in instances[batch[0]].fields) != ("domain" in instances[index].fields)
        ):
            yield batch
            batch = []
        batch.append(index)
    if batch:
        yield batch


@Predictor.register("mft_nli")
class NliPredictor(MultiDomainClassifierPredictor):
    """`{"premise", "hypothesis", "domain"?}` → entailment / neutral / contradiction."""

    fields = ("premise", "hypothesis")


@Predictor.register("mft_reviews")
class ReviewPredictor(MultiDomainClassifierPredictor):
    """`{"text", "domain"?}` → positive / negative."""

    fields = ("text",)


@Predictor.register("mft_term_pairs")
class TermPairPredictor(MultiDomainClassifierPredictor):
    """`{"hyponym", "hypernym", "domain"?}` → 1 (is-a) / 0."""

    fields = ("hyponym", "hypernym")
