"""
The worked example `examples/own_project`: an existing AllenNLP project (its own package with a
CSV reader, its own data, a basic_classifier config) that takes up MFT through the stock CLI
with `--include-package`: stage 1, stage 2, `allennlp evaluate`, `allennlp predict`, and the
paper's comparison with `mft-experiment`, on the tiny test encoder.

Every command runs in this process (AllenNLP's own `main`, as the `allennlp` script calls it),
from the example's folder, as a user of that project would type it.
"""
import json
import os
import sys
from pathlib import Path
from unittest import mock

import pytest
import torch
from allennlp.commands import main as allennlp_main
from allennlp.models.archival import load_archive

from mft_plugin.commands.scripts import experiment_main
from tests.conftest import PROJECT_ROOT, TINY_ENVIRONMENT

EXAMPLE = PROJECT_ROOT / "examples" / "own_project"
DOMAINS = ["books", "electronics", "kitchen"]


def allennlp(*argv):
    """`allennlp ARGV` in this process, as the console script runs it."""
    with mock.patch.object(sys, "argv", ["allennlp", *map(str, argv)]):
        allennlp_main(prog="allennlp")


@pytest.fixture(scope="module")
def in_example():
    """The example's folder as the working directory, the tiny encoder as MFT_ENCODER."""
    previous_dir, previous_env = os.getcwd(), dict(os.environ)
    os.chdir(EXAMPLE)
    os.environ.update(TINY_ENVIRONMENT)
    try:
        yield EXAMPLE
    finally:
        os.chdir(previous_dir)
        os.environ.clear()
        os.environ.update(previous_env)


@pytest.fixture(scope="module")
def stage1(in_example, tmp_path_factory):
    out = tmp_path_factory.mktemp("own_project") / "stage1"
    allennlp(
        "train",
        "configs/mft_stage1.jsonnet",
        "-s",
        out,
        "--include-package",
        "mft_plugin",
        "--include-package",
        "my_project",
    )
    return out


def test_stage1_trains_mft_on_every_domain_through_the_projects_reader(stage1):
    metrics = json.loads((stage1 / "metrics.json").read_text())
    for domain in DOMAINS:
        assert 0.0 <= metrics[f"validation_accuracy_{domain}"] <= 1.0
    assert metrics["training_domain_loss"] > 0
    records = [json.loads(line) for line in (stage1 / "typicality.jsonl").read_text().splitlines()]
    # every training row of every domain scored once, under ids the wrapper gave
    assert len(records) == 36
    assert len({record["instance_id"] for record in records}) == 36
    assert {record["domain"] for record in records} == set(DOMAINS)
    assert {record["label"] for record in records} == {"positive", "negative"}


def test_stage2_starts_from_the_stage1_encoder_pooler_and_classifier(stage1, tmp_path):
    out = tmp_path / "books"
    with mock.patch.dict(
        os.environ, {"MFT_STAGE1": str(stage1 / "model.tar.gz"), "MFT_DOMAIN": "books"}
    ):
        allennlp(
            "train",
            "configs/stage2.jsonnet",
            "-s",
            out,
            # a learning rate of 0: the weights stage 2 starts from are the ones it archives
            "-o",
            '{"trainer.num_epochs": 1, "trainer.optimizer.lr": 0}',
            "--include-package",
            "mft_plugin",
            "--include-package",
            "my_project",
        )
    first = load_archive(str(stage1 / "model.tar.gz")).model.state_dict()
    second = load_archive(str(out / "model.tar.gz")).model.state_dict()
    loaded = [name for name in second if not name.startswith("_domain")]
    assert any(name.startswith("_seq2vec_encoder.") for name in loaded)
    for name in loaded:
        assert torch.equal(first[name], second[name]), name


@pytest.mark.parametrize("domain", ["books", "toys"])
def test_evaluate_scores_a_domain_the_model_knows_and_one_it_does_not(stage1, tmp_path, domain):
    source = "books" if domain == "toys" else domain
    output = tmp_path / "metrics.json"
    allennlp(
        "evaluate",
        stage1 / "model.tar.gz",
        json.dumps({domain: f"data/dev/{source}.csv"}),
        "--output-file",
        output,
        "--include-package",
        "mft_plugin",
        "--include-package",
        "my_project",
    )
    metrics = json.loads(output.read_text())
    assert 0.0 <= metrics["accuracy"] <= 1.0
    if domain == "books":
        assert metrics["accuracy_books"] == metrics["accuracy"]


def test_predict_reads_the_projects_json_keys_and_names_each_probability(stage1, tmp_path):
    inputs = tmp_path / "reviews.jsonl"
    inputs.write_text(
        '{"text": "Great pan, nothing sticks.", "domain": "kitchen"}\n'
        '{"text": "Broke after a week."}\n'
    )
    output = tmp_path / "predictions.jsonl"
    allennlp(
        "predict",
        stage1 / "model.tar.gz",
        inputs,
        "--output-file",
        output,
        "--silent",
        "--include-package",
        "mft_plugin",
        "--include-package",
        "my_project",
    )
    predictions = [json.loads(line) for line in output.read_text().splitlines()]
    assert len(predictions) == 2
    for prediction in predictions:
        probabilities = prediction["class_probabilities"]
        assert set(probabilities) == {"positive", "negative"}
        assert prediction["label"] == max(probabilities, key=probabilities.get)
        for name, p in zip(prediction["labels"], prediction["probs"]):
            assert probabilities[name] == pytest.approx(p)


def test_mft_experiment_reports_the_paper_comparison_on_the_projects_data(in_example, tmp_path):
    out = tmp_path / "experiment"
    experiment_main(["experiment.jsonnet", "-s", str(out)])
    results = json.loads((out / "results.json").read_text())
    rows = results["summary"]["dev"]["null"]
    assert set(rows) == {"bert_s", "bert_mix", "mft_full"}
    for cells in rows.values():
        assert set(cells) == set(DOMAINS) | {"Average"}
        for domain in DOMAINS:
            assert 0 <= cells[domain]["mean"] <= 100 and cells[domain]["n"] == 1
    markdown = (out / "results.md").read_text()
    for display in ("BERT (S)", "BERT (Mix)", "MFT (Full)"):
        assert display in markdown
    # every MFT run trained through the project's reader, wrapped
    config = json.loads((out / "configs" / "mft_full__default__seed-13__stage1.json").read_text())
    assert config["dataset_reader"]["base_reader"]["type"] == "csv_reviews"
    assert config["model"]["seq2vec_encoder"]["type"] == "bert_pooler"
    assert Path(out / "mft_full/default/seed-13/stage1/typicality.jsonl").is_file()
