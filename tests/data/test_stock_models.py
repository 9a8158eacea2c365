"""
The readers with a stock model: AllenNLP's `basic_classifier` trains, evaluates and predicts on
each of them once `include_domain_field` is off (its `forward` takes no `domain`).
"""
import json

import pytest
from allennlp.commands.evaluate import evaluate_from_archive
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.models.archival import load_archive
from allennlp.predictors import Predictor

import allennlp_models.pair_classification  # noqa: F401  (registers "textual_entailment")
from mft_plugin.data import DOMAIN_NAMESPACE, MultiDomainReviewReader
from tests.conftest import FIXTURE_DATA, TINY_BERT

# reader type -> (train path, dev path)
TASKS = {
    "mft_reviews": ("amazon/train", "amazon/dev"),
    "mft_nli": ("mnli/train.jsonl", "mnli/dev.jsonl"),
    "mft_term_pairs": ("taxonomy/train", "taxonomy/dev"),
}


def _basic_classifier_params(reader_type: str) -> Params:
    train, dev = TASKS[reader_type]
    return Params(
        {
            "dataset_reader": {
                "type": reader_type,
                "model_name": TINY_BERT,
                "max_length": 32,
                "include_domain_field": False,
            },
            "train_data_path": str(FIXTURE_DATA / train),
            "validation_data_path": str(FIXTURE_DATA / dev),
            "model": {
                "type": "basic_classifier",
                "text_field_embedder": {
                    "token_embedders": {
                        "tokens": {"type": "pretrained_transformer", "model_name": TINY_BERT}
                    }
                },
                "seq2vec_encoder": {"type": "cls_pooler", "embedding_dim": 32},
                # the namespace of the word-piece ids (the transformer indexer's), from which
                # `make_output_human_readable` decodes the tokens
                "namespace": "tags",
            },
            "data_loader": {"batch_size": 8, "shuffle": False},
            "trainer": {
                "num_epochs": 1,
                "optimizer": {"type": "huggingface_adamw", "lr": 1e-3},
                "cuda_device": -1,
            },
        }
    )


@pytest.fixture(scope="module", params=list(TASKS))
def trained(request, tmp_path_factory):
    """(reader type, archive path, serialization dir): one tiny training run per reader."""
    serialization_dir = tmp_path_factory.mktemp(request.param)
    train_model(_basic_classifier_params(request.param), serialization_dir)
    return request.param, serialization_dir / "model.tar.gz", serialization_dir


def _gold_and_predicted(archive, reader_type):
    """Gold labels of the dev set, and the labels the archive's predictor gives them."""
    predictor_name = "text_classifier" if reader_type == "mft_reviews" else "textual_entailment"
    predictor = Predictor.from_archive(archive, predictor_name=predictor_name)
    reader = archive.validation_dataset_reader
    instances = list(reader.read(FIXTURE_DATA / TASKS[reader_type][1]))
    outputs = predictor.predict_batch_instance(instances)
    return [i["label"].label for i in instances], [output["label"] for output in outputs]


def test_basic_classifier_trains_on_every_reader(trained):
    reader_type, archive_path, serialization_dir = trained
    metrics = json.loads((serialization_dir / "metrics.json").read_text())
    assert metrics["training_loss"] > 0 and "validation_accuracy" in metrics
    vocab = load_archive(archive_path).model.vocab
    # no domain field was indexed; the labels are the task's
    assert DOMAIN_NAMESPACE not in vocab.get_namespaces()
    expected_labels = {
        "mft_reviews": {"positive", "negative"},
        "mft_nli": {"entailment", "neutral", "contradiction"},
        "mft_term_pairs": {"0", "1"},
    }[reader_type]
    assert set(vocab.get_token_to_index_vocabulary("labels")) == expected_labels


def test_basic_classifier_evaluates_as_its_predictions_score(trained):
    reader_type, archive_path, _ = trained
    metrics = evaluate_from_archive(
        archive_path, str(FIXTURE_DATA / TASKS[reader_type][1]), batch_size=4
    )
    gold, predicted = _gold_and_predicted(load_archive(archive_path), reader_type)
    assert len(gold) > 0
    hand_accuracy = sum(g == p for g, p in zip(gold, predicted)) / len(gold)
    assert metrics["accuracy"] == pytest.approx(hand_accuracy)


def test_basic_classifier_predicts_from_json_with_stock_predictors(trained):
    reader_type, archive_path, _ = trained
    archive = load_archive(archive_path)
    reader = archive.validation_dataset_reader
    if reader_type == "mft_reviews":
        predictor = Predictor.from_archive(archive, predictor_name="text_classifier")
        output = predictor.predict(sentence="Great pan, heats evenly.")
        instance = reader.text_to_instance("Great pan, heats evenly.")
    else:
        # textual_entailment hands (premise, hypothesis) to text_to_instance: any pair reader
        predictor = Predictor.from_archive(archive, predictor_name="textual_entailment")
        output = predictor.predict(premise="oak", hypothesis="tree")
        instance = reader.text_to_instance("oak", "tree")
    labels = archive.model.vocab.get_index_to_token_vocabulary("labels")
    assert output["label"] in labels.values()
    assert sum(output["probs"]) == pytest.approx(1.0, abs=1e-5)
    # the JSON route and the dataset-reader route give the same prediction
    assert predictor.predict_instance(instance)["probs"] == pytest.approx(output["probs"])


def test_domain_field_can_be_left_out_and_stays_in_metadata():
    reader = MultiDomainReviewReader(TINY_BERT, include_domain_field=False)
    instances = list(reader.read(FIXTURE_DATA / "amazon" / "train"))
    assert all("domain" not in instance.fields for instance in instances)
    assert {instance["metadata"]["domain"] for instance in instances} == {"books", "kitchen"}
    # the domain filter and the per-domain sample still see the domains
    reader = MultiDomainReviewReader(
        TINY_BERT, include_domain_field=False, domains=["kitchen"], sample_count=3
    )
    kept = list(reader.read(FIXTURE_DATA / "amazon" / "train"))
    assert [instance["metadata"]["domain"] for instance in kept] == ["kitchen"] * 3
