"""
Batch collation without AllenNLP's per-instance padding: the same tensors as
`allennlp_collate` (`Batch(instances).as_tensor_dict()`), made in one pass per key.

AllenNLP pads every field of every instance separately (padding lengths per instance, a padded
tensor per instance, then a stack per field); for the plugin's instances (one
`pretrained_transformer` text field, a label, a domain, metadata) that is most of a training
step's host time once the encoder is fast (a GPU, or a small encoder).
"""
from typing import Any, Dict, List, Optional, Type

import numpy
import torch
from allennlp.data import Instance
from allennlp.data.data_loaders.data_collator import DataCollator, allennlp_collate
from allennlp.data.data_loaders.data_loader import TensorDict
from allennlp.data.fields import LabelField, MetadataField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer

from mft_plugin.data.domain_field import DomainField

_LABEL_FIELDS = (LabelField, DomainField)


def transformer_collate(instances: List[Instance]) -> TensorDict:
    """
    `allennlp_collate(instances)`, faster for instances whose fields are text fields indexed by
    `pretrained_transformer` indexers (without `max_length`), label fields (`DomainField`
    included) and metadata; any other instance goes through `allennlp_collate` itself, as do
    instances of different fields (whose error is AllenNLP's).
    """
    tensors = _fast_collate(instances)
    return allennlp_collate(instances) if tensors is None else tensors


@DataCollator.register("mft_transformer")
class TransformerCollator(DataCollator):
    """
    The data loader's `collate_fn` for the plugin's readers: the same batches as AllenNLP's
    default collator (`"allennlp"`), padded per key for the whole batch at once instead of
    instance by instance (see `transformer_collate`).

    Registered as a `DataCollator` with name "mft_transformer".
    """

    def __call__(self, instances: List[Instance]) -> TensorDict:
        return transformer_collate(instances)


def _fast_collate(instances: List[Instance]) -> Optional[TensorDict]:
    """The batch's tensors, or None where an instance is of a kind this does not handle."""
    if not instances:
        return None
    names = list(instances[0].fields)
    if any(list(instance.fields) != names for instance in instances):
        return None
    batch: Dict[str, Any] = {}
    for name in names:
        fields = [instance.fields[name] for instance in instances]
        kind = type(fields[0])
        if any(type(field) is not kind for field in fields):
            return None
        if kind is TextField:
            tensors = _text_tensors(fields)  # type: ignore[arg-type]
            if tensors is None:
                return None
            batch[name] = tensors
        elif kind in _LABEL_FIELDS:
            label_ids = [field._label_id for field in fields]  # type: ignore[attr-defined]
            if any(label_id is None for label_id in label_ids):
                return None
            batch[name] = torch.tensor(label_ids, dtype=torch.long)
        elif kind is MetadataField:
            batch[name] = [field.metadata for field in fields]  # type: ignore[attr-defined]
        else:
            return None
    return batch


def _text_tensors(fields: List[TextField]) -> Optional[Dict[str, Dict[str, torch.Tensor]]]:
    """A text field's padded tensors, as `PretrainedTransformerIndexer.as_padded_tensor_dict`."""
    indexers = fields[0]._token_indexers
    if indexers is None or any(field._indexed_tokens is None for field in fields):
        return None
    output: Dict[str, Dict[str, torch.Tensor]] = {}
    for indexer_name, indexer in indexers.items():
        if type(indexer) is not PretrainedTransformerIndexer or indexer._max_length is not None:
            return None
        indexed = [field._indexed_tokens[indexer_name] for field in fields]
        keys = list(indexed[0])
        if any(list(tokens) != keys for tokens in indexed):
            return None
        output[indexer_name] = {
            key: _padded([tokens[key] for tokens in indexed], key, indexer) for key in keys
        }
    return output


def _padded(rows: List[List[Any]], key: str, indexer: PretrainedTransformerIndexer) -> torch.Tensor:
    """`rows` padded to the longest, with the indexer's padding value and dtype for `key`."""
    dtype: Type[numpy.generic]
    if key == "type_ids":
        padding, dtype = 0, numpy.int64
    elif key in ("mask", "wordpiece_mask") or isinstance(
        next((row[0] for row in rows if len(row) > 0), None), bool
    ):
        padding, dtype = False, numpy.bool_
    else:
        padding = indexer._tokenizer.pad_token_id
        padding, dtype = (0 if padding is None else padding), numpy.int64
    # A numpy array filled row by row: half the time of torch.tensor on nested lists.
    array = numpy.full((len(rows), max(len(row) for row in rows)), padding, dtype=dtype)
    for index, row in enumerate(rows):
        array[index, : len(row)] = row
    return torch.from_numpy(array)
