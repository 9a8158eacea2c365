"""training_configs/distributed.libsonnet: AllenNLP's `distributed` section for the shipped configs."""
import pytest
from allennlp.common import Params
from allennlp.nn.parallel import DdpAccelerator, TorchDdpAccelerator

from tests.conftest import CONFIGS, PROJECT_ROOT

# as the fragment's comment tells users to write it, from the project folder
FRAGMENT = "(import 'training_configs/distributed.libsonnet').distributed"
MFT_FULL = str(CONFIGS / "taxonomy" / "mft_full.jsonnet")


@pytest.fixture
def in_project(monkeypatch, tiny_env):
    monkeypatch.chdir(PROJECT_ROOT)


def test_fragment_adds_the_distributed_section_to_a_shipped_config(in_project):
    plain = Params.from_file(MFT_FULL).as_dict()
    overrides = (
        FRAGMENT + "([0, 1, 2, 3], num_nodes=2, primary_address='gpu-node-01', primary_port=29500)"
    )
    composed = Params.from_file(MFT_FULL, params_overrides=overrides).as_dict()
    assert composed.pop("distributed") == {
        "cuda_devices": [0, 1, 2, 3],
        "num_nodes": 2,
        "primary_address": "gpu-node-01",
        "primary_port": 29500,
        "ddp_accelerator": {"type": "torch", "find_unused_parameters": True},
    }
    assert composed == plain  # nothing else of the config changes


def test_fragment_builds_allennlps_ddp_accelerator_with_find_unused_parameters(in_project):
    section = Params.from_file(MFT_FULL, params_overrides=FRAGMENT + "([-1, -1])").as_dict()[
        "distributed"
    ]
    # one node: AllenNLP picks a free port itself when none is given
    assert section["primary_address"] == "127.0.0.1" and "primary_port" not in section
    accelerator = DdpAccelerator.from_params(
        Params(section["ddp_accelerator"]), local_rank=0, world_size=2, cuda_device=-1
    )
    assert isinstance(accelerator, TorchDdpAccelerator)
    assert accelerator._ddp_kwargs == {"find_unused_parameters": True}


@pytest.mark.parametrize(
    "arguments, message",
    [
        ("([0], num_nodes=2, primary_address='gpu-node-01')", "several nodes need primary_port"),
        ("([0])", "one device on one node is not distributed training"),
        ("(0)", "cuda_devices must list the devices of one node"),
    ],
)
def test_fragment_errors_name_the_setting(in_project, arguments, message):
    with pytest.raises(RuntimeError, match=message):
        Params.from_file(MFT_FULL, params_overrides=FRAGMENT + arguments)
