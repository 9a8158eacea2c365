"""Predictors for the three tasks, through the Python API and through `allennlp predict`."""
import json
import os
import subprocess
import sys

import pytest
from allennlp.commands.train import train_model_from_file
from allennlp.predictors import Predictor

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


@pytest.fixture(scope="module")
def archives(tmp_path_factory):
    """One tiny stage-1 model a task, trained through the shipped configs."""
    saved = {name: os.environ.get(name) for name in TINY_ENVIRONMENT}
    os.environ.update(TINY_ENVIRONMENT)
    try:
        paths = {}
        for task in TASKS:
            directory = tmp_path_factory.mktemp(task)
            train_model_from_file(CONFIGS / task / "mft_full.jsonnet", directory)
            paths[task] = directory / "model.tar.gz"
        yield paths
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


@pytest.mark.parametrize("task", list(TASKS))
def test_default_predictor_reads_the_task_keys(archives, task):
    example, labels = TASKS[task]
    predictor = Predictor.from_path(archives[task])
    assert type(predictor).__name__ == "MultiDomainClassifierPredictor"
    output = predictor.predict_json(example)
    assert output["label"] in labels
    assert set(output["class_probabilities"]) == labels
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


def _allennlp(*args):
    """Run the stock CLI from the project root, where `.allennlp_plugins` names the plugin."""
    return subprocess.run(
        [sys.executable, "-m", "allennlp", *args],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, **TINY_ENVIRONMENT),
    )


def test_allennlp_predict_and_evaluate_cli(archives, tmp_path):
    inputs = tmp_path / "input.jsonl"
    inputs.write_text(
        '{"hyponym": "puppy", "hypernym": "dog"}\n{"hyponym": "car", "hypernym": "vehicle", "domain": "vehicle"}\n'
    )
    output = tmp_path / "predictions.jsonl"
    result = _allennlp(
        "predict", str(archives["taxonomy"]), str(inputs), "--output-file", str(output), "--silent"
    )
    assert result.returncode == 0, result.stderr[-2000:]
    predictions = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(predictions) == 2 and all(p["label"] in {"0", "1"} for p in predictions)

    metrics_file = tmp_path / "metrics.json"
    dev = str(PROJECT_ROOT / "tests" / "fixtures" / "data" / "taxonomy" / "dev")
    result = _allennlp(
        "evaluate", str(archives["taxonomy"]), dev, "--output-file", str(metrics_file)
    )
    assert result.returncode == 0, result.stderr[-2000:]
    metrics = json.loads(metrics_file.read_text())
    assert {"accuracy", "accuracy_animal", "accuracy_vehicle", "loss"} <= set(metrics)


def test_allennlp_predict_names_a_malformed_line(archives, tmp_path):
    inputs = tmp_path / "input.jsonl"
    inputs.write_text('{"hyponym": "puppy", "hypernym": "dog"}\n{"hyponym": "puppy"\n')
    output = tmp_path / "predictions.jsonl"
    result = _allennlp(
        "predict", str(archives["taxonomy"]), str(inputs), "--output-file", str(output)
    )
    assert result.returncode != 0
    assert "input line 2: malformed JSON" in result.stderr
