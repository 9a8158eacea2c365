"""The prototype callback refuses what would train MFT wrongly without a word."""
import json
import shutil

import pytest
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError

from mft_plugin.callbacks import PrototypeCallback
from mft_plugin.callbacks.prototypes import load_typicality
from tests.conftest import CONFIGS, FIXTURE_DATA


@pytest.mark.parametrize("batch_size", [0, -4])
def test_batch_size_below_one_is_refused(batch_size):
    with pytest.raises(ConfigurationError, match="mft_prototypes: batch_size must be a positive"):
        PrototypeCallback("unused", batch_size=batch_size)


def _scores_file(tmp_path, records):
    path = tmp_path / "typicality.jsonl"
    path.write_text("".join(json.dumps(record) + "\n" for record in records))
    return path


def test_reloaded_nan_score_is_refused_naming_the_line(tmp_path):
    path = _scores_file(
        tmp_path,
        [{"instance_id": "a:1", "typicality": 0.5}, {"instance_id": "a:2", "typicality": "NaN"}],
    )
    with pytest.raises(
        ConfigurationError, match=f"{path}:2: typicality nan of a:2 is not a finite"
    ):
        load_typicality(path)


def test_reloaded_duplicate_score_is_refused_naming_the_line(tmp_path):
    path = _scores_file(
        tmp_path,
        [
            {"instance_id": "a:1", "typicality": 0.5},
            {"instance_id": "a:2", "typicality": 0.7},
            {"instance_id": "a:1", "typicality": 0.9},
        ],
    )
    with pytest.raises(ConfigurationError, match=f"{path}:3: a second score of a:1"):
        load_typicality(path)
    good = _scores_file(tmp_path, [{"instance_id": "a:1", "typicality": 0.5}])
    assert load_typicality(good) == {"a:1": 0.5}


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("variant", ["mft_full", "mft_dc"])
def test_one_training_domain_is_refused_though_dev_has_two(tmp_path, variant):
    # the vocabulary (train + dev) has two domains, so the model's own K >= 2 check passes
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    shutil.copy(FIXTURE_DATA / "taxonomy" / "train" / "animal.tsv", train)
    overrides = json.dumps({"train_data_path": str(train)})
    with pytest.raises(
        ConfigurationError,
        match=r"MFT needs the training data of at least two domains, but it holds 1 \(\['animal'\]\)",
    ):
        train_model_from_file(
            CONFIGS / "taxonomy" / f"{variant}.jsonnet", tmp_path / "run", overrides=overrides
        )
