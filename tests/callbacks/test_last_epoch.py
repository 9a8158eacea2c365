"""The model a run keeps is its last epoch's, whatever epoch validated best."""
import json

import pytest
import torch
from allennlp.commands.evaluate import evaluate_from_archive
from allennlp.commands.train import train_model_from_file
from allennlp.models.archival import load_archive

from tests.callbacks.helpers import Interrupted
from tests.conftest import CONFIGS, FIXTURE_DATA

TAXONOMY_MIX = CONFIGS / "taxonomy" / "bert_mix.jsonnet"
# Three epochs at a learning rate that moves the tiny model, and AllenNLP told that *lower*
# accuracy is better: its best epoch is then rarely the last, which is what the tests need.
OVERRIDES = {
    "trainer.num_epochs": 3,
    "trainer.optimizer.lr": 5e-3,
    "trainer.validation_metric": "-accuracy",
    "trainer.checkpointer.keep_most_recent_by_count": 3,
}


def _epoch_weights(directory, epoch):
    """The checkpoint AllenNLP writes after `epoch` (0-based): `model_state_e<done>_b0.th`."""
    return torch.load(directory / f"model_state_e{epoch + 1}_b0.th", map_location="cpu")


def _weights_equal(first, second):
    return first.keys() == second.keys() and all(torch.equal(first[k], second[k]) for k in first)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    environment = pytest.MonkeyPatch()
    from tests.conftest import TINY_ENVIRONMENT

    for name, value in TINY_ENVIRONMENT.items():
        environment.setenv(name, value)
    kept = {}
    try:
        for keep in ("last", "best"):
            environment.setenv("MFT_KEEP_EPOCH", keep)
            directory = tmp_path_factory.mktemp(keep)
            train_model_from_file(TAXONOMY_MIX, directory, overrides=json.dumps(OVERRIDES))
            kept[keep] = directory
    finally:
        environment.undo()
    return kept


def test_archive_holds_the_last_epoch_not_the_best_validated_one(runs):
    directory = runs["last"]
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["kept_epoch"] == 2
    assert metrics["best_epoch"] != 2, "the best epoch must differ from the last for this test"
    archived = load_archive(str(directory / "model.tar.gz")).model.state_dict()
    last = _epoch_weights(directory, 2)
    best = _epoch_weights(directory, metrics["best_epoch"])
    assert _weights_equal(archived, last) and not _weights_equal(archived, best)
    # metrics.json's validation figures are the kept model's own
    evaluated = evaluate_from_archive(
        str(directory / "model.tar.gz"), str(FIXTURE_DATA / "taxonomy" / "dev")
    )
    for key in ("accuracy", "accuracy_animal", "accuracy_vehicle"):
        assert evaluated[key] == pytest.approx(metrics[f"validation_{key}"])


def test_keep_epoch_best_restores_allennlps_choice(runs):
    directory = runs["best"]
    metrics = json.loads((directory / "metrics.json").read_text())
    assert "kept_epoch" not in metrics
    archived = load_archive(str(directory / "model.tar.gz")).model.state_dict()
    assert _weights_equal(archived, _epoch_weights(directory, metrics["best_epoch"]))


def _validated_epochs(directory):
    return [
        epoch
        for epoch in range(OVERRIDES["trainer.num_epochs"])
        if "validation_accuracy"
        in json.loads((directory / f"metrics_epoch_{epoch}.json").read_text())
    ]


def _train_validating_last_epoch(directory, interrupt_at_epoch=None):
    callbacks = [{"type": "mft_keep_last_epoch", "validate_every_epoch": False}]
    if interrupt_at_epoch is not None:
        callbacks.append(
            {"type": "test_interrupt_once", "at_epoch": interrupt_at_epoch, "at_batch": 1}
        )
    overrides = json.dumps(dict(OVERRIDES, **{"trainer.callbacks": callbacks}))
    if interrupt_at_epoch is not None:
        with pytest.raises(Interrupted):
            train_model_from_file(TAXONOMY_MIX, directory, overrides=overrides)
        assert not (directory / "model.tar.gz").exists()
    train_model_from_file(
        TAXONOMY_MIX, directory, overrides=overrides, recover=interrupt_at_epoch is not None
    )
    return json.loads((directory / "metrics.json").read_text())


def _assert_scores_the_archive(directory, metrics):
    evaluated = evaluate_from_archive(
        str(directory / "model.tar.gz"), str(FIXTURE_DATA / "taxonomy" / "dev")
    )
    for key in ("accuracy", "accuracy_animal", "accuracy_vehicle"):
        assert evaluated[key] == pytest.approx(metrics[f"validation_{key}"])


@pytest.mark.usefixtures("tiny_env")
def test_validating_the_last_epoch_only_trains_the_same_model(runs, tmp_path):
    metrics = _train_validating_last_epoch(tmp_path)
    assert _validated_epochs(tmp_path) == [2]
    assert _validated_epochs(runs["last"]) == [0, 1, 2]
    assert metrics["kept_epoch"] == 2
    # A skipped validation makes the random draws of a validation pass: the same weights as
    # validating every epoch.
    archived = load_archive(str(tmp_path / "model.tar.gz")).model.state_dict()
    assert _weights_equal(archived, _epoch_weights(runs["last"], 2))
    every_epoch = json.loads((runs["last"] / "metrics.json").read_text())
    assert metrics["validation_accuracy"] == pytest.approx(every_epoch["validation_accuracy"])
    _assert_scores_the_archive(tmp_path, metrics)


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("interrupt_at_epoch", [1, 2])
def test_validating_the_last_epoch_only_survives_recover(tmp_path, interrupt_at_epoch):
    # Resumed in the last epoch, the run must still validate it (AllenNLP's
    # should_validate_callback would take the resumed epoch for epoch 0 and skip it).
    metrics = _train_validating_last_epoch(tmp_path, interrupt_at_epoch)
    assert _validated_epochs(tmp_path) == [2]
    assert metrics["kept_epoch"] == 2
    _assert_scores_the_archive(tmp_path, metrics)
