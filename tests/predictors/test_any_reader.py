"""
The default predictor with a reader that is not the plugin's (tests/fixtures/csv_reviews): JSON
keys are the parameters of its `text_to_instance`, through `allennlp predict` and the Python
API; the output names the label of every probability.
"""
import json
import sys

import numpy
import pytest
from allennlp.commands import main as allennlp_main
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.data import DatasetReader, Instance
from allennlp.models import load_archive
from allennlp.predictors import Predictor

from mft_plugin.data import DomainField
from mft_plugin.predictors.classifier import MalformedInputError, MultiDomainClassifierPredictor
from tests.conftest import FIXTURES, TINY_BERT
from tests.fixtures.csv_reviews.reader import CsvReviewsReader

CSV_DATA = FIXTURES / "csv_reviews" / "train.csv"


@pytest.fixture(scope="module")
def csv_archive(tmp_path_factory):
    """BERT (Mix) on the CSV reader's data: an archive whose reader is not the plugin's."""
    directory = tmp_path_factory.mktemp("csv_reviews")
    params = Params(
        {
            "random_seed": 13,
            "numpy_seed": 13,
            "pytorch_seed": 13,
            "dataset_reader": {"type": "mft_test_csv_reviews", "model_name": TINY_BERT},
            "train_data_path": str(CSV_DATA),
            "model": {
                "type": "mft_transformer_classifier",
                "text_field_embedder": {
                    "token_embedders": {
                        "tokens": {"type": "pretrained_transformer", "model_name": TINY_BERT}
                    }
                },
            },
            "data_loader": {"batch_size": 4, "shuffle": True},
            "trainer": {"num_epochs": 2, "optimizer": {"type": "adam", "lr": 1e-3}},
        }
    )
    train_model(params, directory)
    return directory / "model.tar.gz"


def _predict(archive, input_text, tmp_path, *extra):
    input_file = tmp_path / "input.jsonl"
    input_file.write_text(input_text)
    output_file = tmp_path / "output.jsonl"
    argv = ["allennlp", "predict", str(archive), str(input_file), "--output-file", str(output_file)]
    argv += ["--include-package", "tests.fixtures.csv_reviews.reader", "--silent", *extra]
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(sys, "argv", argv)
        allennlp_main()
    return [json.loads(line) for line in output_file.read_text().splitlines()]


def test_allennlp_predict_reads_the_keys_of_a_foreign_readers_text_to_instance(
    csv_archive, tmp_path
):
    lines = [
        {"text": "A great pan, I love it."},
        {"text": "The plot drags.", "title": "Dull"},  # an optional parameter, passed
        {"text": "Boring.", "category": "books"},  # a key the reader does not take: ignored
    ]
    # a blank line between them, as the numbered input path allows
    outputs = _predict(
        csv_archive,
        "\n".join(json.dumps(line) for line in lines[:2]) + "\n\n" + json.dumps(lines[2]) + "\n",
        tmp_path,
        "--batch-size",
        "2",
    )
    assert len(outputs) == 3
    model = load_archive(csv_archive).model
    vocabulary = model.vocab.get_index_to_token_vocabulary("labels")
    for output in outputs:
        assert list(output)[:3] == ["label", "class_probabilities", "labels"]
        assert output["labels"] == [vocabulary[i] for i in range(len(vocabulary))]
        assert set(output["labels"]) == {"positive", "negative"}
        for index, name in enumerate(output["labels"]):
            assert output["class_probabilities"][name] == pytest.approx(output["probs"][index])
        assert output["label"] == output["labels"][int(numpy.argmax(output["probs"]))]
        assert output["label"] == max(
            output["class_probabilities"], key=output["class_probabilities"].get
        )
        assert sum(output["probs"]) == pytest.approx(1.0, abs=1e-5)
    # the prediction is the reader's own instance for those arguments
    predictor = Predictor.from_path(csv_archive)
    reader = CsvReviewsReader(TINY_BERT)
    titled = predictor.predict_instance(reader.text_to_instance("The plot drags.", title="Dull"))
    untitled = predictor.predict_json({"text": "The plot drags."})
    assert outputs[1]["probs"] == pytest.approx(titled["probs"], abs=1e-5)
    assert outputs[1]["probs"] != pytest.approx(untitled["probs"], abs=1e-6)


def test_a_line_without_a_required_key_is_named_with_the_key(csv_archive, tmp_path):
    with pytest.raises(MalformedInputError) as error:
        _predict(csv_archive, '{"text": "Fine."}\n\n{"title": "No text"}\n', tmp_path)
    message = str(error.value)
    assert message.startswith(f"{tmp_path / 'input.jsonl'}:3: missing key(s) ['text']")
    assert (
        "CsvReviewsReader.text_to_instance takes ['text'] and optionally ['title', 'label']"
        in message
    )
    predictor = Predictor.from_path(csv_archive)
    with pytest.raises(MalformedInputError, match=r"^input line 1: missing key\(s\) \['text'\]"):
        predictor.load_line('{"sentence": "Fine."}')


class _DomainWrapper(DatasetReader):
    """The shape of the plugin's wrapper reader: `base_reader`, and a `text_to_instance` that
    delegates to it and adds the domain."""

    def __init__(self, base_reader: DatasetReader) -> None:
        super().__init__()
        self.base_reader = base_reader

    def _read(self, file_path):
        raise NotImplementedError

    def text_to_instance(self, *args, domain=None, **kwargs) -> Instance:  # type: ignore
        instance = self.base_reader.text_to_instance(*args, **kwargs)
        if domain is not None:
            instance.add_field("domain", DomainField(domain))
        return instance


def test_a_wrapper_reader_is_read_through_its_base_reader_and_gets_the_domain(csv_archive):
    model = load_archive(csv_archive).model
    plain = MultiDomainClassifierPredictor(model, CsvReviewsReader(TINY_BERT))
    wrapped = MultiDomainClassifierPredictor(model, _DomainWrapper(CsvReviewsReader(TINY_BERT)))
    with pytest.raises(
        MalformedInputError, match=r"CsvReviewsReader.text_to_instance takes \['text'\]"
    ):
        wrapped.load_line('{"title": "No text", "domain": "books"}')
    line = {"text": "A great pan.", "title": "Pan", "domain": "kitchen"}
    instance = wrapped._json_to_instance(line)
    assert instance["domain"].label == "kitchen"
    assert [t.text for t in instance["tokens"]] == [
        t.text
        for t in CsvReviewsReader(TINY_BERT).text_to_instance("A great pan.", "Pan")["tokens"]
    ]
    # the plain reader takes no domain: the key is not passed (its text_to_instance would fail)
    assert "domain" not in plain._json_to_instance(line).fields
    assert wrapped.predict_json(line)["probs"] == pytest.approx(
        plain.predict_json(line)["probs"], abs=1e-6
    )


def test_a_task_predictor_refuses_a_foreign_reader(csv_archive):
    with pytest.raises(ValueError, match=r"mft_reviews|\('text',\)") as error:
        Predictor.from_path(csv_archive, predictor_name="mft_reviews")
    assert "CsvReviewsReader" in str(error.value) and '"mft_classifier"' in str(error.value)


def test_a_reader_without_text_to_instance_is_refused_by_name(csv_archive):
    class NoTextToInstance(DatasetReader):
        def _read(self, file_path):
            return []

    with pytest.raises(ValueError, match="NoTextToInstance has no text_to_instance"):
        MultiDomainClassifierPredictor(load_archive(csv_archive).model, NoTextToInstance())
