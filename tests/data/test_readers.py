"""The three readers on small fixtures: fields, pair encoding, truncation, ids and domains."""
import collections
import json

import pytest
from allennlp.data import Vocabulary

from mft_plugin.data import (
    DOMAIN_NAMESPACE,
    NO_DOMAIN,
    DomainField,
    MultiDomainNliReader,
    MultiDomainReviewReader,
    TermPairReader,
)
from tests.conftest import FIXTURE_DATA, TINY_BERT


def _pieces(instance):
    return [token.text for token in instance["tokens"].tokens]


def _counts(instances):
    return collections.Counter((i["domain"].label, i["label"].label) for i in instances)


def test_nli_jsonl_skips_no_consensus_pairs_and_encodes_pairs():
    instances = list(MultiDomainNliReader(TINY_BERT).read(FIXTURE_DATA / "mnli" / "train.jsonl"))
    # 13 lines, one of them gold label "-"
    assert len(instances) == 12
    first = instances[0]
    assert _pieces(first)[0] == "[CLS]"
    assert _pieces(first).count("[SEP]") == 2
    type_ids = [token.type_id for token in first["tokens"].tokens]
    second_start = _pieces(first).index("[SEP]") + 1
    assert set(type_ids[:second_start]) == {0} and set(type_ids[second_start:]) == {1}
    assert first["label"].label == "entailment"
    assert first["domain"].label == "fiction"
    assert first["domain"]._label_namespace == DOMAIN_NAMESPACE
    assert first["metadata"]["instance_id"] == "mnli/train.jsonl:1"
    assert "f4x" not in {i["metadata"]["text"] for i in instances}
    assert _counts(instances)[("government", "neutral")] == 2


def test_nli_glue_tsv_matches_by_header():
    instances = list(MultiDomainNliReader(TINY_BERT).read(FIXTURE_DATA / "mnli" / "train.tsv"))
    assert [(i["domain"].label, i["label"].label) for i in instances] == [
        ("fiction", "entailment"),
        ("government", "contradiction"),
        ("fiction", "neutral"),
    ]
    # ids are line numbers, the header being line 1
    assert [i["metadata"]["instance_id"] for i in instances] == [
        "mnli/train.tsv:2",
        "mnli/train.tsv:3",
        "mnli/train.tsv:5",
    ]


def test_nli_collapse_labels_as_allennlp_models_snli():
    reader = MultiDomainNliReader(TINY_BERT, collapse_labels=True)
    labels = {i["label"].label for i in reader.read(FIXTURE_DATA / "mnli" / "train.jsonl")}
    assert labels == {"entailment", "non-entailment"}


def test_reviews_blitzer_layout_domains_labels_and_ids():
    instances = list(MultiDomainReviewReader(TINY_BERT).read(FIXTURE_DATA / "amazon" / "train"))
    assert _counts(instances) == {
        ("books", "positive"): 4,
        ("books", "negative"): 4,
        ("kitchen", "positive"): 4,
        ("kitchen", "negative"): 4,
    }
    first = instances[0]
    # the unescaped "&" survives, and the title is not part of the text by default
    assert first["metadata"]["text"] == "A great book, I love it & read it twice."
    assert first["metadata"]["instance_id"] == "amazon/train/books/positive.review:1"
    assert _pieces(first).count("[SEP]") == 1


def test_reviews_title_flag_and_single_domain_folder():
    reader = MultiDomainReviewReader(TINY_BERT, include_title=True)
    instances = list(reader.read(FIXTURE_DATA / "amazon" / "train" / "kitchen"))
    assert {i["domain"].label for i in instances} == {"kitchen"}
    assert (
        instances[0]["metadata"]["text"] == "Works well. Great pan, heats evenly & cleans easily."
    )


@pytest.mark.parametrize("name", ["reviews.jsonl", "reviews.tsv"])
def test_reviews_tabular_forms_normalise_labels(name):
    instances = list(MultiDomainReviewReader(TINY_BERT).read(FIXTURE_DATA / name))
    labels = [(i["domain"].label, i["label"].label) for i in instances]
    assert ("kitchen", "negative") in labels and ("books", "positive") in labels
    assert {label for _, label in labels} == {"positive", "negative"}


def test_term_pairs_directory_domain_from_file_stem():
    instances = list(TermPairReader(TINY_BERT).read(FIXTURE_DATA / "taxonomy" / "train"))
    assert _counts(instances) == {
        ("animal", "1"): 4,
        ("animal", "0"): 4,
        ("vehicle", "1"): 4,
        ("vehicle", "0"): 4,
    }
    assert _pieces(instances[0]) == ["[CLS]", "dog", "[SEP]", "animal", "[SEP]"]
    assert instances[0]["metadata"]["instance_id"] == "taxonomy/train/animal.tsv:1"


def test_term_pairs_single_file_with_domain_column():
    instances = list(TermPairReader(TINY_BERT).read(FIXTURE_DATA / "taxonomy" / "combined.tsv"))
    assert [(i["domain"].label, i["label"].label) for i in instances] == [
        ("animal", "1"),
        ("vehicle", "1"),
        ("animal", "0"),
        ("vehicle", "0"),
    ]


def test_ids_are_unique_across_files_and_splits():
    reader = TermPairReader(TINY_BERT)
    ids = [
        i["metadata"]["instance_id"]
        for split in ("train", "dev")
        for i in reader.read(FIXTURE_DATA / "taxonomy" / split)
    ]
    assert len(ids) == len(set(ids)) == 32


def test_pair_truncation_is_longest_first():
    reader = TermPairReader(TINY_BERT, max_length=10)
    # "a b c d e f g" is 7 pieces, "x y" is 2; 10 - 3 special tokens leaves 7 pieces
    instance = reader.text_to_instance("a b c d e f g", "x y")
    assert _pieces(instance) == ["[CLS]", "a", "b", "c", "d", "e", "[SEP]", "x", "y", "[SEP]"]
    # both long: the longer one loses a piece, the second one on ties (as HuggingFace does)
    instance = reader.text_to_instance("a b c d e f", "u v w x y z")
    assert _pieces(instance) == ["[CLS]", "a", "b", "c", "d", "[SEP]", "u", "v", "w", "[SEP]"]
    assert len(_pieces(instance)) == 10


def test_single_text_truncation_keeps_special_tokens():
    reader = MultiDomainReviewReader(TINY_BERT, max_length=6)
    instance = reader.text_to_instance("a b c d e f g h")
    assert _pieces(instance) == ["[CLS]", "a", "b", "c", "d", "[SEP]"]


def test_text_to_instance_without_label_or_domain_for_predictors():
    instance = MultiDomainNliReader(TINY_BERT).text_to_instance("A cat sat.", "A cat is sitting.")
    assert "label" not in instance.fields and "domain" not in instance.fields
    assert instance["metadata"]["instance_id"] is None
    with_domain = MultiDomainReviewReader(TINY_BERT).text_to_instance("good", domain="books")
    assert with_domain["domain"].label == "books" and "label" not in with_domain.fields


def test_domain_filter_reads_only_the_requested_domains():
    reader = MultiDomainReviewReader(TINY_BERT, domains=["kitchen"])
    instances = list(reader.read(FIXTURE_DATA / "amazon" / "train"))
    assert len(instances) == 8
    assert {i["domain"].label for i in instances} == {"kitchen"}


def test_unknown_encoder_error_names_the_path_and_the_setting(tmp_path):
    missing = tmp_path / "no-such-model"
    with pytest.raises(Exception) as info:
        TermPairReader(str(missing))
    assert str(missing) in str(info.value)
    assert "MFT_ENCODER" in str(info.value)


def test_nli_labels_ignore_case_like_the_other_readers(tmp_path):
    rows = [
        {"gold_label": label, "sentence1": "a", "sentence2": "b", "genre": "fiction"}
        for label in ("Neutral", "ENTAILMENT", " contradiction ", "-")
    ]
    path = tmp_path / "mnli.jsonl"
    path.write_text("".join(json.dumps(row) + "\n" for row in rows))
    labels = [i["label"].label for i in MultiDomainNliReader(TINY_BERT).read(path)]
    assert labels == ["neutral", "entailment", "contradiction"]


def test_vocabulary_from_training_data_holds_every_domain():
    """`DomainField` counts its domain like a `LabelField`: a vocabulary built from training
    data indexes every domain, in order of first appearance."""
    instances = list(TermPairReader(TINY_BERT).read(FIXTURE_DATA / "taxonomy" / "train"))
    vocab = Vocabulary.from_instances(instances)
    assert vocab.get_token_to_index_vocabulary(DOMAIN_NAMESPACE) == {"animal": 0, "vehicle": 1}
    for instance in instances:
        instance.index_fields(vocab)
    domains = [int(instance["domain"].as_tensor({})) for instance in instances]
    assert domains == [0 if i["metadata"]["domain"] == "animal" else 1 for i in instances]


def test_a_domain_the_vocabulary_lacks_is_indexed_as_no_domain_with_one_warning(
    monkeypatch, caplog
):
    monkeypatch.setattr(DomainField, "_warned_unknown", set())
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["animal", "vehicle"], DOMAIN_NAMESPACE)
    reader = TermPairReader(TINY_BERT)
    instances = [
        reader.text_to_instance("oak", "tree", domain="plant"),
        reader.text_to_instance("fir", "tree", domain="plant"),
        reader.text_to_instance("dog", "animal", domain="animal"),
    ]
    with caplog.at_level("WARNING", logger="mft_plugin.data.domain_field"):
        for instance in instances:
            instance["domain"].index(vocab)
    assert [int(i["domain"].as_tensor({})) for i in instances] == [NO_DOMAIN, NO_DOMAIN, 0]
    warnings = [record.getMessage() for record in caplog.records]
    assert warnings == [
        "Domain 'plant' is not one the model was trained on (known domains: animal, vehicle); "
        "its instances are treated as having no domain."
    ]
