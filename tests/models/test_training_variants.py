"""Train, save and reload every stage-1 variant through the shipped configs (tiny BERT)."""
import json

import pytest
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
