"""
The reader contract: what a training instance must hold for MFT and the plugin's baselines, and
the check that refuses, before any training step, instances that break it.

The contract is written down in docs/own_project.md, section "The reader contract"; every error
here names the field or metadata key, the reader's class and that page. The check knows a model
by what it declares (`requires_domain`, `uses_typicality`, its namespaces and the key of its
embedder), not by its class, so that this module imports nothing above the data package.
"""
import inspect
from typing import Any, Iterable, List, NoReturn, Optional, Set, cast

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.fields import LabelField, MetadataField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer

from mft_plugin.data.domain_field import DOMAIN_NAMESPACE, DomainField

CONTRACT_PAGE = "docs/own_project.md, 'The reader contract'"
WRAPPER_ADVICE = (
    "wrap the reader in the plugin's `mft_multi_domain` reader, which adds the domain and "
    "metadata fields to any reader's instances"
)


def reader_name(reader: Any) -> str:
    """The class name of a reader (or the string given), as the errors name it."""
    if reader is None:
        return "(unknown reader)"
    if isinstance(reader, str):
        return reader
    return type(reader).__name__


def instance_text(instance: Instance) -> str:
    """
    The text of an instance for reports (`typicality.jsonl`): `metadata["text"]` when the reader
    gives it, else the instance's `tokens` turned back into text. With a `pretrained_transformer`
    indexer that is its tokenizer's `convert_tokens_to_string` of each segment (the pieces
    between separators, without [CLS] and padding), the segments joined by " [SEP] " as the
    plugin's readers write a pair; otherwise the token texts joined by spaces.
    """
    metadata = instance.fields.get("metadata")
    if isinstance(metadata, MetadataField) and isinstance(metadata.metadata, dict):
        text = metadata.metadata.get("text")
        if isinstance(text, str):
            return text
    tokens = instance.fields.get("tokens")
    if not isinstance(tokens, TextField):
        return ""
    # A word piece always has its text; AllenNLP's Token types it Optional.
    pieces = [cast(str, token.text) for token in tokens.tokens]
    indexers = tokens._token_indexers or {}
    hf_tokenizer = next(
        (
            getattr(indexer, "_tokenizer", None)
            for indexer in indexers.values()
            if isinstance(indexer, PretrainedTransformerIndexer)
        ),
        None,
    )
    if hf_tokenizer is None or not hasattr(hf_tokenizer, "convert_tokens_to_string"):
        return " ".join(pieces)
    separator = hf_tokenizer.sep_token
    dropped = set(hf_tokenizer.all_special_tokens) - {separator}
    segments: List[List[str]] = [[]]
    for piece in pieces:
        if piece == separator:
            segments.append([])
        elif piece not in dropped:
            segments[-1].append(piece)
    texts = [hf_tokenizer.convert_tokens_to_string(segment).strip() for segment in segments]
    return " [SEP] ".join(text for text in texts if text)


def check_reader_contract(instances: Iterable[Instance], model: Any, reader: Any) -> int:
    """
    Check training instances against the reader contract for `model`; return how many were
    checked. Raises a `ConfigurationError` naming the first missing or mistyped field or metadata
    key, the instance's position, the reader's class and the contract page.

    What is required (see the contract page):
    - every model: `tokens` (a `TextField` indexed under the key of the model's embedder by a
      `pretrained_transformer` indexer) and `label` (a `LabelField` in the model's
      `label_namespace`); no field that the model's `forward` does not take;
    - a model with `requires_domain` (MFT, BERT (MTL), BERT (Adv)): `domain`, a `DomainField` in
      the model's `domain_namespace`; for other models `domain` is optional, but when present it
      must be a `DomainField` too (a plain `LabelField` fails evaluation on an unseen domain);
    - a model with `uses_typicality` (MFT (Full), MFT (TW)): `metadata`, a `MetadataField`
      holding a dict with a string `instance_id`, unique within the training data;
    - `metadata`, when present, must hold a dict; its `domain` and `text`, when present, strings.
    """
    name = reader_name(reader)
    model_name = type(model).__name__
    embedder_key = getattr(model, "_embedder_key", "tokens")
    label_namespace = getattr(model, "_label_namespace", "labels")
    domain_namespace = getattr(model, "_domain_namespace", DOMAIN_NAMESPACE)
    requires_domain = bool(getattr(model, "requires_domain", False))
    needs_ids = bool(getattr(model, "uses_typicality", False))
    accepted = _forward_arguments(model)

    def fail(position: int, problem: str, advice: str = "") -> NoReturn:
        raise ConfigurationError(
            f"Training instance {position} of reader {name} does not meet the reader contract of "
            f"{model_name}: {problem}.{(' ' + advice) if advice else ''} See {CONTRACT_PAGE}."
        )

    seen_ids: Set[str] = set()
    count = 0
    for position, instance in enumerate(instances):
        count += 1
        fields = instance.fields
        if accepted is not None:
            extra = sorted(set(fields) - accepted)
            if extra:
                fail(
                    position,
                    f"field(s) {extra} are not arguments of {model_name}.forward "
                    f"(it takes {sorted(accepted)})",
                    "Drop them in the reader, or move them into `metadata`.",
                )

        tokens = fields.get("tokens")
        if tokens is None:
            fail(position, "the field `tokens` is missing (a TextField of word pieces)")
        if not isinstance(tokens, TextField):
            fail(position, f"the field `tokens` is a {type(tokens).__name__}, not a TextField")
        indexers = tokens._token_indexers
        if indexers is not None:
            indexer = indexers.get(embedder_key)
            if not isinstance(indexer, PretrainedTransformerIndexer):
                found = {key: type(value).__name__ for key, value in indexers.items()}
                fail(
                    position,
                    f"the field `tokens` needs a `pretrained_transformer` indexer under the key "
                    f"{embedder_key!r} (the key of the model's embedder); it has {found}",
                )

        label = fields.get("label")
        if label is None:
            fail(position, f"the field `label` is missing (a LabelField in {label_namespace!r})")
        if not isinstance(label, LabelField):
            fail(position, f"the field `label` is a {type(label).__name__}, not a LabelField")
        if label._label_namespace != label_namespace:
            fail(
                position,
                f"the field `label` is in namespace {label._label_namespace!r}, not the model's "
                f"label_namespace {label_namespace!r}",
            )

        domain = fields.get("domain")
        if domain is None:
            if requires_domain:
                fail(
                    position,
                    f"the field `domain` is missing ({model_name} needs a "
                    f"mft_plugin.data.DomainField in {domain_namespace!r})",
                    f"Give every instance one, or {WRAPPER_ADVICE}.",
                )
        elif not isinstance(domain, DomainField):
            fail(
                position,
                f"the field `domain` is a {type(domain).__name__}, not a "
                "mft_plugin.data.DomainField (a plain LabelField fails evaluation with a "
                "vocabulary KeyError on a domain the training data lacked)",
                f"Use DomainField(domain) in the reader, or {WRAPPER_ADVICE}.",
            )
        elif domain._label_namespace != domain_namespace:
            fail(
                position,
                f"the field `domain` is in namespace {domain._label_namespace!r}, not the model's "
                f"domain_namespace {domain_namespace!r}",
            )

        metadata = fields.get("metadata")
        if metadata is None:
            if needs_ids:
                fail(
                    position,
                    "the field `metadata` is missing (MFT with typicality needs a MetadataField "
                    "dict with a string `instance_id`, unique within the training data)",
                    f"Add it in the reader, or {WRAPPER_ADVICE}.",
                )
            continue
        if not isinstance(metadata, MetadataField) or not isinstance(metadata.metadata, dict):
            held = type(metadata.metadata if isinstance(metadata, MetadataField) else metadata)
            fail(position, f"the field `metadata` holds a {held.__name__}, not a dict")
        values = metadata.metadata
        for key in ("domain", "text"):
            if values.get(key) is not None and not isinstance(values[key], str):
                fail(
                    position,
                    f"metadata key {key!r} is a {type(values[key]).__name__}, not a string",
                )
        if needs_ids:
            instance_id = values.get("instance_id")
            if instance_id is None:
                fail(
                    position,
                    "metadata key 'instance_id' is missing (MFT with typicality scores every "
                    "training instance by it)",
                    f"Add a string unique within the training data, or {WRAPPER_ADVICE}.",
                )
            if not isinstance(instance_id, str):
                fail(
                    position,
                    f"metadata key 'instance_id' is a {type(instance_id).__name__} "
                    f"({instance_id!r}), not a string",
                )
            if instance_id in seen_ids:
                fail(
                    position,
                    f"metadata key 'instance_id' {instance_id!r} is not unique in the training "
                    "data (an earlier instance has it)",
                )
            seen_ids.add(instance_id)
    return count


def _forward_arguments(model: Any) -> Optional[Set[str]]:
    """The field names `model.forward` accepts, or None when it takes `**kwargs`."""
    forward = getattr(model, "forward", None)
    if forward is None:
        return None
    try:
        parameters: List[inspect.Parameter] = list(inspect.signature(forward).parameters.values())
    except (TypeError, ValueError):
        return None
    if any(parameter.kind == parameter.VAR_KEYWORD for parameter in parameters):
        return None
    return {
        parameter.name
        for parameter in parameters
        if parameter.kind in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY)
    }
