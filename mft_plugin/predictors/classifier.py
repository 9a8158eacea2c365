"""
Predictors for the three tasks and for any reader with a `text_to_instance`: JSON lines in,
the predicted label and class probabilities out.

    {"premise": "...", "hypothesis": "...", "domain": "fiction"}      (NLI)
    {"text": "...", "domain": "books"}                                  (reviews)
    {"hyponym": "oak", "hypernym": "tree", "domain": "plant"}           (term pairs)

`domain` is optional everywhere: the models predict from the text alone, and a domain the model
has not seen is indexed as "no domain" (`DomainField`), with a warning that names it. BERT
(MTL), which picks its classifier by domain, refuses both. `allennlp predict ARCHIVE
input.jsonl` picks `mft_classifier` by itself, which takes its keys from the archive's dataset
reader; a malformed line is reported with the file's own line number (see `input_lines`).
With a reader of another package the keys are the parameters of its `text_to_instance`.

The output starts with `label`, `class_probabilities` ({label: p}) and `labels`, the label
names in the order of the index-ordered `probs` and `logits` (kept for AllenNLP's tools):
`probs[i]` is the probability of `labels[i]`, not of the label named `i`.
"""
import inspect
import json
from typing import Dict, Iterator, List, Optional, Tuple

import numpy
from allennlp.common.util import JsonDict
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import LabelField
from allennlp.predictors.predictor import Predictor

from mft_plugin.data.common import MultiDomainReader
from mft_plugin.predictors.json_outputs import json_ready


class MalformedInputError(ValueError):
    """A prediction input line that is not a usable JSON object; names the line."""


@Predictor.register("mft_classifier")
class MultiDomainClassifierPredictor(Predictor):
    """
    Predictor of every model of this package, for any dataset reader with a `text_to_instance`.

    The input keys: with this package's readers, the reader's `predictor_fields` (strings),
    and optionally `"domain"` (a string). With any other reader, as AllenNLP's predictors do,
    the parameters of its `text_to_instance` (of `reader.base_reader`'s, for a wrapper reader
    that has one): every parameter without a default other than `label` and `domain` is
    required, the others are passed when the line has them, and `"domain"` is passed when the
    reader's own `text_to_instance` takes a `domain` (the plugin's wrapper does).

    The output starts with `label` (the argmax), `class_probabilities` ({label: p}) and
    `labels` (the label names in the order of `probs` and `logits`), then the model's `probs`
    and `logits`, index-ordered as AllenNLP's `basic_classifier` gives them.

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
        # For another package's reader: the keys its text_to_instance takes (see the class doc).
        self._signature: Optional[ReaderSignature] = None
        if isinstance(dataset_reader, MultiDomainReader):
            self._fields = self.fields or dataset_reader.predictor_fields
            if tuple(dataset_reader.predictor_fields) != tuple(self._fields):
                raise ValueError(
                    f"{type(self).__name__} reads {self._fields}, but the archive's reader "
                    f"({type(dataset_reader).__name__}) takes {dataset_reader.predictor_fields}."
                )
        elif self.fields:
            raise ValueError(
                f"{type(self).__name__} reads {self.fields} through one of this package's "
                f"readers, not {type(dataset_reader).__name__}: use the default predictor, "
                '"mft_classifier", which reads the keys of any reader\'s text_to_instance.'
            )
        else:
            self._signature = ReaderSignature.of(dataset_reader)
            self._fields = self._signature.required
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
        if self._signature is not None:
            self._signature.check(json_dict, where)
            return
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
        if self._signature is not None:
            return self._dataset_reader.text_to_instance(**self._signature.arguments(json_dict))
        # The plugin's readers take `domain`; DatasetReader declares positional inputs only.
        return self._dataset_reader.text_to_instance(  # type: ignore[call-arg]
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
            group = self._predict_forward_batch([instances[index] for index in indices])
            for index, output in zip(indices, group):
                outputs[index] = output
        return outputs

    def predict_instance(self, instance: Instance) -> JsonDict:
        """AllenNLP's `predict_instance`, its output made JSON-ready by `json_ready`."""
        self._dataset_reader.apply_token_indexers(instance)
        return json_ready(self._model.forward_on_instance(instance))

    def _predict_forward_batch(self, instances: List[Instance]) -> List[JsonDict]:
        """
        AllenNLP's `predict_batch_instance` for one forward pass: the model's
        `forward_on_instances`, its outputs made JSON-ready by `json_ready` (`sanitize`'s
        values, without its walk through every type for every value).
        """
        for instance in instances:
            self._dataset_reader.apply_token_indexers(instance)
        return json_ready(self._model.forward_on_instances(instances))

    def predictions_to_labeled_instances(
        self, instance: Instance, outputs: Dict[str, numpy.ndarray]
    ) -> List[Instance]:
        new_instance = instance.duplicate()
        label = numpy.argmax(outputs["probs"])
        new_instance.add_field("label", LabelField(int(label), skip_indexing=True))
        return [new_instance]


class ReaderSignature:
    """
    The JSON keys a reader of another package takes: the parameters of the `text_to_instance`
    of the reader (of its `base_reader`, where it wraps one). `label` and `domain` are never
    required; `domain` is passed only where the reader's own `text_to_instance` takes it.
    """

    NEVER_REQUIRED = ("label", "domain")

    def __init__(
        self,
        reader_name: str,
        required: Tuple[str, ...],
        optional: Tuple[str, ...],
        takes_domain: bool,
    ) -> None:
        self.reader_name = reader_name
        self.required = required
        self.optional = optional
        self.takes_domain = takes_domain

    @classmethod
    def of(cls, dataset_reader: DatasetReader) -> "ReaderSignature":
        base = getattr(dataset_reader, "base_reader", dataset_reader)
        if type(base).text_to_instance is DatasetReader.text_to_instance:
            raise ValueError(
                f"The archive's dataset reader {type(base).__name__} has no text_to_instance of "
                "its own, so JSON inputs cannot be turned into instances: give the reader a "
                "text_to_instance(...) whose parameters are the input keys."
            )
        parameters = [
            parameter
            for parameter in inspect.signature(base.text_to_instance).parameters.values()
            if parameter.kind not in (parameter.VAR_POSITIONAL, parameter.VAR_KEYWORD)
            and parameter.name != "domain"
        ]
        required = tuple(
            p.name for p in parameters if p.default is p.empty and p.name not in cls.NEVER_REQUIRED
        )
        optional = tuple(p.name for p in parameters if p.name not in required)
        own = inspect.signature(dataset_reader.text_to_instance).parameters
        takes_domain = "domain" in own
        return cls(type(base).__name__, required, optional, takes_domain)

    def check(self, json_dict: JsonDict, where: str) -> None:
        missing = [key for key in self.required if key not in json_dict]
        if missing:
            optional = list(self.optional) + (["domain"] if self.takes_domain else [])
            raise MalformedInputError(
                f"{where}: missing key(s) {missing}; {self.reader_name}.text_to_instance takes "
                f"{list(self.required)}" + (f" and optionally {optional}" if optional else "")
            )

    def arguments(self, json_dict: JsonDict) -> Dict[str, object]:
        names = self.required + self.optional + (("domain",) if self.takes_domain else ())
        return {name: json_dict[name] for name in names if name in json_dict}


def _length(instance: Instance) -> int:
    tokens = instance.fields.get("tokens")
    return len(tokens) if tokens is not None else 0


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
