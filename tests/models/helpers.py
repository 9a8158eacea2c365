"""Building the tiny models and batches that the model tests share."""
from typing import List

from allennlp.data import Vocabulary
from allennlp.data.batch import Batch
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.modules.token_embedders import PretrainedTransformerEmbedder

from mft_plugin.data import TermPairReader
from mft_plugin.models import MetaFineTuning
from tests.conftest import FIXTURE_DATA, TINY_BERT


def term_pair_instances(split: str = "train") -> List:
    reader = TermPairReader(TINY_BERT)
    instances = list(reader.read(FIXTURE_DATA / "taxonomy" / split))
    for instance in instances:
        reader.apply_token_indexers(instance)
    return instances


def vocabulary(instances) -> Vocabulary:
    return Vocabulary.from_instances(instances)


def embedder() -> BasicTextFieldEmbedder:
    return BasicTextFieldEmbedder({"tokens": PretrainedTransformerEmbedder(TINY_BERT)})


def tiny_mft(vocab: Vocabulary, **kwargs) -> MetaFineTuning:
    return MetaFineTuning(vocab, embedder(), **kwargs)


def tensors(instances, vocab: Vocabulary):
    batch = Batch(instances)
    batch.index_instances(vocab)
    return batch.as_tensor_dict()


def disable_dropout(model) -> None:
    """
    No dropout anywhere, so a training-mode forward can be recomputed by hand. Besides the
    `nn.Dropout` modules this zeroes the attention-dropout rate that transformers' SDPA attention
    (BERT from transformers 4.41) keeps as a plain float (`dropout_prob`) and hands to
    `scaled_dot_product_attention` in training mode.
    """
    import torch

    for module in model.modules():
        if isinstance(module, torch.nn.Dropout):
            module.p = 0.0
        for attribute in ("dropout_prob", "attention_dropout"):
            if isinstance(getattr(module, attribute, None), float):
                setattr(module, attribute, 0.0)
