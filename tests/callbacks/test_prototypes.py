"""The prototype callback: its scores, its files, distributed agreement and --recover."""
import json
import socket

import pytest
import torch
from allennlp.commands.train import train_model_from_file
from allennlp.common.checks import ConfigurationError

from mft_plugin.callbacks import PrototypeCallback
from mft_plugin.typicality import TypicalityConfig
from tests.callbacks.helpers import Interrupted
from tests.conftest import CONFIGS
from tests.models.helpers import tensors, term_pair_instances, tiny_mft, vocabulary

TAXONOMY_FULL = CONFIGS / "taxonomy" / "mft_full.jsonnet"


def _records(path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def test_scores_equal_eq2_over_single_instance_embeddings():
    """Batched, length-sorted, float16 pass == one instance at a time, in float32."""
    instances = term_pair_instances()
    vocab = vocabulary(instances)
    for instance in instances:
        instance.index_fields(vocab)  # the trainer's data loader does this
    model = tiny_mft(vocab)
    records, summary, prototypes = PrototypeCallback("unused", batch_size=5).compute(
        model, instances
    )

    model.eval()
    with torch.no_grad():
        embeddings = torch.cat(
            [model.prototype_embedding(tensors([i], vocab)["tokens"]) for i in instances]
        )
    batch = tensors(instances, vocab)
    domains, labels = batch["domain"], batch["label"]
    centroids = torch.stack(
        [
            torch.stack([embeddings[(domains == k) & (labels == m)].mean(0) for m in range(2)])
            for k in range(2)
        ]
    )
    assert torch.allclose(prototypes["prototypes"], centroids, atol=1e-2)
    cos = torch.nn.functional.cosine_similarity
    for index, record in enumerate(records):
        k, m = int(domains[index]), int(labels[index])
        own = cos(embeddings[index], centroids[k, m], dim=0)
        other = cos(embeddings[index], centroids[1 - k, m], dim=0)
        assert record["typicality"] == pytest.approx(float(0.5 * own + 0.5 * other), abs=2e-3)
        assert record["instance_id"] == instances[index]["metadata"]["instance_id"]
    assert summary["instances"] == 16
    assert prototypes["counts"].tolist() == [[4, 4], [4, 4]]


def test_domain_granularity_builds_one_prototype_per_domain():
    instances = term_pair_instances()
    vocab = vocabulary(instances)
    for instance in instances:
        instance.index_fields(vocab)
    model = tiny_mft(vocab, typicality=TypicalityConfig(granularity="domain"))
    _, summary, prototypes = PrototypeCallback("unused").compute(model, instances)
    assert prototypes["prototypes"].shape == (2, 1, 32)
    assert summary["prototype_groups"] == ["*"]


def test_mean_one_rescaling_applies_to_the_whole_training_sets_scores():
    instances = term_pair_instances()
    vocab = vocabulary(instances)
    for instance in instances:
        instance.index_fields(vocab)
    torch.manual_seed(0)
    raw_records, _, _ = PrototypeCallback("unused").compute(tiny_mft(vocab), instances)
    torch.manual_seed(0)
    model = tiny_mft(vocab, typicality=TypicalityConfig(rescale="mean_one"))
    records, _, _ = PrototypeCallback("unused").compute(model, instances)
    raw = [record["typicality"] for record in raw_records]
    clipped = [max(score, 0.0) for score in raw]
    assert [record["typicality_raw"] for record in records] == raw
    assert [record["typicality"] for record in records] == pytest.approx(
        [score / (sum(clipped) / len(clipped)) for score in clipped]
    )


@pytest.mark.usefixtures("tiny_env")
def test_training_run_writes_scores_and_hands_them_to_the_model(tmp_path):
    model = train_model_from_file(TAXONOMY_FULL, tmp_path, return_model=True)
    records = _records(tmp_path / "typicality.jsonl")
    assert len(records) == 16
    assert set(records[0]) == {"instance_id", "domain", "label", "typicality", "text"}
    assert records[0]["instance_id"] == "taxonomy/train/animal.tsv:1"
    assert records[0]["text"] == "dog [SEP] animal"
    assert model._typicality_by_id == {r["instance_id"]: r["typicality"] for r in records}
    summary = json.loads((tmp_path / "prototypes.json").read_text())
    assert summary["domains"] == ["animal", "vehicle"]
    assert {(g["domain"], g["label"], g["instances"]) for g in summary["groups"]} == {
        ("animal", "0", 4),
        ("animal", "1", 4),
        ("vehicle", "0", 4),
        ("vehicle", "1", 4),
    }


@pytest.mark.usefixtures("tiny_env")
def test_nothing_is_written_for_mft_dc(tmp_path):
    train_model_from_file(CONFIGS / "taxonomy" / "mft_dc.jsonnet", tmp_path)
    assert not (tmp_path / "typicality.jsonl").exists()
    assert not (tmp_path / "prototypes.json").exists()


def _free_port():
    with socket.socket() as handle:
        handle.bind(("127.0.0.1", 0))
        return handle.getsockname()[1]


@pytest.mark.usefixtures("tiny_env")
def test_two_cpu_workers_hold_the_same_prototypes_as_one_process(tmp_path):
    single, distributed = tmp_path / "single", tmp_path / "distributed"
    train_model_from_file(TAXONOMY_FULL, single)
    overrides = json.dumps(
        {"distributed": {"cuda_devices": [-1, -1], "primary_port": _free_port()}}
    )
    train_model_from_file(TAXONOMY_FULL, distributed, overrides=overrides)

    one = torch.load(single / "prototypes.pt")
    two = torch.load(distributed / "prototypes.pt")
    assert torch.equal(one["counts"], two["counts"])
    assert torch.allclose(one["prototypes"], two["prototypes"], atol=1e-3)
    # the primary wrote every worker's scores, in data order
    single_records = _records(single / "typicality.jsonl")
    distributed_records = _records(distributed / "typicality.jsonl")
    assert [r["instance_id"] for r in single_records] == [
        r["instance_id"] for r in distributed_records
    ]
    for a, b in zip(single_records, distributed_records):
        assert a["typicality"] == pytest.approx(b["typicality"], abs=2e-3)


# Four batches an epoch, a checkpoint after each, an interruption at the third.
INTERRUPTED_RUN = json.dumps(
    {
        "data_loader.batch_sampler.batch_size": 4,
        "trainer.checkpointer.save_every_num_batches": 1,
        "trainer.callbacks": [{"type": "mft_prototypes"}, {"type": "test_interrupt_once"}],
    }
)


@pytest.mark.usefixtures("tiny_env")
def test_recover_mid_epoch_uses_the_saved_scores(tmp_path):
    overrides = INTERRUPTED_RUN
    with pytest.raises(Interrupted):
        train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=overrides)
    assert not (tmp_path / "model.tar.gz").exists()
    scores = tmp_path / "typicality.jsonl"
    # Mark the saved scores: recomputing them would give different values.
    records = _records(scores)
    scores.write_text("".join(json.dumps(dict(r, typicality=0.123)) + "\n" for r in records))

    model = train_model_from_file(
        TAXONOMY_FULL, tmp_path, overrides=overrides, recover=True, return_model=True
    )
    assert (tmp_path / "model.tar.gz").exists()
    assert set(model._typicality_by_id.values()) == {0.123}
    assert len(model._typicality_by_id) == 16


@pytest.mark.usefixtures("tiny_env")
def test_recover_without_saved_scores_is_refused(tmp_path):
    overrides = INTERRUPTED_RUN
    with pytest.raises(Interrupted):
        train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=overrides)
    (tmp_path / "typicality.jsonl").unlink()
    with pytest.raises(Exception, match="typicality.jsonl is missing"):
        train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=overrides, recover=True)


@pytest.mark.usefixtures("tiny_env")
def test_recover_with_scores_missing_for_some_instances_is_refused(tmp_path):
    overrides = INTERRUPTED_RUN
    with pytest.raises(Interrupted):
        train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=overrides)
    scores = tmp_path / "typicality.jsonl"
    lines = scores.read_text().splitlines(keepends=True)
    assert len(lines) == 16
    scores.write_text("".join(lines[:4]))
    missing = [json.loads(line)["instance_id"] for line in lines[4:7]]
    with pytest.raises(ConfigurationError) as error:
        train_model_from_file(TAXONOMY_FULL, tmp_path, overrides=overrides, recover=True)
    message = str(error.value)
    assert message.startswith(f"{scores} holds typicality scores for 4 of the 16 instances")
    assert f"none for {', '.join(missing)} and 9 more" in message
    assert "Start the run afresh instead of with --recover" in message
