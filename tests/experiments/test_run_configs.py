"""The AllenNLP configs the experiment runner builds for its runs (no training)."""
import copy
import json

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader

from mft_plugin.experiments import ExperimentRunner, load_experiment
from mft_plugin.models.meta_fine_tuning import TypicalitySection
from tests.conftest import FIXTURES, PROJECT_ROOT

EXPERIMENT = FIXTURES / "experiments" / "tiny.jsonnet"


@pytest.fixture
def runner_for(monkeypatch, tmp_path):
    monkeypatch.setenv("MFT_TEST_FIXTURES", str(FIXTURES))

    def build(overrides):
        text = overrides if isinstance(overrides, str) else json.dumps(overrides)
        experiment = load_experiment(str(EXPERIMENT), text)
        return ExperimentRunner(experiment, tmp_path / "out")

    return build


def _config(runner, run_id):
    return runner.config_for(next(run for run in runner.runs if run.run_id == run_id))


def _instance_ids(reader_config, path):
    reader = DatasetReader.from_params(Params(copy.deepcopy(reader_config)))
    return [instance["metadata"]["instance_id"] for instance in reader.read(path)]


def test_each_seed_trains_on_its_own_few_shot_sample(runner_for):
    runner = runner_for({"few_shot": {"sample_fraction": 0.5}, "seeds": [13, 14]})
    samples = {}
    for seed in (13, 14):
        config = _config(runner, f"bert_s/default/seed-{seed}/animal")
        assert config["dataset_reader"]["sample_seed"] == seed
        assert config["random_seed"] == seed
        samples[seed] = _instance_ids(config["dataset_reader"], config["train_data_path"])
        # dev is read whole: every animal pair of the fixture's dev file
        validation = config["validation_dataset_reader"]
        assert validation["sample_fraction"] is None and validation["sample_count"] is None
        dev_lines = (FIXTURES / "data/taxonomy/dev/animal.tsv").read_text().strip().splitlines()
        assert len(_instance_ids(validation, config["validation_data_path"])) == len(dev_lines)
        stage1 = _config(runner, f"mft_full/default/seed-{seed}/stage1")
        assert stage1["dataset_reader"]["sample_seed"] == seed
    train_lines = (FIXTURES / "data/taxonomy/train/animal.tsv").read_text().strip().splitlines()
    assert len(samples[13]) == len(samples[14]) == len(train_lines) // 2
    assert set(samples[13]) != set(samples[14])


def test_few_shot_sample_seed_given_in_the_experiment_is_kept_for_every_seed(runner_for):
    runner = runner_for({"few_shot": {"sample_fraction": 0.5, "sample_seed": 7}, "seeds": [13, 14]})
    for seed in (13, 14):
        config = _config(runner, f"bert_s/default/seed-{seed}/animal")
        assert config["dataset_reader"]["sample_seed"] == 7


def test_kmeans_prototypes_are_seeded_by_the_run_seed(runner_for):
    runner = runner_for({"stage1": {"prototypes_per_class": 2}, "seeds": [13, 14]})
    for seed in (13, 14):
        typicality = _config(runner, f"mft_full/default/seed-{seed}/stage1")["model"]["typicality"]
        assert typicality == {"alpha": 0.5, "prototypes_per_class": 2, "seed": seed}
        assert TypicalitySection(**typicality).seed == seed


def test_configs_without_sampling_or_kmeans_carry_no_extra_seeds(runner_for):
    """Runs that draw nothing keep the configs they had, so finished runs stay reusable."""
    runner = runner_for({})
    stage1 = _config(runner, "mft_full/default/seed-13/stage1")
    assert stage1["model"]["typicality"] == {"alpha": 0.5}
    assert "sample_seed" not in stage1["dataset_reader"]
    assert "validation_dataset_reader" not in stage1


def test_experiment_overrides_can_train_every_run_on_several_devices_of_one_node(
    runner_for, monkeypatch
):
    monkeypatch.chdir(PROJECT_ROOT)  # the import resolves against the project folder
    runner = runner_for(
        "{overrides: (import 'training_configs/distributed.libsonnet').distributed([0, 1])}"
    )
    for run in runner.runs:
        assert runner.config_for(run)["distributed"]["cuda_devices"] == [0, 1], run.run_id


def test_experiment_refuses_runs_over_several_nodes(runner_for):
    runner = runner_for({"overrides": {"distributed": {"cuda_devices": [0], "num_nodes": 2}}})
    with pytest.raises(
        ConfigurationError, match=r"tiny-taxonomy: the overrides set distributed.num_nodes = 2"
    ):
        _config(runner, "bert_s/default/seed-13/animal")


def test_bert_mix_ft_is_mfts_two_stages_with_bert_mixs_model_and_loss(runner_for):
    runner = runner_for(
        {
            "methods": ["bert_mix", "mft_full", "bert_mix_ft"],
            "stage1": {"epochs": 2, "lr": 3e-5, "batch_size": 4},
            "stage2": {"epochs": 3, "lr": 2e-5, "batch_size": 8},
        }
    )
    mix = _config(runner, "bert_mix/default/seed-13/mix")
    stage1 = _config(runner, "bert_mix_ft/default/seed-13/stage1")
    mft_stage1 = _config(runner, "mft_full/default/seed-13/stage1")
    # BERT (Mix)'s model and pooled data ...
    for key in ("model", "dataset_reader", "train_data_path", "validation_data_path"):
        assert stage1[key] == mix[key], key
    assert stage1["model"]["type"] == "mft_transformer_classifier"
    # ... trained by the stage1 settings, as long as MFT's stage 1
    for config, epochs, lr, batch_size in ((stage1, 2, 3e-5, 4), (mix, 3, 2e-5, 8)):
        assert config["trainer"]["num_epochs"] == epochs
        assert config["trainer"]["optimizer"]["lr"] == lr
        assert config["data_loader"]["batch_sampler"]["batch_size"] == batch_size
    assert mft_stage1["trainer"]["num_epochs"] == 2
    # stage 2 is MFT's, from its own stage-1 archive
    for domain in ("animal", "vehicle"):
        control = json.dumps(_config(runner, f"bert_mix_ft/default/seed-13/{domain}"))
        mft = json.dumps(_config(runner, f"mft_full/default/seed-13/{domain}"))
        assert "bert_mix_ft/default/seed-13/stage1/model.tar.gz" in control
        assert control == mft.replace(
            "mft_full/default/seed-13/stage1", "bert_mix_ft/default/seed-13/stage1"
        )


def test_mft_model_options_reach_the_mft_stage1_models_only(runner_for):
    methods = ["bert_s", "bert_mtl", "mft_dc", "mft_full"]
    options = {
        "typicality": {"rescale": "mean_one"},
        "shared_domain_head": True,
        "corruption": "uniform",
    }
    runner = runner_for({"methods": methods, "stage1": {"mft_model": options}})
    full = _config(runner, "mft_full/default/seed-13/stage1")["model"]
    assert full["typicality"] == {"alpha": 0.5, "rescale": "mean_one"}
    assert (full["shared_domain_head"], full["corruption"]) == (True, "uniform")
    assert TypicalitySection(**full["typicality"]).rescale == "mean_one"
    dc = _config(runner, "mft_dc/default/seed-13/stage1")["model"]
    assert dc["typicality"] is None  # MFT (DC) has no typicality to set options of
    assert (dc["shared_domain_head"], dc["corruption"]) == (True, "uniform")
    # every other run's config is the one it has without the options
    plain = runner_for({"methods": methods})
    for run in plain.runs:
        if not run.run_id.startswith("mft_") or not run.is_stage1:
            assert runner.config_for(run) == plain.config_for(run), run.run_id


def test_mft_model_sweep_gives_each_value_its_model_section_and_run_folders(runner_for):
    values = [
        {"name": "paper"},
        {"name": "mean_one", "typicality": {"rescale": "mean_one"}},
        {"name": "uniform", "corruption": "uniform", "typicality": {"embedding": "pooler"}},
    ]
    runner = runner_for(
        {
            "methods": ["bert_s", "mft_dc", "mft_full"],
            "stage1": {"mft_model": {"weight_domain_loss": False}},
            "sweep": {"parameter": "mft_model", "values": values},
        }
    )
    stage1 = [run for run in runner.runs if run.is_stage1]
    assert [run.run_id for run in stage1] == [
        "mft_dc/mft_model=paper/seed-13/stage1",
        "mft_full/mft_model=paper/seed-13/stage1",
        "mft_full/mft_model=mean_one/seed-13/stage1",
        "mft_dc/mft_model=uniform/seed-13/stage1",
        "mft_full/mft_model=uniform/seed-13/stage1",
    ]
    # MFT (DC) ignores the typicality options, so "mean_one" is "paper" to it: trained once
    assert [value["name"] for value in stage1[0].sweep_values] == ["paper", "mean_one"]
    models = {run.run_id: runner.config_for(run)["model"] for run in stage1}
    common = {"weight_domain_loss": False}  # stage1.mft_model, under every value
    for run_id, typicality, extra in (
        ("mft_full/mft_model=paper/seed-13/stage1", {"alpha": 0.5}, {}),
        ("mft_full/mft_model=mean_one/seed-13/stage1", {"alpha": 0.5, "rescale": "mean_one"}, {}),
        (
            "mft_full/mft_model=uniform/seed-13/stage1",
            {"alpha": 0.5, "embedding": "pooler"},
            {"corruption": "uniform"},
        ),
        ("mft_dc/mft_model=paper/seed-13/stage1", None, {}),
        ("mft_dc/mft_model=uniform/seed-13/stage1", None, {"corruption": "uniform"}),
    ):
        model = models[run_id]
        assert model["typicality"] == typicality, run_id
        assert "name" not in model, run_id
        for key, value in {**common, **extra}.items():
            assert model[key] == value, (run_id, key)
    assert "corruption" not in models["mft_full/mft_model=paper/seed-13/stage1"]


def test_prototypes_per_class_sweep_sets_j_of_the_typicality_runs_only(runner_for):
    runner = runner_for(
        {
            "methods": ["mft_dc", "mft_full"],
            "sweep": {"parameter": "prototypes_per_class", "values": [1, 3]},
        }
    )
    stage1 = {run.run_id: runner.config_for(run) for run in runner.runs if run.is_stage1}
    assert sorted(stage1) == [
        "mft_dc/default/seed-13/stage1",  # no typicality: trained once for both values
        "mft_full/prototypes_per_class=1/seed-13/stage1",
        "mft_full/prototypes_per_class=3/seed-13/stage1",
    ]
    typicality = {run_id: config["model"].get("typicality") for run_id, config in stage1.items()}
    assert typicality["mft_full/prototypes_per_class=1/seed-13/stage1"] == {"alpha": 0.5}
    assert typicality["mft_full/prototypes_per_class=3/seed-13/stage1"] == {
        "alpha": 0.5,
        "prototypes_per_class": 3,
        "seed": 13,  # k-means, seeded by the run
    }
    assert typicality["mft_dc/default/seed-13/stage1"] is None
