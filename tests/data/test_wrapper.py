"""The `mft_multi_domain` wrapper: any reader, unchanged, as a multi-domain reader for MFT."""
import json

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.commands.train import train_model
from allennlp.data import DatasetReader, Vocabulary
from allennlp.data.batch import Batch
from allennlp.data.dataset_readers.dataset_reader import DistributedInfo, WorkerInfo

import tests.fixtures.own_project.csv_reviews  # noqa: F401 (registers "test_csv_reviews")
from mft_plugin.data import NO_DOMAIN, DomainField, MultiDomainWrapper
from mft_plugin.data.contract import check_reader_contract
from tests.conftest import FIXTURES, TINY_BERT
from tests.fixtures.own_project.csv_reviews import CsvReviewsReader
from tests.models.helpers import tiny_mft

OWN_DATA = FIXTURES / "own_project" / "data"
TRAIN_CSV = str(OWN_DATA / "train.csv")
DEV_CSV = str(OWN_DATA / "dev.csv")
PER_DOMAIN = {
    "books": str(OWN_DATA / "train" / "books.csv"),
    "kitchen": str(OWN_DATA / "train" / "kitchen.csv"),
}


def _wrapper(base_options=None, **options) -> MultiDomainWrapper:
    base = CsvReviewsReader(TINY_BERT, **(base_options or {"domain": "category"}))
    if "domain_field" not in options and base.domain != "none":
        options["domain_field"] = "category"
    return MultiDomainWrapper(base, **options)


def _ids(instances):
    return [instance["metadata"]["instance_id"] for instance in instances]


def _by_id(instances):
    return {
        instance["metadata"]["instance_id"]: (
            instance["metadata"]["text"],
            instance["domain"].label,
            instance["label"].label,
        )
        for instance in instances
    }


def test_ids_are_stable_unique_and_positions_in_the_base_readers_output():
    first = list(_wrapper().read(TRAIN_CSV))
    second = list(_wrapper().read(TRAIN_CSV))
    assert _ids(first) == _ids(second) == [f"train.csv:{n}" for n in range(8)]
    assert _by_id(first) == _by_id(second)
    assert first[4]["metadata"]["text"] == "this pan heats evenly and cleans easily"


def test_the_domain_filter_and_the_sample_keep_every_instances_id():
    full = _by_id(_wrapper().read(TRAIN_CSV))
    kitchen = _by_id(_wrapper(domains=["kitchen"]).read(TRAIN_CSV))
    assert kitchen == {key: value for key, value in full.items() if value[1] == "kitchen"}
    sample = _by_id(_wrapper(sample_count=2, sample_seed=3).read(TRAIN_CSV))
    assert len(sample) == 4
    assert all(full[key] == value for key, value in sample.items())
    # Stratified by (domain, label): each domain keeps one instance of each label.
    assert sorted((domain, label) for _, domain, label in sample.values()) == [
        ("books", "0"),
        ("books", "1"),
        ("kitchen", "0"),
        ("kitchen", "1"),
    ]
    # The plugin readers' sampling, on the same (domain, label) keys.
    from mft_plugin.data.common import stratified_positions

    keys = [(domain, label) for _, domain, label in full.values()]
    expected = {list(full)[p] for p in stratified_positions(keys, None, 2, 3)}
    assert set(sample) == expected
    fraction = _by_id(_wrapper(sample_fraction=0.5).read(TRAIN_CSV))
    assert len(fraction) == 4 and all(full[key] == value for key, value in fraction.items())


def test_a_domain_the_data_lacks_is_refused():
    with pytest.raises(ConfigurationError, match=r"domain\(s\) \['toys'\] yield no instances"):
        list(_wrapper(domains=["kitchen", "toys"]).read(TRAIN_CSV))


@pytest.mark.parametrize("sample", [{}, {"sample_count": 3}])
def test_two_distributed_shards_hold_the_unsharded_read_with_the_same_ids(sample):
    whole = list(_wrapper(**sample).read(TRAIN_CSV))
    shards = []
    for rank in range(2):
        reader = _wrapper(**sample)
        reader._set_distributed_info(DistributedInfo(world_size=2, global_rank=rank))
        shards.append(list(reader.read(TRAIN_CSV)))
    assert _ids(shards[0]) == _ids(whole)[0::2]
    assert _ids(shards[1]) == _ids(whole)[1::2]
    assert {**_by_id(shards[0]), **_by_id(shards[1])} == _by_id(whole)


def test_data_loader_workers_split_the_read_too():
    whole = _ids(_wrapper().read(TRAIN_CSV))
    parts = []
    for worker in range(3):
        reader = _wrapper()
        reader._set_worker_info(WorkerInfo(num_workers=3, id=worker))
        parts.append(_ids(reader.read(TRAIN_CSV)))
    assert parts == [whole[0::3], whole[1::3], whole[2::3]]


def test_the_base_reader_is_not_sharded_by_a_distributed_run():
    reader = _wrapper()
    reader.base_reader._set_distributed_info(DistributedInfo(world_size=2, global_rank=1))
    wrapped = MultiDomainWrapper(reader.base_reader, domain_field="category")
    assert wrapped.base_reader.get_distributed_info() is None
    assert len(list(wrapped.read(TRAIN_CSV))) == 8


@pytest.mark.parametrize("as_json", [False, True])
def test_the_domain_from_a_dict_of_paths(as_json):
    reader = _wrapper({"domain": "none"})
    path = json.dumps(PER_DOMAIN) if as_json else PER_DOMAIN
    instances = list(reader.read(path))
    assert _ids(instances) == [f"books:{n}" for n in range(4)] + [f"kitchen:{n}" for n in range(4)]
    assert [instance["domain"].label for instance in instances] == ["books"] * 4 + ["kitchen"] * 4
    assert all(isinstance(instance["domain"], DomainField) for instance in instances)
    assert [instance["metadata"]["domain"] for instance in instances][3:5] == ["books", "kitchen"]
    kitchen = _wrapper({"domain": "none"}, domains=["kitchen"]).read(path)
    assert _ids(kitchen) == [f"kitchen:{n}" for n in range(4)]


def test_the_domain_from_a_field_replaces_that_field_and_keeps_the_others():
    base = CsvReviewsReader(TINY_BERT, domain="category", metadata_keys=["text"])
    plain = list(base.read(TRAIN_CSV))
    wrapped = list(MultiDomainWrapper(base, domain_field="category").read(TRAIN_CSV))
    for before, after in zip(plain, wrapped):
        assert set(after.fields) == {"tokens", "label", "domain", "metadata"}
        assert [t.text for t in after["tokens"].tokens] == [t.text for t in before["tokens"].tokens]
        assert after["label"].label == before["label"].label
        assert after["domain"].label == before["category"].label
        assert after["metadata"]["text"] == before["metadata"]["text"]


def test_the_domain_from_a_metadata_key_and_a_plain_label_field_domain():
    from_metadata = list(_wrapper({"domain": "metadata"}).read(TRAIN_CSV))
    assert [i["domain"].label for i in from_metadata] == ["books"] * 4 + ["kitchen"] * 4
    assert from_metadata[0]["metadata"]["category"] == "books"  # the base metadata stays
    # A reader's own plain LabelField domain becomes a DomainField.
    from_label = list(_wrapper({"domain": "label_field"}, domain_field="domain").read(TRAIN_CSV))
    assert all(type(i["domain"]) is DomainField for i in from_label)
    assert [i["domain"].label for i in from_label] == [i["domain"].label for i in from_metadata]


def test_where_the_domain_is_missing_the_error_names_the_path_and_the_instance():
    with pytest.raises(ConfigurationError, match=r"train.csv, instance 0: .*'genre'"):
        list(_wrapper(domain_field="genre").read(TRAIN_CSV))
    with pytest.raises(ConfigurationError, match="set domain_field"):
        list(_wrapper({"domain": "none"}).read(TRAIN_CSV))
    with pytest.raises(ConfigurationError, match="leave out domain_field"):
        list(_wrapper().read(PER_DOMAIN))


def test_text_to_instance_delegates_and_adds_the_domain():
    reader = _wrapper({"domain": "none"})
    instance = reader.text_to_instance("a fine book", "1", domain="books")
    reader.apply_token_indexers(instance)
    assert instance["domain"].label == "books" and instance["label"].label == "1"
    assert instance["metadata"]["domain"] == "books"
    assert instance["metadata"]["instance_id"] is None
    assert instance["tokens"].token_indexers is reader.base_reader._indexers
    # With domain_field, the base reader's own argument gives the domain.
    by_field = _wrapper().text_to_instance("a fine book", "1", "books")
    assert by_field["domain"].label == "books" and "category" not in by_field.fields
    assert "domain" not in _wrapper({"domain": "none"}).text_to_instance("no domain").fields


def test_a_domain_unseen_in_training_is_no_domain_at_evaluation():
    train = list(_wrapper().read(TRAIN_CSV))
    vocab = Vocabulary.from_instances(train)
    dev = list(_wrapper().read(DEV_CSV))
    batch = Batch(dev)
    batch.index_instances(vocab)  # a plain LabelField would raise KeyError for 'toys'
    tensors = batch.as_tensor_dict()
    books = vocab.get_token_index("books", "domain_labels")
    kitchen = vocab.get_token_index("kitchen", "domain_labels")
    assert tensors["domain"].tolist() == [books, kitchen, NO_DOMAIN, NO_DOMAIN]
    model = tiny_mft(vocab)
    model.eval()
    output = model(**tensors)
    assert "loss" in output
    metrics = model.get_metrics()
    assert set(metrics) >= {"accuracy", "accuracy_books", "accuracy_kitchen"}


def test_wrapped_instances_meet_the_contract_of_mft():
    reader = _wrapper({"domain": "none"})
    instances = list(reader.read(PER_DOMAIN))
    for instance in instances:
        reader.apply_token_indexers(instance)
    model = tiny_mft(Vocabulary.from_instances(instances))
    assert check_reader_contract(instances, model, reader) == 8


def test_the_wrapper_is_registered_and_built_from_params():
    reader = DatasetReader.from_params(
        Params(
            {
                "type": "mft_multi_domain",
                "base_reader": {"type": "test_csv_reviews", "model_name": TINY_BERT},
                "domains": ["books"],
            }
        )
    )
    assert isinstance(reader, MultiDomainWrapper)
    assert isinstance(reader.base_reader, CsvReviewsReader)
    assert _ids(reader.read(PER_DOMAIN)) == [f"books:{n}" for n in range(4)]


def test_mft_stage1_trains_through_the_wrapper_and_scores_its_ids(tmp_path):
    embedder = {
        "token_embedders": {"tokens": {"type": "pretrained_transformer", "model_name": TINY_BERT}}
    }
    params = Params(
        {
            "dataset_reader": {
                "type": "mft_multi_domain",
                "base_reader": {"type": "test_csv_reviews", "model_name": TINY_BERT},
            },
            "train_data_path": PER_DOMAIN,
            "validation_data_path": json.dumps({"books": PER_DOMAIN["books"], "toys": DEV_CSV}),
            "model": {"type": "meta_fine_tuning", "text_field_embedder": embedder},
            "data_loader": {"batch_size": 4},
            "trainer": {
                "num_epochs": 1,
                "optimizer": {"type": "adam", "lr": 1e-5},
                "callbacks": [{"type": "mft_prototypes"}],
            },
        }
    )
    model = train_model(params, tmp_path / "run")
    records = [json.loads(line) for line in (tmp_path / "run" / "typicality.jsonl").open()]
    assert [r["instance_id"] for r in records] == list(
        _ids(_wrapper({"domain": "none"}).read(PER_DOMAIN))
    )
    assert [r["domain"] for r in records] == ["books"] * 4 + ["kitchen"] * 4
    assert model._typicality_by_id == {r["instance_id"]: r["typicality"] for r in records}
    assert records[0]["text"] == "a gripping story told well"  # from the tokens
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert "validation_accuracy_books" in metrics and "training_domain_loss" in metrics
