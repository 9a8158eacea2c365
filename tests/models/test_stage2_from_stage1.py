"""
Stage 2 from a stage-1 archive: the label classifier's rows follow the labels, not their
indexes; an archive of another task and a corrupt archive are errors that name the archive.
"""
import json
import tarfile
import tempfile

import pytest
import torch
from allennlp.commands.train import train_model, train_model_from_file
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.fields import LabelField
from allennlp.models import load_archive
from allennlp.predictors import Predictor

from mft_plugin.models.initializers import StageOneInitializer
from mft_plugin.models.stage1_archive import StageOneVocabulary, label_names
from tests.conftest import CONFIGS, TINY_ENVIRONMENT

# Review inputs of the stage-2 domain, predicted by the stage-1 and the stage-2 model.
INPUTS = [
    {"text": "A great book, I love it.", "domain": "books"},
    {"text": "A waste of money.", "domain": "books"},
    {"text": "The plot drags and the ending is silly.", "domain": "books"},
    {"text": "Wonderful characters, I read it twice.", "domain": "books"},
]
# The reviews reader reads positive.review first, so a vocabulary built from the data lists
# `positive, negative`; the stage-1 runs below are given the other order.
STAGE1_LABELS = ["negative", "positive"]


def _train_stage1(config, serialization_dir, overrides=None):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in TINY_ENVIRONMENT.items():
            patch.setenv(name, value)
        train_model_from_file(config, serialization_dir, overrides=json.dumps(overrides or {}))
    return serialization_dir / "model.tar.gz"


@pytest.fixture(scope="module")
def reviews_stage1(tmp_path_factory):
    """Stage-1 archives on the review fixtures, by method, labels in `STAGE1_LABELS` order."""
    root = tmp_path_factory.mktemp("reviews_stage1")
    vocabulary = root / "vocabulary"
    vocabulary.mkdir()
    (vocabulary / "non_padded_namespaces.txt").write_text("*tags\n*labels\n")
    (vocabulary / "labels.txt").write_text("".join(f"{label}\n" for label in STAGE1_LABELS))
    (vocabulary / "domain_labels.txt").write_text("books\nkitchen\n")
    overrides = {
        "vocabulary": {"type": "from_files", "directory": str(vocabulary)},
        "trainer.num_epochs": 1,
    }
    archives = {}

    def archive(method):
        if method not in archives:
            config = CONFIGS / "reviews" / f"{method}.jsonnet"
            archives[method] = _train_stage1(config, root / method, overrides)
        return archives[method]

    return archive


@pytest.fixture(scope="module")
def taxonomy_stage1(tmp_path_factory):
    """A stage-1 archive of another task: term pairs, labels `1` / `0`."""
    config = CONFIGS / "taxonomy" / "bert_mix.jsonnet"
    directory = tmp_path_factory.mktemp("taxonomy_stage1") / "run"
    return _train_stage1(config, directory, {"trainer.num_epochs": 1})


def _stage2_params(archive, monkeypatch, with_stage1_vocabulary):
    """
    `reviews/stage2.jsonnet` for the books domain; without `with_stage1_vocabulary` it is the
    configuration a user writes from the README and the `mft_stage1` docstring: the initializer
    and no `vocabulary`, so the labels come in the stage-2 data's order.
    """
    monkeypatch.setenv("MFT_STAGE1", str(archive))
    monkeypatch.setenv("MFT_DOMAIN", "books")
    params = Params.from_file(CONFIGS / "reviews" / "stage2.jsonnet")
    if not with_stage1_vocabulary:
        params.pop("vocabulary")
    return params


def _predictions(archive):
    predictor = Predictor.from_archive(load_archive(str(archive)), "mft_classifier")
    return predictor.predict_batch_json(INPUTS)


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("stage1_method", ["bert_mix", "bert_mtl"])
def test_stage2_maps_classifier_rows_by_label_name(
    stage1_method, reviews_stage1, tmp_path, monkeypatch
):
    archive = reviews_stage1(stage1_method)
    params = _stage2_params(archive, monkeypatch, with_stage1_vocabulary=False)
    # A learning rate of 0: AdamW's step and its decoupled weight decay both scale with it, so
    # training leaves every weight as the initializer loaded it.
    params["trainer"]["optimizer"]["lr"] = 0.0
    params["trainer"]["num_epochs"] = 1
    stage2 = train_model(params, tmp_path / "stage2")

    stage1_labels = label_names(load_archive(str(archive)).model.vocab, "labels")
    stage2_labels = label_names(stage2.vocab, "labels")
    assert stage1_labels == STAGE1_LABELS
    assert stage2_labels == ["positive", "negative"]  # the data's order: rows must move

    expected, predicted = _predictions(archive), _predictions(tmp_path / "stage2/model.tar.gz")
    assert [p["label"] for p in predicted] == [e["label"] for e in expected]
    for stage2_output, stage1_output in zip(predicted, expected):
        for label in STAGE1_LABELS:
            assert stage2_output["class_probabilities"][label] == pytest.approx(
                stage1_output["class_probabilities"][label], abs=1e-5
            )
    # no tie between the two labels, so swapped rows would show in every probability
    for stage1_output in expected:
        assert abs(stage1_output["class_probabilities"]["positive"] - 0.5) > 1e-3


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("with_stage1_vocabulary", [True, False])
def test_stage2_from_an_archive_of_another_task_names_both_label_sets(
    with_stage1_vocabulary, taxonomy_stage1, tmp_path, monkeypatch
):
    params = _stage2_params(taxonomy_stage1, monkeypatch, with_stage1_vocabulary)
    with pytest.raises(ConfigurationError) as error:
        train_model(params, tmp_path / "stage2")
    message = str(error.value)
    assert str(taxonomy_stage1) in message
    for label in ("'0'", "'1'", "'positive'", "'negative'"):
        assert label in message, message
    assert "archive trained on this task's data" in message


# --------------------------------------------------------------------------------------------
# Corrupt archives
def _repack_without(archive, destination, left_out):
    with tarfile.open(archive, "r:gz") as source, tarfile.open(destination, "w:gz") as target:
        for member in source.getmembers():
            if not left_out(member.name):
                target.addfile(member, source.extractfile(member) if member.isfile() else None)
    return destination


def _truncated(archive, destination):
    content = archive.read_bytes()
    destination.write_bytes(content[: len(content) // 2])
    return destination


CORRUPTIONS = {
    "truncated": (_truncated, "truncated or corrupt"),
    "without_weights": (
        lambda archive, destination: _repack_without(
            archive, destination, lambda name: name == "weights.th"
        ),
        "holds no weights (weights.th or best.th)",
    ),
    "without_vocabulary": (
        lambda archive, destination: _repack_without(
            archive, destination, lambda name: name.startswith("vocabulary")
        ),
        "holds no vocabulary/ folder",
    ),
}


def _assert_names_the_archive_only(message, archive, problem):
    assert str(archive) in message, message
    assert problem in message, message
    rest = message.replace(str(archive), "")
    for place in (tempfile.gettempdir(), "mft-stage1-", ".allennlp", "cache"):
        assert place not in rest, message


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("corruption", sorted(CORRUPTIONS))
def test_corrupt_stage1_archive_error_names_the_archive_and_the_problem(
    corruption, reviews_stage1, tmp_path, monkeypatch
):
    corrupt, problem = CORRUPTIONS[corruption]
    archive = corrupt(reviews_stage1("bert_mix"), tmp_path / "model.tar.gz")
    # the shipped stage-2 config: the stage-1 vocabulary is read first, then the weights
    params = _stage2_params(archive, monkeypatch, with_stage1_vocabulary=True)
    with pytest.raises(ConfigurationError) as error:
        train_model(params, tmp_path / "stage2")
    _assert_names_the_archive_only(str(error.value), archive, problem)
    # the initializer alone reports it the same way
    with pytest.raises(ConfigurationError) as error:
        StageOneInitializer(str(archive), domain="books")
    _assert_names_the_archive_only(str(error.value), archive, problem)


def test_missing_stage1_archive_is_named(tmp_path):
    missing = tmp_path / "runs" / "model.tar.gz"
    with pytest.raises(ConfigurationError, match=f"The stage-1 archive {missing} does not exist"):
        StageOneInitializer(str(missing))


@pytest.mark.usefixtures("tiny_env")
def test_label_classifier_from_an_initializer_without_the_stage2_vocabulary_is_refused(
    reviews_stage1,
):
    initializer = StageOneInitializer(str(reviews_stage1("bert_mix")))
    weight = torch.empty_like(initializer.weights["_label_classifier.weight"])
    with pytest.raises(ConfigurationError, match="only with the stage-2 model's vocabulary"):
        initializer(weight, "_label_classifier.weight")


def test_stage1_vocabulary_keeps_the_label_order_and_adds_unseen_domains(reviews_stage1):
    instances = [
        Instance({"label": LabelField(label), "domain": LabelField(domain, "domain_labels")})
        for label, domain in [("positive", "toys"), ("negative", "books")]
    ]
    vocabulary = StageOneVocabulary.from_stage1_archive(
        str(reviews_stage1("bert_mix")), instances=instances
    )
    assert label_names(vocabulary, "labels") == STAGE1_LABELS
    assert label_names(vocabulary, "domain_labels") == ["books", "kitchen", "toys"]
