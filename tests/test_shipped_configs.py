"""
Every shipped jsonnet file under training_configs/, found by glob, evaluated against the tiny
BERT and the fixture data (never the real data), and `make configs`' expansion of them.

- The task configs (`training_configs/<task>/*.jsonnet`, `allennlp train` configs) build their
  dataset reader, which reads the task's fixture domains, and their model from a vocabulary of
  those instances; stage 2 starts from a stage-1 folder saved here from the task's MFT (Full)
  model, whose encoder and label classifier it must load.
- The experiment files (`training_configs/experiments/*.jsonnet`) are loaded and planned as
  `allennlp mft-experiment` does, and each distinct (method, run kind) of a file is rendered
  through `experiment.libsonnet` as the runner renders it (rendering every planned run, 1470 of
  them, takes minutes). The encoder is the tiny BERT and the data the fixtures.
- The libraries (`*.libsonnet`) are covered through the files that import them.
"""
import copy
import json
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

import pytest
import torch
from allennlp.common import Params
from allennlp.common.from_params import infer_constructor_params
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model
from allennlp.training.optimizers import Optimizer

from mft_plugin.commands import expand_configs
from mft_plugin.experiments import ExperimentRunner, load_experiment
from mft_plugin.experiments.spec import TASKS
from tests.conftest import CONFIGS, FIXTURE_DATA, PROJECT_ROOT, TINY_BERT, TINY_ENVIRONMENT

SHIPPED = sorted(CONFIGS.rglob("*.jsonnet"))
EXPERIMENT_FILES = [path for path in SHIPPED if path.parent == CONFIGS / "experiments"]
TASK_CONFIGS = [path for path in SHIPPED if path.parent in [CONFIGS / task for task in TASKS]]
TASK_CONFIG_NAMES = ["bert_adv", "bert_mix", "bert_mtl", "bert_s"]
TASK_CONFIG_NAMES += ["mft_dc", "mft_full", "mft_tw", "stage2"]

# The domains of each task's fixtures (tests/fixtures/data), in the order the readers read them.
FIXTURE_DOMAINS = {
    "nli": ["fiction", "government"],
    "reviews": ["books", "kitchen"],
    "taxonomy": ["animal", "vehicle"],
}
MODEL_TYPES = {
    "bert_s": "mft_transformer_classifier",
    "bert_mix": "mft_transformer_classifier",
    "stage2": "mft_transformer_classifier",
    "bert_mtl": "mft_multi_task",
    "bert_adv": "mft_adversarial",
    "mft_dc": "meta_fine_tuning",
    "mft_tw": "meta_fine_tuning",
    "mft_full": "meta_fine_tuning",
}
# The model of each run kind of an experiment (spec.py's METHODS, experiment.libsonnet's run).
RUN_KIND_MODELS = {
    "mix": "mft_transformer_classifier",
    "mix_stage1": "mft_transformer_classifier",
    "single_domain": "mft_transformer_classifier",
    "mtl": "mft_multi_task",
    "adv": "mft_adversarial",
    "mft": "meta_fine_tuning",
}
# Runs an experiment file plans, by hand from its methods, domains, seeds and sweep (S: one a
# domain; Mix: one; a method with a stage 1: stage 1 + one a domain).
PLANNED_RUNS = {
    # 3 seeds x (S: 4 + Mix: 1 + 5 two-stage methods and BERT (Mix+FT) x (1 + 4))
    "table3_amazon": 3 * (4 + 1 + 6 * 5),
    "table4_taxonomy": 3 * (3 + 1 + 6 * 4),
    "table2_mnli": 3 * (5 + 1 + 6 * 6),
    # 3 seeds x 3 sample fractions x (S: 5 + MFT (Full): 1 + 5)
    "table6_mnli_few_shot": 3 * 3 * (5 + 6),
    # 3 seeds x 4 values of Ls x MFT (Full) (1 + domains)
    "table7_skip_layers_amazon": 3 * 4 * (1 + 4),
    "table7_skip_layers_taxonomy": 3 * 4 * (1 + 3),
    # 6 values of lambda x MFT (Full)
    "figure4_lambda_amazon": 6 * (1 + 4),
    "figure4_lambda_taxonomy": 6 * (1 + 3),
    # S (and Mix) once; MFT (Full) at 5 stage-1 budgets
    "figure3_mft_epochs_amazon": 4 + 5 * (1 + 4),
    "figure3_mft_epochs_taxonomy": 3 + 1 + 5 * (1 + 3),
    "mix_margin_mnli_budget": 1 + 2 * (1 + 5),
    # Mix once; MFT (Full) under 7 options
    "mft_variants_mnli": 1 + 7 * (1 + 5),
    "mft_variants_taxonomy": 1 + 7 * (1 + 3),
    "mft_variants_amazon": 1 + 7 * (1 + 4),
    "mft_alpha_mnli": 4 * (1 + 5),
    "mft_prototypes_mnli": 2 * (1 + 5),
    # held-out domains x 3 seeds x (4 stage 1s + 5 methods x 3 shots values)
    "transfer_taxonomy": 3 * 3 * (4 + 5 * 3),
    "transfer_amazon": 4 * 3 * (4 + 5 * 3),
    "transfer_mnli": 5 * 3 * (4 + 5 * 3),
}


def _name(path: Path) -> str:
    return path.relative_to(CONFIGS).as_posix()


def test_the_glob_finds_every_shipped_config():
    # 19 experiment files (besides their two libraries) and 8 configs for each of 3 tasks
    assert len(EXPERIMENT_FILES) >= 19, [_name(path) for path in EXPERIMENT_FILES]
    assert len(TASK_CONFIGS) >= 24, [_name(path) for path in TASK_CONFIGS]
    for task in TASKS:
        names = sorted(path.stem for path in TASK_CONFIGS if path.parent.name == task)
        assert set(TASK_CONFIG_NAMES) <= set(names), task
    # a jsonnet file in a new folder belongs to neither test below: give it one
    assert sorted(EXPERIMENT_FILES + TASK_CONFIGS) == SHIPPED
    assert {path.stem for path in EXPERIMENT_FILES} >= set(PLANNED_RUNS)


# --------------------------------------------------------------------------------------------
# The task configs


def _read_fixtures(params: Params) -> List:
    reader = DatasetReader.from_params(params.pop("dataset_reader"))
    path = params["train_data_path"]
    assert Path(path).resolve().is_relative_to(FIXTURE_DATA), path
    return list(reader.read(path))


def _build_model(params: Params, vocabulary: Vocabulary) -> Model:
    model_type = params["model"]["type"]
    model = Model.from_params(vocab=vocabulary, params=params.pop("model"))
    assert type(model) is Model.by_name(model_type)
    return model


def _save_stage1(task: str, folder: Path) -> Dict[str, torch.Tensor]:
    """The task's MFT (Full) model saved as a serialization folder (best.th, vocabulary/)."""
    params = Params.from_file(str(CONFIGS / task / "mft_full.jsonnet"))
    instances = _read_fixtures(params)
    model = _build_model(params, Vocabulary.from_instances(instances))
    folder.mkdir()
    torch.save(model.state_dict(), folder / "best.th")
    model.vocab.save_to_files(str(folder / "vocabulary"))
    return model.state_dict()


@pytest.mark.usefixtures("tiny_env")  # tiny BERT, fixture data
@pytest.mark.parametrize("path", TASK_CONFIGS, ids=_name)
def test_task_config_reads_the_fixtures_and_builds_its_model(path, monkeypatch, tmp_path):
    task = path.parent.name
    domains = FIXTURE_DOMAINS[task]
    single_domain = path.stem in ("bert_s", "stage2")
    if single_domain:
        monkeypatch.setenv("MFT_DOMAIN", domains[-1])
    if path.stem == "stage2":
        stage1 = tmp_path / "stage1"
        stage1_weights = _save_stage1(task, stage1)
        monkeypatch.setenv("MFT_STAGE1", str(stage1))
    params = Params.from_file(str(path))
    config = copy.deepcopy(params.as_dict(quiet=True))  # building pops sections off params
    for key in ("dataset_reader", "train_data_path", "validation_data_path", "model", "trainer"):
        assert key in config, key
    assert config["random_seed"] == 13
    encoder = config["model"]["text_field_embedder"]["token_embedders"]["tokens"]
    assert encoder["model_name"] == config["dataset_reader"]["model_name"] == TINY_BERT

    instances = _read_fixtures(params)
    read_domains = [instance["metadata"]["domain"] for instance in instances]
    assert sorted(set(read_domains)) == ([domains[-1]] if single_domain else domains)
    if path.stem == "stage2":
        # the stage-1 folder named where stage 2 loads its weights and vocabulary
        ((loaded, initializer),) = config["model"]["initializer"]["regexes"]
        assert initializer == {
            "type": "mft_stage1",
            "weights_file_path": str(stage1),
            "domain": domains[-1],
        }
        assert config["vocabulary"] == {"type": "mft_stage1", "archive": str(stage1)}
        vocabulary = Vocabulary.from_params(params.pop("vocabulary"), instances=instances)
    else:
        vocabulary = Vocabulary.from_instances(instances)
    model = _build_model(params, vocabulary)
    if path.stem in MODEL_TYPES:
        assert config["model"]["type"] == MODEL_TYPES[path.stem]
    if path.stem == "stage2":
        weights = model.state_dict()
        copied = [name for name in weights if re.fullmatch(loaded, name)]
        assert "_label_classifier.weight" in copied and len(copied) > 2
        for name in copied:
            assert torch.equal(weights[name], stage1_weights[name]), name
    # the model reads the reader's fields: one prediction a label distribution
    model.eval()
    (output,) = model.forward_on_instances(instances[:1])
    assert output["probs"].shape == (vocabulary.get_vocab_size("labels"),)
    assert float(output["probs"].sum()) == pytest.approx(1.0, abs=1e-5)
    # the optimizer's parameter groups match the encoder's names: no weight decay on the biases
    # and LayerNorm weights, weight decay on the rest
    trainer = config["trainer"]
    assert trainer["num_epochs"] >= 1
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()), params=Params(trainer["optimizer"])
    )
    decays = [group["weight_decay"] for group in optimizer.param_groups]
    sizes = [len(group["params"]) for group in optimizer.param_groups]
    assert decays == [0.0, 0.01] and min(sizes) > 0, (decays, sizes)


# --------------------------------------------------------------------------------------------
# The experiment files


def _check_rendered(runner: ExperimentRunner, run, config: Dict) -> None:
    """What a rendered run config must hold for `allennlp train` and for the run it stands for."""
    experiment = runner.experiment
    spec = run.spec
    params = Params(copy.deepcopy(config))
    for key in ("dataset_reader", "train_data_path", "validation_data_path", "model", "trainer"):
        assert key in params, key
    assert config["random_seed"] == config["pytorch_seed"] == run.seed
    reader = config["dataset_reader"]
    assert reader["model_name"] == TINY_BERT
    assert reader["domains"] == ([run.domain] if run.domain else spec["reader"]["domains"])
    for key, split in (("train_data_path", "train"), ("validation_data_path", "dev")):
        assert config[key] == str(Path(experiment.data[split]).resolve())
        assert Path(config[key]).is_relative_to(FIXTURE_DATA), config[key]
    model = config["model"]
    assert model["type"] == RUN_KIND_MODELS[spec["kind"]]
    assert model["text_field_embedder"]["token_embedders"]["tokens"]["model_name"] == TINY_BERT
    taken = infer_constructor_params(Model.by_name(model["type"]))
    assert set(model) - {"type"} <= set(taken), sorted(set(model) - set(taken))
    assert model["bf16"] is experiment.bf16
    if run.depends_on is not None:
        archive = str(runner.run_dir(runner.find_run(run.depends_on)) / "model.tar.gz")
        assert config["vocabulary"]["archive"] == archive
        assert model["initializer"]["regexes"][0][1]["weights_file_path"] == archive
    else:
        assert "initializer" not in model and "vocabulary" not in config
    # BERT (Mix) trains as long as stage 2 does (also when it is a transfer's stage 1)
    stage = spec["stage2"] if spec["kind"] in ("mix", "single_domain") else spec["stage1"]
    trainer = config["trainer"]
    assert trainer["num_epochs"] == stage["epochs"]
    assert trainer["optimizer"]["lr"] == stage["lr"]
    assert config["data_loader"]["batch_sampler"]["batch_size"] == stage["batch_size"]
    callbacks = [callback["type"] for callback in trainer["callbacks"]]
    assert ("mft_prototypes" in callbacks) == (model["type"] == "meta_fine_tuning")


@pytest.mark.usefixtures("tiny_env")  # tiny BERT, fixture data
@pytest.mark.parametrize("path", EXPERIMENT_FILES, ids=_name)
def test_experiment_file_plans_its_runs_and_renders_their_configs(path, tmp_path):
    experiment = load_experiment(str(path), json.dumps({"encoder": TINY_BERT}))
    assert experiment.encoder == TINY_BERT
    assert Path(experiment.data["train"]).is_relative_to(FIXTURE_DATA)
    runner = ExperimentRunner(experiment, tmp_path / "out")
    if path.stem in PLANNED_RUNS:
        assert len(runner.runs) == PLANNED_RUNS[path.stem]
    if path.stem.startswith("mft_"):
        # the probes give stage 1 as many epochs as BERT (Mix) trains pooled
        assert experiment.stage1["epochs"] == experiment.stage2["epochs"]
    # one run of each (method, kind): the runs of a kind differ in values, not in structure
    first_runs = {}
    for run in runner.runs:
        first_runs.setdefault((run.method, run.spec["kind"]), run)
    readers = set()
    for run in first_runs.values():
        config = runner.config_for(run)
        _check_rendered(runner, run, config)
        readers.add(json.dumps(config["dataset_reader"], sort_keys=True))
    # the readers take every key the runs give them (few-shot samples, domains, max_length)
    for reader in readers:
        DatasetReader.from_params(Params(json.loads(reader)))


# --------------------------------------------------------------------------------------------
# `make configs`


def test_expanded_configs_are_the_configs_as_allennlp_reads_them(monkeypatch, tmp_path):
    for name in TINY_ENVIRONMENT:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("MFT_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("MFT_SEED", "7")
    monkeypatch.setenv("MFT_SKIP_LAYERS", "")  # empty: unset, as for the plugin
    environment = expand_configs.expansion_environment()
    assert environment == {
        "MFT_ENCODER": str(tmp_path / "home" / "all-MiniLM-L6-v2"),
        "MFT_DATA_DIR": "../shared/data",
        "MFT_SEED": "7",  # the user's value wins
        "MFT_SKIP_LAYERS": "auto",
        "MFT_BF16": "false",
        "MFT_DOMAIN": "<MFT_DOMAIN>",
        "MFT_STAGE1": "<MFT_STAGE1>",
        "MFT_KEEP_EPOCH": "last",
    }
    written = expand_configs.expand_configs(CONFIGS, tmp_path / "out", environment)
    assert len(written) == len(SHIPPED)
    expanded = json.loads((tmp_path / "out" / "taxonomy" / "mft_full.json").read_text())
    for name, value in environment.items():
        monkeypatch.setenv(name, value)
    params = Params.from_file(str(CONFIGS / "taxonomy" / "mft_full.jsonnet"))
    assert expanded == params.as_dict(quiet=True)
    assert expanded["random_seed"] == 7
    stage2 = json.loads((tmp_path / "out" / "nli" / "stage2.json").read_text())
    assert stage2["vocabulary"] == {"type": "mft_stage1", "archive": "<MFT_STAGE1>"}
    assert stage2["dataset_reader"]["domains"] == ["<MFT_DOMAIN>"]
    experiment = json.loads((tmp_path / "out" / "experiments" / "table4_taxonomy.json").read_text())
    assert experiment["data"]["train"] == "../shared/data/taxonomy/train"
    readme = (tmp_path / "out" / "README.md").read_text()
    assert "| `MFT_SEED` | `7` |" in readme and "| `MFT_DOMAIN` | `<MFT_DOMAIN>` |" in readme
    assert f"The {len(SHIPPED)} `*.jsonnet` files" in readme


def test_expand_configs_script_has_help_and_names_a_config_that_fails(tmp_path):
    result = subprocess.run(
        [sys.executable, "-m", "mft_plugin.commands.expand_configs", "--help"],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
    )
    assert result.returncode == 0, result.stderr
    assert "fully expanded to JSON" in result.stdout
    broken = tmp_path / "configs" / "broken.jsonnet"
    broken.parent.mkdir()
    broken.write_text("{ a: std.extVar('MFT_NO_SUCH') }")
    with pytest.raises(SystemExit) as error:
        expand_configs.main([str(broken.parent), str(tmp_path / "out")])
    assert str(error.value).startswith(f"expand_configs: {broken}: ")
    assert "undefined external variable: MFT_NO_SUCH" in str(error.value)
    (tmp_path / "empty").mkdir()
    with pytest.raises(SystemExit, match="No \\*.jsonnet files under"):
        expand_configs.main([str(tmp_path / "empty"), str(tmp_path / "out")])
