"""
The reader contract: a reader that breaks it is refused before any training step, with an error
naming the field or metadata key, the reader's class and the contract page.
"""
import json
from types import SimpleNamespace

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.commands.train import train_model
from allennlp.data import Vocabulary
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.training.callbacks.callback import TrainerCallback

import tests.fixtures.own_project.csv_reviews  # noqa: F401 (registers "test_csv_reviews")
from mft_plugin.callbacks import PrototypeCallback
from mft_plugin.data.contract import CONTRACT_PAGE, check_reader_contract
from tests.conftest import FIXTURES, TINY_BERT
from tests.fixtures.own_project.csv_reviews import CsvReviewsReader
from tests.models.helpers import embedder, tensors, term_pair_instances, tiny_mft, vocabulary
from mft_plugin.models import MetaFineTuning
from mft_plugin.models.adversarial import AdversarialClassifier

OWN_DATA = FIXTURES / "own_project" / "data"
TRAIN_CSV = str(OWN_DATA / "train.csv")
# A reader that meets the contract of every model.
VALID = {"domain": "domain_field", "metadata_keys": ["instance_id", "domain", "text"]}


@TrainerCallback.register("test_count_batches")
class CountBatches(TrainerCallback):
    """Counts the training batches of a run (tests only)."""

    batches = 0

    def on_batch(self, trainer, batch_inputs, batch_outputs, batch_metrics, **kwargs) -> None:
        type(self).batches += 1


def _on_start(directory, reader_options, **model_options):
    """Run the prototype callback's on_start over the training data of a reader built so."""
    reader = CsvReviewsReader(TINY_BERT, **reader_options)
    # Also the items of a reader that meets the contract, so that the model can be built.
    valid = CsvReviewsReader(TINY_BERT, **VALID)
    vocab = Vocabulary.from_instances([*valid.read(TRAIN_CSV), *reader.read(TRAIN_CSV)])
    loader = MultiProcessDataLoader(reader, TRAIN_CSV, batch_size=4)
    loader.index_with(vocab)
    model = tiny_mft(vocab, **model_options)
    trainer = SimpleNamespace(model=model, data_loader=loader)
    PrototypeCallback(str(directory)).on_start(trainer)
    return model


def _assert_contract_error(error, *names):
    message = str(error.value)
    for name in names:
        assert name in message
    assert "CsvReviewsReader" in message
    assert CONTRACT_PAGE in message


def test_a_reader_that_meets_the_contract_passes_and_is_scored(tmp_path):
    model = _on_start(tmp_path, VALID)
    assert sorted(model._typicality_by_id) == sorted(f"row{n}" for n in range(1, 9))


@pytest.mark.parametrize(
    "options, names",
    [
        ({**VALID, "drop_fields": ["tokens"]}, ["the field `tokens` is missing"]),
        ({**VALID, "drop_fields": ["label"]}, ["the field `label` is missing"]),
        ({**VALID, "domain": "none"}, ["the field `domain` is missing", "mft_multi_domain"]),
        (
            {**VALID, "domain": "label_field"},
            ["the field `domain` is a LabelField", "DomainField", "mft_multi_domain"],
        ),
        ({**VALID, "metadata_keys": []}, ["the field `metadata` is missing", "instance_id"]),
        ({**VALID, "metadata_keys": ["domain", "text"]}, ["metadata key 'instance_id'"]),
        ({**VALID, "id_format": "row"}, ["'instance_id' 'row' is not unique"]),
        ({**VALID, "domain": "category"}, ["field(s) ['category']", "MetaFineTuning.forward"]),
    ],
    ids=["tokens", "label", "domain", "plain-label-domain", "metadata", "id", "unique", "extra"],
)
def test_each_breach_is_named_in_on_start(tmp_path, options, names):
    with pytest.raises(ConfigurationError) as error:
        _on_start(tmp_path, options)
    _assert_contract_error(error, *names)


def test_mft_dc_needs_no_ids_but_is_checked_too(tmp_path):
    """DC weights nothing, so metadata is optional; the domain is still checked."""
    _on_start(tmp_path, {**VALID, "metadata_keys": []}, typicality=None)
    with pytest.raises(ConfigurationError) as error:
        _on_start(tmp_path, {**VALID, "domain": "label_field"}, typicality=None)
    _assert_contract_error(error, "the field `domain` is a LabelField", "DomainField")


def test_text_is_optional_and_the_report_falls_back_to_the_tokens(tmp_path):
    reader = CsvReviewsReader(TINY_BERT, **{**VALID, "metadata_keys": ["instance_id"]})
    vocab = Vocabulary.from_instances(reader.read(TRAIN_CSV))
    loader = MultiProcessDataLoader(reader, TRAIN_CSV, batch_size=4)
    loader.index_with(vocab)
    trainer = SimpleNamespace(model=tiny_mft(vocab), data_loader=loader)
    PrototypeCallback(str(tmp_path)).on_start(trainer)
    records = [json.loads(line) for line in (tmp_path / "typicality.jsonl").open()]
    assert records[0]["instance_id"] == "row1"
    # The tokens turned back into text, without the special tokens.
    assert records[0]["text"] == "a gripping story told well"
    assert records[4]["text"] == "this pan heats evenly and cleans easily"


def _mft_params(reader_options, model_type="meta_fine_tuning", **model_options):
    return Params(
        {
            "dataset_reader": {
                "type": "test_csv_reviews",
                "model_name": TINY_BERT,
                **reader_options,
            },
            "train_data_path": TRAIN_CSV,
            "model": {
                "type": model_type,
                "text_field_embedder": {
                    "token_embedders": {
                        "tokens": {"type": "pretrained_transformer", "model_name": TINY_BERT}
                    }
                },
                **model_options,
            },
            "data_loader": {"batch_size": 4},
            "trainer": {
                "num_epochs": 1,
                "optimizer": {"type": "adam", "lr": 1e-5},
                "callbacks": [{"type": "mft_prototypes"}, {"type": "test_count_batches"}],
            },
        }
    )


@pytest.mark.parametrize(
    "options, names",
    [
        ({"domain": "label_field"}, ["the field `domain` is a LabelField", "DomainField"]),
        ({"domain": "domain_field", "metadata_keys": ["domain"]}, ["metadata key 'instance_id'"]),
    ],
    ids=["plain-label-domain", "id"],
)
def test_a_training_run_fails_before_its_first_batch(tmp_path, options, names):
    CountBatches.batches = 0
    with pytest.raises(ConfigurationError) as error:
        train_model(_mft_params(options), tmp_path / "run")
    _assert_contract_error(error, *names)
    assert CountBatches.batches == 0


def test_training_data_without_domains_gets_the_contract_not_the_plugin_readers_advice(tmp_path):
    with pytest.raises(ConfigurationError) as error:
        train_model(_mft_params({"domain": "none"}), tmp_path / "run")
    message = str(error.value)
    assert "the training instances have no `domain` field" in message
    assert CONTRACT_PAGE in message and "mft_multi_domain" in message
    assert "the reader's `domains` option" not in message


@pytest.mark.parametrize("model_class", [MetaFineTuning, AdversarialClassifier])
def test_mft_and_adv_refuse_a_training_batch_without_domains(model_class):
    """
    The backstop when the vocabulary has domains but the batch has none (no callback): MFT and
    BERT (Adv) would silently train without their domain losses.
    """
    instances = term_pair_instances()
    vocab = vocabulary(instances)
    batch = tensors(instances[:4], vocab)
    del batch["domain"]
    options = {"typicality": None} if model_class is MetaFineTuning else {}
    model = model_class(vocab, embedder(), **options)
    model.train()
    with pytest.raises(ConfigurationError, match="without the `domain` field") as error:
        model(**batch)
    assert CONTRACT_PAGE in str(error.value)
    model.eval()  # evaluation needs no domain
    with torch.no_grad():
        assert "loss" in model(**batch)


def test_the_check_counts_what_it_checked():
    reader = CsvReviewsReader(TINY_BERT, **VALID)
    instances = list(reader.read(TRAIN_CSV))
    vocab = Vocabulary.from_instances(instances)
    assert check_reader_contract(instances, tiny_mft(vocab), reader) == 8


def test_the_text_of_a_pair_without_metadata_joins_its_segments():
    from allennlp.data import Instance
    from allennlp.data.fields import TextField
    from allennlp.data.token_indexers import PretrainedTransformerIndexer
    from allennlp.data.tokenizers import PretrainedTransformerTokenizer

    from mft_plugin.data.contract import instance_text

    tokenizer = PretrainedTransformerTokenizer(TINY_BERT, add_special_tokens=False)
    pieces = tokenizer.add_special_tokens(tokenizer.tokenize("dog"), tokenizer.tokenize("animal"))
    field = TextField(pieces)
    assert instance_text(Instance({"tokens": field})) == "[CLS] dog [SEP] animal [SEP]"
    field.token_indexers = {"tokens": PretrainedTransformerIndexer(TINY_BERT)}
    assert instance_text(Instance({"tokens": field})) == "dog [SEP] animal"
