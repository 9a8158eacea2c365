"""
The GPU paths: training, prediction, compilation and the prototype pass's reductions on CUDA.

Every test here skips on a machine without CUDA (CI has none); run them on a GPU machine with
`pytest tests/test_cuda.py`. The two-GPU test also needs a second GPU.
"""
import contextlib
import json
import socket

import pytest
import torch
import torch.distributed as dist
from allennlp.commands.train import train_model_from_file
from allennlp.predictors import Predictor

from mft_plugin.callbacks import PrototypeCallback
from mft_plugin.callbacks.prototypes import _all_reduce_sum
from tests.conftest import CONFIGS
from tests.models.helpers import term_pair_instances, tiny_mft, vocabulary

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")

TAXONOMY_FULL = CONFIGS / "taxonomy" / "mft_full.jsonnet"
PAIRS = [
    {"hyponym": "poodle", "hypernym": "dog", "domain": "animal"},
    {"hyponym": "car", "hypernym": "vehicle", "domain": "vehicle"},
    {"hyponym": "oak", "hypernym": "tree"},
]


def _free_port() -> int:
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


@contextlib.contextmanager
def _nccl_group(monkeypatch):
    """A one-process NCCL group on GPU 0: NCCL's rules (CUDA tensors only) without a 2nd GPU."""
    monkeypatch.setenv("MASTER_ADDR", "127.0.0.1")
    monkeypatch.setenv("MASTER_PORT", str(_free_port()))
    torch.cuda.set_device(0)
    dist.init_process_group("nccl", rank=0, world_size=1)
    try:
        yield
    finally:
        dist.destroy_process_group()


@pytest.mark.usefixtures("tiny_env")
@pytest.mark.parametrize("bf16", [False, True])
def test_mft_trains_on_a_gpu_and_predicts_there_as_on_the_cpu(tmp_path, bf16):
    overrides = {"trainer.cuda_device": 0, "model.bf16": bf16}
    train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=json.dumps(overrides))
    metrics = json.loads((tmp_path / "metrics.json").read_text())
    assert 0.0 <= metrics["best_validation_accuracy"] <= 1.0
    assert len((tmp_path / "typicality.jsonl").read_text().splitlines()) == 16

    archive = str(tmp_path / "model.tar.gz")
    on_gpu = Predictor.from_path(archive, cuda_device=0)
    assert next(on_gpu._model.parameters()).is_cuda
    on_cpu = Predictor.from_path(archive, cuda_device=-1)
    for gpu, cpu in zip(on_gpu.predict_batch_json(PAIRS), on_cpu.predict_batch_json(PAIRS)):
        assert gpu["label"] == cpu["label"]
        tolerance = 2e-2 if bf16 else 1e-4
        assert gpu["probs"] == pytest.approx(cpu["probs"], abs=tolerance)


def test_prototype_sums_reduce_over_nccl_and_come_back_to_the_cpu(monkeypatch):
    counts = torch.tensor([[3.0, 4.0], [5.0, 6.0]], dtype=torch.float64)
    with _nccl_group(monkeypatch):
        reduced = _all_reduce_sum(counts)
    assert reduced.device.type == "cpu" and torch.equal(reduced, counts)


def test_prototype_pass_of_a_gpu_model_under_nccl_equals_the_plain_pass(monkeypatch):
    instances = term_pair_instances()
    vocab = vocabulary(instances)
    for instance in instances:
        instance.index_fields(vocab)
    model = tiny_mft(vocab).cuda()
    plain_records, _, plain_prototypes = PrototypeCallback("unused", batch_size=5).compute(
        model, instances
    )
    with _nccl_group(monkeypatch):
        records, _, prototypes = PrototypeCallback("unused", batch_size=5).compute(model, instances)
    assert torch.equal(prototypes["counts"], plain_prototypes["counts"])
    assert torch.allclose(prototypes["prototypes"], plain_prototypes["prototypes"])
    assert [r["typicality"] for r in records] == [r["typicality"] for r in plain_records]


@pytest.mark.usefixtures("tiny_env")
def test_compiled_encoder_trains_on_a_gpu(tmp_path):
    overrides = {"trainer.cuda_device": 0, "model.compile_encoder": True}
    train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=json.dumps(overrides))
    assert (tmp_path / "model.tar.gz").is_file()


@pytest.mark.skipif(torch.cuda.device_count() < 2, reason="needs two GPUs")
@pytest.mark.usefixtures("tiny_env")
def test_two_gpu_workers_hold_the_same_typicality_as_one_process(tmp_path):
    single, distributed = tmp_path / "single", tmp_path / "distributed"
    train_model_from_file(TAXONOMY_FULL, single, overrides=json.dumps({"trainer.cuda_device": 0}))
    overrides = {"distributed": {"cuda_devices": [0, 1], "primary_port": _free_port()}}
    train_model_from_file(TAXONOMY_FULL, distributed, overrides=json.dumps(overrides))
    one = [json.loads(line) for line in (single / "typicality.jsonl").read_text().splitlines()]
    two = [json.loads(line) for line in (distributed / "typicality.jsonl").read_text().splitlines()]
    assert [r["instance_id"] for r in one] == [r["instance_id"] for r in two]
    for a, b in zip(one, two):
        assert a["typicality"] == pytest.approx(b["typicality"], abs=2e-3)
