"""Train, save and reload every stage-1 variant through the shipped configs (tiny BERT)."""
import json

import pytest
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError
from allennlp.common.testing import ModelTestCase

from tests.conftest import CONFIGS, FIXTURE_DATA


@pytest.mark.usefixtures("tiny_env")
class TestStageOneConfigs(ModelTestCase):
    @pytest.mark.parametrize(
        "task, variant, data",
        [
            ("taxonomy", "full", "taxonomy/train"),
            ("taxonomy", "dc", "taxonomy/train"),
            ("taxonomy", "tw", "taxonomy/train"),
            ("reviews", "full", "amazon/train"),
            ("nli", "full", "mnli/train.jsonl"),
        ],
    )
    def test_train_save_and_load(self, task, variant, data):
        config = CONFIGS / task / f"mft_{variant}.jsonnet"
        self.set_up_model(config, FIXTURE_DATA / data)
        # The harness compares a batch read twice, so the loader must not shuffle.
        overrides = json.dumps(
            {"trainer.num_epochs": 2, "data_loader": {"batch_sampler": None, "batch_size": 8}}
        )
        model, loaded = self.ensure_model_can_train_save_and_load(config, overrides=overrides)
        assert loaded.skip_layers == model.skip_layers == [1, 3, 4]  # thirds of 4 layers
        has_heads = variant != "tw"
        assert (loaded._domain_heads is not None) == has_heads
        assert loaded.uses_typicality == (variant != "dc")
        serialization = self.TEST_DIR / "save_and_load_test"
        assert (serialization / "typicality.jsonl").is_file() == (variant != "dc")
        metrics = json.loads((serialization / "metrics.json").read_text())
        assert "training_label_loss" in metrics
        assert ("training_domain_loss" in metrics) == has_heads
        assert "validation_domain_loss" not in metrics


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize(
    "config, message",
    [
        ("mft_full", r"MFT's training data has domain\(s\) \['vehicle'\] that the model's vocab"),
        ("mft_dc", r"MFT's domain corruption loss needs the domain of every instance, but domain"),
        ("bert_adv", r"BERT \(Adv\)'s domain classifier needs the domain of every instance, but"),
    ],
)
def test_training_on_a_domain_the_vocabulary_lacks_names_it(config, message, tmp_path):
    """The methods that learn from the domain refuse training instances of a domain that the
    vocabulary lacks (indexed as "no domain"), here a vocabulary built from other data."""
    vocabulary_data = tmp_path / "taxonomy" / "other.tsv"
    vocabulary_data.parent.mkdir()
    vocabulary_data.write_text("dog\tanimal\t1\tanimal\noak\ttree\t1\tplant\ntree\toak\t0\tplant\n")
    overrides = {"validation_data_path": str(vocabulary_data)}
    overrides["datasets_for_vocab_creation"] = ["validation"]
    with pytest.raises(ConfigurationError, match=message + r".*\['animal', 'plant'\]"):
        train_model_from_file(
            CONFIGS / "taxonomy" / f"{config}.jsonnet", tmp_path / "run", json.dumps(overrides)
        )
