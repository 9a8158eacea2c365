"""The model a run keeps is its last epoch's, whatever epoch validated best."""
import json

import pytest
import torch
from allennlp.commands.evaluate import evaluate_from_archive
from allennlp.commands.train import train_model_from_file
from allennlp.models.archival import load_archive

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
