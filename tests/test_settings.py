"""
Every default written once: the stage settings in training_configs/defaults.libsonnet (read by
the `allennlp train` configs and by `allennlp mft-experiment`), the `MFT_*` variables in
`mft_plugin.settings.ENVIRONMENT`, both tabled in docs/configuration.md.
"""
import inspect
import shutil
from pathlib import Path
from typing import List, Optional

from allennlp.common import Params

from mft_plugin import settings
from mft_plugin.data.common import MultiDomainReader
from mft_plugin.experiments.plan import merge_nested
from mft_plugin.experiments.spec import (
    Stage1Settings,
    Stage2Settings,
    TransferSettings,
    load_experiment,
)
from mft_plugin.experiments.runner import ExperimentRunner
from mft_plugin.models.adversarial import AdversarialClassifier
from mft_plugin.models.meta_fine_tuning import MetaFineTuning
from mft_plugin.typicality import TypicalityConfig
from tests.conftest import CONFIGS, FIXTURE_DATA, PROJECT_ROOT, TINY_BERT

# What the test writes into a copy of the shared file: a value for each stage default.
CHANGED = {
    "max_length": 64,
    "stage1": {"lr": 3e-5, "epochs": 2, "batch_size": 4, "lambda": 0.2, "alpha": 0.7},
    "stage2": {"lr": 4e-5, "epochs": 5, "batch_size": 6},
}


def _configs_with_changed_defaults(tmp_path: Path) -> Path:
    configs = tmp_path / "configs"
    shutil.copytree(CONFIGS, configs)
    (configs / "defaults.libsonnet").rename(configs / "shipped_defaults.libsonnet")
    (configs / "defaults.libsonnet").write_text(
        "(import 'shipped_defaults.libsonnet') + {\n"
        f"  max_length: {CHANGED['max_length']},\n"
        "  stage1+: { lr: 3e-5, epochs: 2, batch_size: 4, lambda: 0.2, alpha: 0.7 },\n"
        "  stage2+: { lr: 4e-5, epochs: 5, batch_size: 6 },\n"
        "}\n"
    )
    return configs


def _experiment_file(tmp_path: Path) -> Path:
    """A taxonomy experiment that leaves every stage setting at its default."""
    path = tmp_path / "experiment.jsonnet"
    path.write_text(
        "{\n"
        "  name: 'defaults', task: 'taxonomy', domains: ['animal', 'vehicle'],\n"
        f"  data: {{ train: '{FIXTURE_DATA}/taxonomy/train', dev: '{FIXTURE_DATA}/taxonomy/dev' }},\n"
        f"  encoder: '{TINY_BERT}', methods: ['bert_mix', 'mft_full'], seeds: [13],\n"
        "}\n"
    )
    return path


def _stage_settings(config: dict) -> dict:
    """The stage defaults as an AllenNLP config carries them."""
    settings_of_config = {
        "lr": config["trainer"]["optimizer"]["lr"],
        "epochs": config["trainer"]["num_epochs"],
        "batch_size": config["data_loader"]["batch_sampler"]["batch_size"],
        "max_length": config["dataset_reader"]["max_length"],
    }
    if config["model"]["type"] == "meta_fine_tuning":
        settings_of_config["lambda"] = config["model"]["domain_corruption_weight"]
        settings_of_config["alpha"] = config["model"]["typicality"]["alpha"]
    return settings_of_config


def _train_config(configs: Path, name: str) -> dict:
    return Params.from_file(str(configs / "taxonomy" / name)).as_dict(quiet=True)


def _planned_configs(configs: Path, experiment_file: Path, out: Path) -> dict:
    experiment = load_experiment(str(experiment_file), configs_dir=str(configs))
    runner = ExperimentRunner(experiment, out, configs_dir=configs)
    by_method = {}
    for run in runner.runs:
        if run.method == "bert_mix" or (run.method == "mft_full" and run.is_stage1):
            by_method[run.method] = runner.config_for(run)
    return by_method


def test_changing_the_shared_defaults_changes_train_configs_and_planned_runs(tiny_env, tmp_path):
    experiment_file = _experiment_file(tmp_path)
    shipped = settings.stage_defaults()
    expected_before = {
        "mft_full": {**{k: shipped["stage1"][k] for k in CHANGED["stage1"]}, "max_length": 128},
        "bert_mix": {**{k: shipped["stage2"][k] for k in CHANGED["stage2"]}, "max_length": 128},
    }
    expected_after = {
        "mft_full": {**CHANGED["stage1"], "max_length": CHANGED["max_length"]},
        "bert_mix": {**CHANGED["stage2"], "max_length": CHANGED["max_length"]},
    }
    for configs, expected in (
        (CONFIGS, expected_before),
        (_configs_with_changed_defaults(tmp_path), expected_after),
    ):
        # `allennlp train training_configs/taxonomy/{mft_full,bert_mix}.jsonnet`
        assert _stage_settings(_train_config(configs, "mft_full.jsonnet")) == expected["mft_full"]
        assert _stage_settings(_train_config(configs, "bert_mix.jsonnet")) == expected["bert_mix"]
        # `allennlp mft-experiment` with the same configs folder
        planned = _planned_configs(configs, experiment_file, tmp_path / f"out-{configs.name}")
        assert _stage_settings(planned["mft_full"]) == expected["mft_full"]
        assert _stage_settings(planned["bert_mix"]) == expected["bert_mix"]


def test_the_shipped_defaults_are_the_papers():
    defaults = settings.stage_defaults()
    # §4.1: learning rate 2e-5, batch 32, maximum length 128, α 0.5, λ 0.1
    assert defaults["max_length"] == 128
    for stage in ("stage1", "stage2"):
        assert defaults[stage]["lr"] == 2e-5
        assert defaults[stage]["batch_size"] == 32
    assert (defaults["stage1"]["alpha"], defaults["stage1"]["lambda"]) == (0.5, 0.1)
    assert (defaults["stage1"]["epochs"], defaults["stage2"]["epochs"]) == (1, 3)


def _default_of(callable_, name):
    return inspect.signature(callable_).parameters[name].default


def test_the_components_own_defaults_agree_with_the_shared_file():
    # The classes keep documented defaults of their own (a config of one's own may leave the
    # keys out); they must say what the shared file says.
    stage1 = settings.stage_defaults()["stage1"]
    assert _default_of(MetaFineTuning.__init__, "domain_corruption_weight") == stage1["lambda"]
    assert _default_of(TypicalityConfig.__init__, "alpha") == stage1["alpha"]
    assert (
        _default_of(AdversarialClassifier.__init__, "reversal_weight") == stage1["reversal_weight"]
    )
    assert (
        _default_of(AdversarialClassifier.__init__, "reversal_schedule")
        == stage1["reversal_schedule"]
    )
    assert (
        _default_of(MultiDomainReader.__init__, "max_length")
        == settings.stage_defaults()["max_length"]
    )


def test_the_typed_sections_of_an_experiment_have_the_shared_files_keys():
    # Experiment.stage1, .stage2 and .transfer are typed by these; a key added to the shared
    # file (or taken from it) must be added to (or taken from) its type too.
    defaults = settings.stage_defaults()
    for section, typed in (
        ("stage1", Stage1Settings),
        ("stage2", Stage2Settings),
        ("transfer", TransferSettings),
    ):
        assert set(typed.__annotations__) == set(defaults[section]), section
    # and the shipped values have the declared types (None only where the type allows it)
    assert defaults["stage1"]["skip_layers"] is None
    assert Stage1Settings.__annotations__["skip_layers"] == Optional[List[int]]
    for section, typed in (("stage1", Stage1Settings), ("stage2", Stage2Settings)):
        for key, kind in typed.__annotations__.items():
            if isinstance(kind, type):
                assert isinstance(defaults[section][key], kind), (section, key)


def test_merge_nested_merges_objects_and_lets_other_values_replace():
    target = {"typicality": {"alpha": 0.5, "embedding": "cls"}, "dropout": 0.1, "keep": [1, 2]}
    patch = {"typicality": {"alpha": 0.7}, "dropout": None, "keep": [3], "new": {"a": 1}}
    assert merge_nested(target, patch) == {
        "typicality": {"alpha": 0.7, "embedding": "cls"},
        "dropout": None,  # null replaces (std.mergePatch would delete the key)
        "keep": [3],
        "new": {"a": 1},
    }
    assert merge_nested({"typicality": {"alpha": 0.5}}, {"typicality": None}) == {
        "typicality": None
    }
    assert merge_nested(1, {"a": 2}) == {"a": 2}
    assert target["typicality"] == {"alpha": 0.5, "embedding": "cls"}  # inputs unchanged


def test_the_configuration_page_shows_the_current_tables():
    page = PROJECT_ROOT / "docs" / "configuration.md"
    text = page.read_text(encoding="utf-8")
    assert settings.write_reference_tables(text) == text, (
        "docs/configuration.md is out of date with mft_plugin/settings.py or "
        "training_configs/defaults.libsonnet: run `make docs`"
    )
    for variable in settings.ENVIRONMENT:
        assert f"| `{variable.name}` |" in text


def test_the_tests_environment_sets_every_variable_of_the_table():
    from tests.conftest import TINY_ENVIRONMENT

    names = {variable.name for variable in settings.ENVIRONMENT} - {"MFT_HOME"}
    assert set(TINY_ENVIRONMENT) == names
    assert set(settings.environment_defaults()) == names
