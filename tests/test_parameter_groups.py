"""The shipped configs' no-weight-decay group: the same parameters as before, and no warning."""
import logging
import re

import torch
from allennlp.common import Params
from allennlp.training.optimizers import make_parameter_groups
from transformers import AutoModel

from tests.conftest import CONFIGS, TINY_BERT

# The list the configs had, whose `layer_norm\.weight` matched nothing in BERT or MiniLM and so
# logged "When constructing parameter groups, layer_norm\.weight does not match any parameter
# name" at the start of every run.
PREVIOUS = ["bias", r"LayerNorm\.weight", r"layer_norm\.weight"]
DISTILBERT_NAMES = [
    "transformer.layer.0.attention.q_lin.weight",
    "transformer.layer.0.attention.q_lin.bias",
    "transformer.layer.0.sa_layer_norm.weight",
    "transformer.layer.0.output_layer_norm.weight",
    "transformer.layer.0.ffn.lin1.weight",
]


def shipped_groups(config):
    params = Params.from_file(str(CONFIGS / "taxonomy" / config)).as_dict(quiet=True)
    return params["trainer"]["optimizer"]["parameter_groups"]


def previous_no_decay(names):
    return {name for name in names if any(re.search(regex, name) for regex in PREVIOUS)}


def test_no_decay_group_is_unchanged_for_bert_and_warns_about_nothing(tiny_env, caplog):
    named = list(AutoModel.from_pretrained(TINY_BERT).named_parameters())
    name_of = {id(parameter): name for name, parameter in named}
    for config in ("mft_full.jsonnet", "bert_mix.jsonnet", "bert_adv.jsonnet"):
        groups_spec = shipped_groups(config)
        assert len(groups_spec) == 1 and groups_spec[0][1] == {"weight_decay": 0.0}
        caplog.clear()
        with caplog.at_level(logging.WARNING, logger="allennlp.training.optimizers"):
            groups = make_parameter_groups(named, [tuple(group) for group in groups_spec])
        assert "does not match any parameter name" not in caplog.text, config
        no_decay = {name_of[id(parameter)] for parameter in groups[0]["params"]}
        assert no_decay == previous_no_decay(name for name, _ in named)
        assert "embeddings.LayerNorm.weight" in no_decay
        assert "encoder.layer.0.attention.output.LayerNorm.weight" in no_decay
        assert "encoder.layer.0.attention.self.query.bias" in no_decay
        assert "encoder.layer.0.attention.self.query.weight" not in no_decay
        assert groups[0]["weight_decay"] == 0.0


def test_no_decay_group_is_unchanged_for_distilbert_style_names(tiny_env, caplog):
    named = [(name, torch.nn.Parameter(torch.zeros(1))) for name in DISTILBERT_NAMES]
    name_of = {id(parameter): name for name, parameter in named}
    with caplog.at_level(logging.WARNING, logger="allennlp.training.optimizers"):
        groups = make_parameter_groups(
            named, [tuple(group) for group in shipped_groups("mft_full.jsonnet")]
        )
    assert "does not match any parameter name" not in caplog.text
    no_decay = {name_of[id(parameter)] for parameter in groups[0]["params"]}
    assert no_decay == previous_no_decay(DISTILBERT_NAMES)
    assert no_decay == {
        "transformer.layer.0.attention.q_lin.bias",
        "transformer.layer.0.sa_layer_norm.weight",
        "transformer.layer.0.output_layer_norm.weight",
    }
