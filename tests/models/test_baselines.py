"""The baselines (MTL, Adv, S, Mix) and stage 2: training, gradient reversal, archive loading."""
import json

import pytest
import torch
from allennlp.common import Params
from allennlp.common.testing import ModelTestCase
from allennlp.data import Vocabulary
from allennlp.models import Model, load_archive
from allennlp.commands.train import train_model_from_file

from mft_plugin.data.samplers import SingleDomainBucketSampler
from mft_plugin.models.adversarial import dann_schedule, reverse_gradient
from tests.conftest import CONFIGS, FIXTURE_DATA
from tests.models.helpers import term_pair_instances

NO_SHUFFLE = json.dumps({"data_loader": {"batch_sampler": None, "batch_size": 8}})


@pytest.mark.usefixtures("tiny_env")
class TestBaselineConfigs(ModelTestCase):
    @pytest.mark.parametrize("config", ["bert_mix", "bert_adv"])
    def test_pooled_baselines_train_save_and_load(self, config):
        path = CONFIGS / "taxonomy" / f"{config}.jsonnet"
        self.set_up_model(path, FIXTURE_DATA / "taxonomy/train")
        self.ensure_model_can_train_save_and_load(path, overrides=NO_SHUFFLE)

    def test_multi_task_trains_save_and_load(self):
        path = CONFIGS / "taxonomy" / "bert_mtl.jsonnet"
        self.set_up_model(path, FIXTURE_DATA / "taxonomy/train")
        # the harness checks gradients on one batch; heads of the other domain get none there
        self.ensure_model_can_train_save_and_load(
            path,
            overrides=NO_SHUFFLE,
            gradients_to_ignore={
                "_domain_classifiers.vehicle.weight",
                "_domain_classifiers.vehicle.bias",
            },
        )

    def test_single_domain_baseline_reads_one_domain(self, monkeypatch):
        monkeypatch.setenv("MFT_DOMAIN", "vehicle")
        path = CONFIGS / "taxonomy" / "bert_s.jsonnet"
        self.set_up_model(path, FIXTURE_DATA / "taxonomy/train")
        model, _ = self.ensure_model_can_train_save_and_load(path, overrides=NO_SHUFFLE)
        assert model.vocab.get_token_to_index_vocabulary("domain_labels") == {"vehicle": 0}


def test_gradient_reversal_negates_and_scales_gradients():
    features = torch.tensor([[1.0, -2.0, 3.0]], requires_grad=True)
    upstream = torch.tensor([[0.5, 1.0, -4.0]])
    reversed_features = reverse_gradient(features, 0.3)
    assert torch.equal(reversed_features, features)
    reversed_features.backward(upstream)
    assert torch.allclose(features.grad, -0.3 * upstream)
    # numerically: d/dx of sum(upstream * GRL(x)) is -0.3 * upstream
    x = torch.tensor([0.7], requires_grad=True)
    (2.0 * reverse_gradient(x, 1.5)).sum().backward()
    assert float(x.grad) == pytest.approx(-3.0)


def test_dann_schedule_ramps_from_zero_to_one():
    assert dann_schedule(0.0) == 0.0
    assert dann_schedule(0.5) == pytest.approx(2 / (1 + torch.exp(torch.tensor(-5.0)).item()) - 1)
    assert dann_schedule(1.0) == pytest.approx(0.99990920, abs=1e-6)


def test_single_domain_sampler_never_mixes_domains():
    instances = term_pair_instances()
    sampler = SingleDomainBucketSampler(batch_size=3, sorting_keys=["tokens"])
    batches = list(sampler.get_batch_indices(instances))
    assert sorted(i for batch in batches for i in batch) == list(range(16))
    for batch in batches:
        assert len({instances[i]["domain"].label for i in batch}) == 1
    assert len(batches) == sampler.get_num_batches(instances) == 6  # 3 + 3 per 8-instance domain


def _stage2_model(archive):
    """The stage-2 model as `stage2.jsonnet` builds it (MFT_STAGE1 and MFT_DOMAIN set)."""
    params = Params.from_file(CONFIGS / "taxonomy" / "stage2.jsonnet")
    vocab = Vocabulary.from_files(str(archive))
    return Model.from_params(vocab=vocab, params=params["model"])


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("stage1", ["mft_full", "bert_mtl"])
def test_stage2_starts_from_the_stage1_encoder_and_classifier_without_its_heads(
    stage1, tmp_path, monkeypatch
):
    train_model_from_file(CONFIGS / "taxonomy" / f"{stage1}.jsonnet", tmp_path / "stage1")
    archive = tmp_path / "stage1" / "model.tar.gz"
    monkeypatch.setenv("MFT_STAGE1", str(archive))
    monkeypatch.setenv("MFT_DOMAIN", "vehicle")
    model = _stage2_model(archive)
    source = load_archive(str(archive)).model.state_dict()
    target = model.state_dict()
    encoder = [name for name in target if name.startswith("_text_field_embedder.")]
    assert encoder
    for name in encoder:
        assert torch.equal(target[name], source[name]), name
    head = "_label_classifier" if stage1 == "mft_full" else "_domain_classifiers.vehicle"
    assert torch.equal(target["_label_classifier.weight"], source[f"{head}.weight"])
    assert torch.equal(target["_label_classifier.bias"], source[f"{head}.bias"])
    assert not [name for name in target if name.startswith(("_domain_", "_domain_classifiers"))]
    assert type(model).__name__ == "TransformerClassifier"
    # the stage-1 vocabulary, so the classifier's rows keep their labels
    assert model.vocab.get_token_to_index_vocabulary("labels") == load_archive(
        str(archive)
    ).model.vocab.get_token_to_index_vocabulary("labels")
