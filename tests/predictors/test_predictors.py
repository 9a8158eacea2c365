"""Predictors for the three tasks, through the Python API and through `allennlp predict`."""
import contextlib
import io
import json
import os
import re
import sys
import traceback

import pytest
from allennlp.commands import main as allennlp_main
from allennlp.commands.evaluate import evaluate_from_archive
from allennlp.commands.predict import _PredictManager
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError
from allennlp.predictors import Predictor

from mft_plugin.data import DomainField
from mft_plugin.predictors.classifier import MalformedInputError
from tests.conftest import CONFIGS, PROJECT_ROOT, TINY_ENVIRONMENT

TASKS = {
    "taxonomy": ({"hyponym": "puppy", "hypernym": "dog", "domain": "animal"}, {"0", "1"}),
    "reviews": ({"text": "A great pan, I love it.", "domain": "kitchen"}, {"positive", "negative"}),
    "nli": (
        {"premise": "The cat sat on the mat.", "hypothesis": "A cat sat.", "domain": "fiction"},
        {"entailment", "neutral", "contradiction"},
    ),
}


@contextlib.contextmanager
def _tiny_environment():
    saved = {name: os.environ.get(name) for name in TINY_ENVIRONMENT}
    os.environ.update(TINY_ENVIRONMENT)
    try:
        yield
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """One tiny stage-1 model a task, trained through the shipped configs."""
    with _tiny_environment():
        paths = {}
        for task in TASKS:
            directory = tmp_path_factory.mktemp(task)
            train_model_from_file(CONFIGS / task / "mft_full.jsonnet", directory)
            paths[task] = directory / "model.tar.gz"
    return paths


@pytest.fixture(scope="module")
def multi_task_archive(tmp_path_factory):
    """A tiny BERT (MTL) stage-1 model of the taxonomy task (a classifier per domain)."""
    directory = tmp_path_factory.mktemp("taxonomy_mtl")
    with _tiny_environment():
        train_model_from_file(CONFIGS / "taxonomy" / "bert_mtl.jsonnet", directory)
    return directory / "model.tar.gz"


@pytest.mark.parametrize("task", list(TASKS))
def test_default_predictor_reads_the_task_keys(archives, task):
    example, labels = TASKS[task]
    predictor = Predictor.from_path(archives[task])
    assert type(predictor).__name__ == "MultiDomainClassifierPredictor"
    output = predictor.predict_json(example)
    assert output["label"] in labels
    assert set(output["class_probabilities"]) == labels
    # label-keyed first; `labels` names the index-ordered probs
    assert list(output)[:3] == ["label", "class_probabilities", "labels"]
    assert [output["class_probabilities"][name] for name in output["labels"]] == pytest.approx(
        output["probs"]
    )
    assert sum(output["class_probabilities"].values()) == pytest.approx(1.0, abs=1e-5)
    # without a domain, and with one the model never saw, the prediction is the same
    text_only = {k: v for k, v in example.items() if k != "domain"}
    assert predictor.predict_json(text_only)["probs"] == pytest.approx(output["probs"])
    unseen = dict(example, domain="no-such-domain")
    assert predictor.predict_json(unseen)["probs"] == pytest.approx(output["probs"])


def test_a_batch_mixing_known_and_unknown_domains(archives):
    """Inputs of domains the model never saw (all but one, for a per-domain model) lose their
    domain field; a batch mixing them with known domains is still predicted, in order."""
    predictor = Predictor.from_path(archives["taxonomy"])
    pairs = [
        {"hyponym": "puppy", "hypernym": "dog", "domain": "animal"},
        {"hyponym": "oak", "hypernym": "tree", "domain": "no-such-domain"},
        {"hyponym": "tugboat", "hypernym": "boat"},
        {"hyponym": "kitten", "hypernym": "cat", "domain": "animal"},
    ]
    batch = predictor.predict_batch_json(pairs)
    one_by_one = [predictor.predict_json(pair) for pair in pairs]
    assert [output["probs"] for output in batch] == [
        pytest.approx(output["probs"], abs=1e-5) for output in one_by_one
    ]


def test_a_batch_runs_in_forward_passes_of_similar_length_and_keeps_its_order(
    archives, monkeypatch
):
    predictor = Predictor.from_path(archives["taxonomy"])
    monkeypatch.setattr(predictor, "forward_batch_size", 2)
    pairs = [
        {"hyponym": "very small domestic long haired cat", "hypernym": "cat", "domain": "animal"},
        {"hyponym": "ox", "hypernym": "animal", "domain": "animal"},
        {"hyponym": "steam powered paddle wheel boat", "hypernym": "boat"},
        {"hyponym": "car", "hypernym": "vehicle"},
        {"hyponym": "big cat", "hypernym": "animal", "domain": "animal"},
    ]
    one_by_one = [predictor.predict_json(pair)["probs"] for pair in pairs]
    passes = []
    forward = predictor._model.forward_on_instances
    monkeypatch.setattr(
        predictor._model,
        "forward_on_instances",
        lambda instances: passes.append([len(i["tokens"]) for i in instances])
        or forward(instances),
    )
    batch = predictor.predict_batch_json(pairs)
    assert [output["probs"] for output in batch] == [pytest.approx(p, abs=1e-5) for p in one_by_one]
    lengths = [len(predictor._json_to_instance(pair)["tokens"]) for pair in pairs]
    # no domain first (shortest first), then the domain's three: sorted, two at a time
    assert passes == [
        sorted(lengths[2:4]),
        sorted([lengths[0], lengths[1], lengths[4]])[:2],
        sorted([lengths[0], lengths[1], lengths[4]])[2:],
    ]


@pytest.mark.parametrize(
    "task, name", [("taxonomy", "mft_term_pairs"), ("reviews", "mft_reviews"), ("nli", "mft_nli")]
)
def test_task_predictors_by_name(archives, task, name):
    example, labels = TASKS[task]
    predictor = Predictor.from_path(archives[task], predictor_name=name)
    assert predictor.predict_json(example)["label"] in labels


def test_task_predictor_refuses_another_tasks_archive(archives):
    with pytest.raises(ValueError, match=r"reads \('premise', 'hypothesis'\)"):
        Predictor.from_path(archives["taxonomy"], predictor_name="mft_nli")


def test_malformed_lines_name_the_line(archives):
    predictor = Predictor.from_path(archives["taxonomy"])
    predictor.load_line('{"hyponym": "oak", "hypernym": "tree"}')
    with pytest.raises(MalformedInputError, match=r"input line 2: malformed JSON"):
        predictor.load_line('{"hyponym": "oak", ')
    with pytest.raises(
        MalformedInputError, match=r"input line 3: missing or non-string key\(s\) \['hypernym'\]"
    ):
        predictor.load_line('{"hyponym": "oak"}')
    with pytest.raises(MalformedInputError, match="input line 4: expected a JSON object"):
        predictor.load_line("[1, 2]")


# Term pairs of the taxonomy task (hyponym, hypernym, label, domain); "plant" is a domain the
# tiny models never saw. Its two pairs have opposite labels, so that whatever the model predicts,
# counting or dropping them changes the overall accuracy.
PAIRS_WITH_AN_UNSEEN_DOMAIN = [
    ("puppy", "dog", "1", "animal"),
    ("oak", "tree", "1", "plant"),
    ("tree", "oak", "0", "plant"),
    ("car", "vehicle", "1", "vehicle"),
]


def _pairs_file(tmp_path):
    path = tmp_path / "taxonomy" / "mixed.tsv"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join("\t".join(row) + "\n" for row in PAIRS_WITH_AN_UNSEEN_DOMAIN))
    return path


def _text_only_predictions(archive):
    """What the model predicts for each pair of `PAIRS_WITH_AN_UNSEEN_DOMAIN` without a domain."""
    predictor = Predictor.from_path(archive)
    return [
        predictor.predict_json({"hyponym": hyponym, "hypernym": hypernym})
        for hyponym, hypernym, _, _ in PAIRS_WITH_AN_UNSEEN_DOMAIN
    ]


def _predict_command(monkeypatch, *args):
    """`allennlp predict ARGS`, in this process."""
    monkeypatch.setattr(sys, "argv", ["allennlp", "predict", *map(str, args)])
    allennlp_main(prog="allennlp")


def test_evaluate_predicts_a_domain_the_model_never_saw_without_it(
    archives, tmp_path, caplog, monkeypatch
):
    monkeypatch.setattr(DomainField, "_warned_unknown", set())
    with caplog.at_level("WARNING", logger="mft_plugin.data.domain_field"):
        metrics = evaluate_from_archive(archives["taxonomy"], str(_pairs_file(tmp_path)))
    right = [
        output["label"] == gold
        for output, (_, _, gold, _) in zip(
            _text_only_predictions(archives["taxonomy"]), PAIRS_WITH_AN_UNSEEN_DOMAIN
        )
    ]
    # overall accuracy counts every pair; the unseen domain has no column of its own
    assert metrics["accuracy"] == pytest.approx(sum(right) / 4)
    assert metrics["accuracy_animal"] == pytest.approx(float(right[0]))
    assert metrics["accuracy_vehicle"] == pytest.approx(float(right[3]))
    assert not [name for name in metrics if "plant" in name]
    assert (
        "Domain 'plant' is not one the model was trained on (known domains: animal, vehicle)"
        in caplog.text
    )


def test_predict_with_the_dataset_reader_predicts_a_domain_the_model_never_saw(
    archives, tmp_path, monkeypatch
):
    output = tmp_path / "predictions.jsonl"
    _predict_command(
        monkeypatch,
        archives["taxonomy"],
        _pairs_file(tmp_path),
        "--use-dataset-reader",
        "--batch-size",
        "4",
        "--output-file",
        output,
        "--silent",
    )
    predictions = [json.loads(line) for line in output.read_text().splitlines()]
    expected = _text_only_predictions(archives["taxonomy"])
    assert [p["probs"] for p in predictions] == [
        pytest.approx(e["probs"], abs=1e-5) for e in expected
    ]


def test_multi_task_model_names_a_domain_it_has_no_classifier_for(multi_task_archive, tmp_path):
    message = (
        r"BERT \(MTL\) chooses its classifier by domain, but domain\(s\) \['plant'\] are not "
        r"among the domains the model knows \(\['animal', 'vehicle'\]\)"
    )
    with pytest.raises(ConfigurationError, match=message):
        evaluate_from_archive(multi_task_archive, str(_pairs_file(tmp_path)))
    predictor = Predictor.from_path(multi_task_archive)
    assert predictor.predict_json({"hyponym": "oak", "hypernym": "tree", "domain": "animal"})
    with pytest.raises(ConfigurationError, match=message):
        predictor.predict_json({"hyponym": "oak", "hypernym": "tree", "domain": "plant"})


@pytest.mark.usefixtures("tiny_env")
def test_evaluate_of_a_stage2_archive_reads_only_its_domain(
    archives, tmp_path, caplog, monkeypatch
):
    """A per-domain model keeps the stage-1 vocabulary (every stage-1 domain): evaluating it
    reads its own domain only, and no domain is unknown to it."""
    monkeypatch.setenv("MFT_STAGE1", str(archives["taxonomy"]))
    monkeypatch.setenv("MFT_DOMAIN", "vehicle")
    train_model_from_file(
        CONFIGS / "taxonomy" / "stage2.jsonnet",
        tmp_path / "stage2",
        overrides=json.dumps({"trainer": {"num_epochs": 1}}),
    )
    monkeypatch.setattr(DomainField, "_warned_unknown", set())
    dev = PROJECT_ROOT / "tests" / "fixtures" / "data" / "taxonomy" / "dev"
    with caplog.at_level("WARNING", logger="mft_plugin.data.domain_field"):
        metrics = evaluate_from_archive(tmp_path / "stage2" / "model.tar.gz", str(dev))
    assert set(metrics) == {"accuracy", "accuracy_vehicle", "loss"}
    assert metrics["accuracy"] == metrics["accuracy_vehicle"]
    assert not caplog.records


def test_predict_reports_physical_line_numbers_after_blank_lines(archives, tmp_path, monkeypatch):
    inputs = tmp_path / "input.jsonl"
    inputs.write_text('{"hyponym": "puppy", "hypernym": "dog"}\n\n   \n{"hyponym": "oak", \n')
    with pytest.raises(MalformedInputError, match=re.escape(f"{inputs}:4: malformed JSON")):
        _predict_command(
            monkeypatch, archives["taxonomy"], inputs, "--output-file", tmp_path / "out", "--silent"
        )


def test_predict_from_stdin_reports_physical_line_numbers(archives, tmp_path, monkeypatch):
    lines = b'\n{"hyponym": "puppy", "hypernym": "dog"}\n\n[1, 2]\n'
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(lines), encoding="utf-8"))
    with pytest.raises(MalformedInputError, match="<stdin>:4: expected a JSON object"):
        _predict_command(
            monkeypatch, archives["taxonomy"], "-", "--output-file", tmp_path / "out", "--silent"
        )


def test_predict_accepts_a_byte_order_mark_at_the_start_of_its_input(
    archives, tmp_path, monkeypatch
):
    inputs = tmp_path / "input.jsonl"
    pairs = ['{"hyponym": "puppy", "hypernym": "dog"}', '{"hyponym": "oak", "hypernym": "tree"}']
    inputs.write_text("\n".join(pairs) + "\n", encoding="utf-8-sig")
    assert inputs.read_bytes().startswith(b"\xef\xbb\xbf")
    _predict_command(
        monkeypatch, archives["taxonomy"], inputs, "--output-file", tmp_path / "out", "--silent"
    )
    with_mark = [json.loads(line) for line in (tmp_path / "out").read_text().splitlines()]
    inputs.write_text("\n".join(pairs) + "\n", encoding="utf-8")
    _predict_command(
        monkeypatch, archives["taxonomy"], inputs, "--output-file", tmp_path / "plain", "--silent"
    )
    assert with_mark == [json.loads(line) for line in (tmp_path / "plain").read_text().splitlines()]
    assert len(with_mark) == 2


def test_predict_names_the_line_of_bytes_that_are_not_utf8(archives, tmp_path, monkeypatch):
    inputs = tmp_path / "input.jsonl"
    inputs.write_bytes(
        b'{"hyponym": "puppy", "hypernym": "dog"}\n\n{"hyponym": "caf\xe9", "hypernym": "x"}\n'
    )
    message = re.escape(f"{inputs}:3: bytes that are not valid UTF-8 (invalid continuation byte")
    with pytest.raises(MalformedInputError, match=message):
        _predict_command(
            monkeypatch, archives["taxonomy"], inputs, "--output-file", tmp_path / "out", "--silent"
        )


def test_a_non_string_domain_is_a_malformed_line(archives, tmp_path, monkeypatch):
    inputs = tmp_path / "input.jsonl"
    inputs.write_text(
        '{"hyponym": "puppy", "hypernym": "dog", "domain": "animal"}\n'
        '{"hyponym": "oak", "hypernym": "tree", "domain": ["fiction"]}\n'
    )
    message = f'{inputs}:2: "domain" must be a string (one domain name), not ["fiction"]'
    with pytest.raises(MalformedInputError, match=re.escape(message)):
        _predict_command(
            monkeypatch, archives["taxonomy"], inputs, "--output-file", tmp_path / "out", "--silent"
        )
    predictor = Predictor.from_path(archives["taxonomy"])
    with pytest.raises(MalformedInputError, match='input: "domain" must be a string'):
        predictor.predict_json({"hyponym": "oak", "hypernym": "tree", "domain": 3})


def test_other_predictors_read_the_input_as_allennlp_does(tmp_path):
    """`number_predict_input_lines` changes how `allennlp predict` reads input for this
    package's predictors only; any other predictor gets AllenNLP's own reading."""

    class EchoPredictor:
        def load_line(self, line):
            return {"line": line}

    inputs = tmp_path / "input.jsonl"
    inputs.write_text("a\n\n  \nb\n")
    manager = _PredictManager(EchoPredictor(), str(inputs), None, 1, False, False)
    assert list(manager._get_json_data()) == [{"line": "a\n"}, {"line": "b\n"}]


def _allennlp(monkeypatch, *args):
    """
    The stock CLI (`allennlp ARGS`, AllenNLP's own `main`) in this process, from the project
    root, where `.allennlp_plugins` names the plugin. (tests/test_plugin.py starts the real
    `allennlp` process.)
    """
    monkeypatch.chdir(PROJECT_ROOT)
    for name, value in TINY_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(sys, "argv", ["allennlp", *map(str, args)])
    allennlp_main(prog="allennlp")


def test_allennlp_predict_and_evaluate_cli(archives, tmp_path, monkeypatch):
    inputs = tmp_path / "input.jsonl"
    inputs.write_text(
        '{"hyponym": "puppy", "hypernym": "dog"}\n{"hyponym": "car", "hypernym": "vehicle", "domain": "vehicle"}\n'
    )
    output = tmp_path / "predictions.jsonl"
    _allennlp(
        monkeypatch,
        "predict",
        archives["taxonomy"],
        inputs,
        "--output-file",
        output,
        "--silent",
    )
    predictions = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(predictions) == 2 and all(p["label"] in {"0", "1"} for p in predictions)

    metrics_file = tmp_path / "metrics.json"
    dev = str(PROJECT_ROOT / "tests" / "fixtures" / "data" / "taxonomy" / "dev")
    _allennlp(monkeypatch, "evaluate", archives["taxonomy"], dev, "--output-file", metrics_file)
    metrics = json.loads(metrics_file.read_text())
    assert {"accuracy", "accuracy_animal", "accuracy_vehicle", "loss"} <= set(metrics)


def test_allennlp_predict_names_a_malformed_line(archives, tmp_path, monkeypatch):
    inputs = tmp_path / "input.jsonl"
    inputs.write_text('{"hyponym": "puppy", "hypernym": "dog"}\n\n{"hyponym": "puppy"\n')
    output = tmp_path / "predictions.jsonl"
    with pytest.raises(MalformedInputError) as error:
        _allennlp(monkeypatch, "predict", archives["taxonomy"], inputs, "--output-file", output)
    # what the `allennlp` process prints as it exits: the file's own line number, and the
    # message alone (no chained JSONDecodeError)
    printed = "".join(traceback.format_exception(error.type, error.value, error.tb))
    assert f"MalformedInputError: {inputs}:3: malformed JSON" in printed
    assert "During handling of the above exception" not in printed
