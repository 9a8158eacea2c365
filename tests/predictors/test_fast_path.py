"""
The predictor's outputs are AllenNLP's generic path's, value for value and byte for byte: each
forward pass against `Predictor.predict_batch_instance` of the base class (the model's
`forward_on_instances`, then `sanitize`), `predict_json` against the base `predict_instance`,
`allennlp predict`'s output file against the one `sanitize` gives, and `json_ready` against
`sanitize` on every kind of value.
"""
import collections
import json
import sys

import numpy
import pytest
import torch
from allennlp.commands import main as allennlp_main
from allennlp.commands.train import train_model_from_file
from allennlp.common.util import sanitize
from allennlp.data.tokenizers import Token
from allennlp.predictors import Predictor

from mft_plugin.predictors import classifier as predictor_module
from mft_plugin.predictors import json_outputs
from mft_plugin.predictors.json_outputs import json_ready
from tests.conftest import CONFIGS, FIXTURE_DATA, TINY_ENVIRONMENT

# One plain and one MFT model, of a two-label and a three-label task.
TASKS = {"taxonomy": "bert_mix.jsonnet", "nli": "mft_full.jsonnet"}
OUTPUT_KEYS = ["label", "class_probabilities", "labels", "logits", "probs"]


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TINY_ENVIRONMENT.items():
            patch.setenv(name, value)
        paths = {}
        for task, config in TASKS.items():
            directory = tmp_path_factory.mktemp(task)
            train_model_from_file(CONFIGS / task / config, directory)
            paths[task] = directory / "model.tar.gz"
    return paths


def _inputs(task):
    """The fixture's dev examples as predictor inputs, with, without and with an unknown domain."""
    if task == "nli":
        records = [json.loads(line) for line in (FIXTURE_DATA / "mnli" / "dev.jsonl").open()]
        examples = [
            {"premise": r["sentence1"], "hypothesis": r["sentence2"], "domain": r["genre"]}
            for r in records
        ]
    else:
        examples = [
            {"hyponym": hyponym, "hypernym": hypernym, "domain": path.stem}
            for path in sorted((FIXTURE_DATA / "taxonomy" / "dev").glob("*.tsv"))
            for hyponym, hypernym, _ in (line.split("\t") for line in path.read_text().splitlines())
        ]
    inputs = []
    for index, example in enumerate(examples):
        inputs.append(example)
        if index % 2:
            inputs.append({key: value for key, value in example.items() if key != "domain"})
        if index % 3 == 1:
            inputs.append(dict(example, domain="no-such-domain"))
    return inputs


@pytest.mark.parametrize("task", list(TASKS))
def test_every_forward_pass_gives_the_generic_paths_outputs_exactly(archives, task, monkeypatch):
    predictor = Predictor.from_path(archives[task])
    monkeypatch.setattr(predictor, "forward_batch_size", 3)
    inputs = _inputs(task)
    instances = [predictor._json_to_instance(example) for example in inputs]
    passes = []
    forward = predictor._model.forward_on_instances
    monkeypatch.setattr(
        predictor._model,
        "forward_on_instances",
        lambda group: passes.append(list(group)) or forward(group),
    )
    outputs = predictor.predict_batch_instance(instances)
    recorded = list(passes)
    # several passes, some of inputs with a domain, some without
    assert len(recorded) >= 4
    assert {all("domain" in instance.fields for instance in group) for group in recorded} == {
        True,
        False,
    }
    assert sorted(id(instance) for group in recorded for instance in group) == sorted(
        id(instance) for instance in instances
    )
    position = {id(instance): index for index, instance in enumerate(instances)}
    for group in recorded:
        # AllenNLP's own predict_batch_instance on the same forward pass
        expected = Predictor.predict_batch_instance(predictor, group)
        for instance, theirs in zip(group, expected):
            ours = outputs[position[id(instance)]]
            assert list(ours) == OUTPUT_KEYS
            assert ours == theirs  # floats exactly equal
            assert json.dumps(ours) == json.dumps(theirs)  # the same types, in the same order


@pytest.mark.parametrize("task", list(TASKS))
def test_predict_json_gives_the_generic_predict_instances_output_exactly(archives, task):
    predictor = Predictor.from_path(archives[task])
    for example in _inputs(task)[:4]:
        expected = Predictor.predict_instance(predictor, predictor._json_to_instance(example))
        output = predictor.predict_json(example)
        assert output == expected
        assert json.dumps(output) == json.dumps(expected)


@pytest.mark.parametrize("batch_size", ["1", "5"])
def test_allennlp_predict_writes_the_bytes_sanitize_gives(archives, tmp_path, batch_size):
    """`--batch-size 1` goes through predict_json, larger batches through predict_batch_json."""
    input_file = tmp_path / "input.jsonl"
    input_file.write_text("".join(json.dumps(example) + "\n" for example in _inputs("nli")))

    def predict(output_file):
        argv = ["allennlp", "predict", str(archives["nli"]), str(input_file), "--silent"]
        argv += ["--batch-size", batch_size, "--output-file", str(output_file)]
        with pytest.MonkeyPatch.context() as patch:
            patch.setattr(sys, "argv", argv)
            allennlp_main()
        return output_file.read_bytes()

    ours = predict(tmp_path / "ours.jsonl")
    with pytest.MonkeyPatch.context() as patch:
        # AllenNLP's conversion: what the predictor wrote before `json_ready`
        patch.setattr(predictor_module, "json_ready", sanitize)
        theirs = predict(tmp_path / "theirs.jsonl")
    assert ours == theirs
    lines = ours.decode().splitlines()
    assert len(lines) == len(_inputs("nli"))
    assert list(json.loads(lines[0])) == OUTPUT_KEYS


def test_the_models_outputs_never_reach_sanitize(archives, monkeypatch):
    """Every value the models give is of a type `json_ready` converts itself."""
    predictor = Predictor.from_path(archives["taxonomy"])
    calls = []
    monkeypatch.setattr(json_outputs, "sanitize", lambda value: calls.append(value) or value)
    outputs = predictor.predict_batch_json(_inputs("taxonomy"))
    assert calls == []
    assert all(type(output["probs"][0]) is float for output in outputs)


class _Jsonable:
    def to_json(self):
        return {"kind": "jsonable"}


VALUES = {
    "plain": ["text", 3, 2.5, True],
    "none": None,  # sanitize writes the string "None"
    "float32 scalar": numpy.float32(0.1),
    "float64 scalar (a float subclass)": numpy.float64(0.1),
    "int64 scalar": numpy.int64(7),
    "numpy bool": numpy.bool_(True),
    "float32 rows": numpy.array([[0.1, 0.9], [0.5, 0.5]], dtype=numpy.float32),
    "0-d array": numpy.array(4),
    "tensor": torch.tensor([[0.25, 0.75]]),
    "tuple and set": ((1, numpy.int64(2)), {3}),
    "nested": {"a": [numpy.float32(1.5), None, {"b": (numpy.float32(2.5),)}], 4: "four"},
    "dict subclass": collections.OrderedDict(a=numpy.float32(0.5)),
    "token": [Token("word")],
    "to_json": _Jsonable(),
}


def _types(value):
    """The value's structure of types, to compare beyond `==` (1 == 1.0 == numpy.float32(1))."""
    if isinstance(value, dict):
        return (type(value), [(_types(key), _types(item)) for key, item in value.items()])
    if isinstance(value, (list, tuple)):
        return (type(value), [_types(item) for item in value])
    return type(value)


@pytest.mark.parametrize("value", list(VALUES.values()), ids=list(VALUES))
def test_json_ready_is_sanitize(value):
    expected = sanitize(value)
    assert json_ready(value) == expected
    assert _types(json_ready(value)) == _types(expected)


def test_json_ready_values_by_hand():
    row = numpy.array([0.1, 0.75], dtype=numpy.float32)
    # float32's 0.1 is 0.100000001490116119384765625; the JSON keeps all of it
    assert json.dumps(json_ready({"probs": row, "label": "1", "none": None})) == (
        '{"probs": [0.10000000149011612, 0.75], "label": "1", "none": "None"}'
    )
    assert type(json_ready(numpy.float64(0.1))) is numpy.float64  # kept, as sanitize keeps it


def test_json_ready_refuses_what_sanitize_refuses():
    with pytest.raises(ValueError, match="Cannot sanitize .* of type <class 'object'>"):
        json_ready({"a": [object()]})
