"""Experiment files on the user's own data: a reader section instead of a task, model keys,
packages to include; what they plan and the configs they give (no training)."""
import json

import pytest
from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments import ExperimentRunner, load_experiment
from mft_plugin.experiments.spec import CUSTOM_TASK

READER = {"type": "mft_multi_domain", "base_reader": {"type": "text_classification_json"}}


def _experiment_file(tmp_path, **content):
    base = {
        "dataset_reader": READER,
        "domains": ["books", "toys"],
        "data": {
            "train": {"books": "books-train.jsonl", "toys": "toys-train.jsonl"},
            "dev": {"books": "books-dev.jsonl", "toys": "toys-dev.jsonl"},
        },
        "encoder": "some-encoder",
        "methods": ["bert_s", "bert_mix", "mft_full"],
        "seeds": [13],
    }
    base.update(content)
    base = {key: value for key, value in base.items() if value is not None}
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(base))
    return str(path)


def _configs(tmp_path, **content):
    runner = ExperimentRunner(load_experiment(_experiment_file(tmp_path, **content)), tmp_path)
    return {run.run_id: runner.config_for(run) for run in runner.runs}


def test_a_reader_section_makes_a_custom_task_and_every_run_reads_through_it(tmp_path):
    configs = _configs(tmp_path)
    assert load_experiment(_experiment_file(tmp_path)).task == CUSTOM_TASK
    for run_id, config in configs.items():
        reader = config["dataset_reader"]
        assert reader["type"] == "mft_multi_domain", run_id
        assert reader["base_reader"] == {"type": "text_classification_json"}, run_id
        # each path of the object made absolute, so that every run folder reads the same data
        assert set(config["train_data_path"]) == {"books", "toys"}
        assert all(
            path.startswith(str(tmp_path.anchor)) for path in config["train_data_path"].values()
        )
    # the per-domain runs select their domain through the reader's `domains`
    assert configs["bert_s/default/seed-13/toys"]["dataset_reader"]["domains"] == ["toys"]
    assert configs["mft_full/default/seed-13/books"]["dataset_reader"]["domains"] == ["books"]
    assert configs["mft_full/default/seed-13/stage1"]["model"]["type"] == "meta_fine_tuning"


def test_the_experiments_model_keys_reach_every_runs_model_section(tmp_path):
    pooler = {"type": "bert_pooler", "pretrained_model": "some-encoder"}
    configs = _configs(tmp_path, model={"seq2vec_encoder": pooler, "dropout": 0.2})
    for run_id, config in configs.items():
        assert config["model"]["seq2vec_encoder"] == pooler, run_id
        assert config["model"]["dropout"] == 0.2, run_id
    # on top of what the method sets, not instead of it
    stage1 = configs["mft_full/default/seed-13/stage1"]["model"]
    assert stage1["domain_corruption_weight"] == 0.1
    stage2 = configs["mft_full/default/seed-13/books"]["model"]
    assert stage2["initializer"]["regexes"][0][1]["type"] == "mft_stage1"


def test_shipped_tasks_give_the_same_configs_as_before(tmp_path):
    # a shipped task's spec carries no reader or model section, so its configs are unchanged
    experiment = load_experiment(
        _experiment_file(
            tmp_path, dataset_reader=None, task="taxonomy", data={"train": "t", "dev": "d"}
        )
    )
    runner = ExperimentRunner(experiment, tmp_path)
    for run in runner.runs:
        assert "dataset_reader" not in run.spec and "model" not in run.spec
        assert runner.config_for(run)["dataset_reader"]["type"] == "mft_term_pairs"


@pytest.mark.parametrize(
    "content, message",
    [
        ({"dataset_reader": None}, "the key 'task' is required"),
        ({"dataset_reader": {"base_reader": {}}}, "dataset_reader must be a reader section"),
        ({"task": "reviews"}, "task 'reviews' comes with its own reader"),
        ({"model": {"type": "basic_classifier"}}, "model.type cannot be set here"),
        ({"model": {"text_field_embedder": {}}}, "model.text_field_embedder cannot be set here"),
        ({"model": {"seq2vec_encoderr": {}}}, "model has key(s) ['seq2vec_encoderr']"),
        ({"include_package": [3]}, "include_package must be a list of module names"),
    ],
)
def test_bad_own_data_keys_are_refused_naming_the_key(tmp_path, content, message):
    with pytest.raises(ConfigurationError) as error:
        load_experiment(_experiment_file(tmp_path, **content))
    assert message in str(error.value)


def test_include_package_is_imported_and_named_to_every_training_run(tmp_path, monkeypatch):
    package = tmp_path / "own_components"
    package.mkdir()
    (package / "__init__.py").write_text("IMPORTED = True\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    experiment = load_experiment(_experiment_file(tmp_path, include_package=["own_components"]))
    ExperimentRunner(experiment, tmp_path / "out")
    import own_components  # noqa: F401  (imported by the runner: already in sys.modules)

    assert own_components.IMPORTED
