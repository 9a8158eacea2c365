"""Every kind of bad input fails with an error that names the file and the line."""
import json
import re

import pytest
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader

from mft_plugin.data import (
    DataFileError,
    MultiDomainNliReader,
    MultiDomainReviewReader,
    TermPairReader,
)
from tests.conftest import FIXTURE_DATA, TINY_BERT

GOOD_NLI = {"gold_label": "neutral", "sentence1": "a b", "sentence2": "c d", "genre": "fiction"}


def _read(reader, path):
    return list(reader.read(str(path)))


def _expect(reader, path, line, message):
    with pytest.raises(DataFileError, match=re.escape(f"{path}:{line}: ") + message):
        _read(reader, path)


def _jsonl(tmp_path, rows, name="data.jsonl"):
    path = tmp_path / name
    path.write_text(
        "".join((row if isinstance(row, str) else json.dumps(row)) + "\n" for row in rows)
    )
    return path


def _review_file(tmp_path, name, content):
    """A Blitzer-layout file `reviews/books/<name>` holding `content` (bytes or text)."""
    domain = tmp_path / "reviews" / "books"
    domain.mkdir(parents=True)
    path = domain / name
    if isinstance(content, bytes):
        path.write_bytes(content)
    else:
        path.write_text(content)
    return path


@pytest.fixture(scope="module")
def nli():
    return MultiDomainNliReader(TINY_BERT)


@pytest.fixture(scope="module")
def reviews():
    return MultiDomainReviewReader(TINY_BERT)


@pytest.fixture(scope="module")
def pairs():
    return TermPairReader(TINY_BERT)


def test_malformed_json(nli, tmp_path):
    path = _jsonl(tmp_path, [GOOD_NLI, '{"gold_label": "neutral", "sentence1": '])
    _expect(nli, path, 2, "malformed JSON")


def test_json_that_is_not_an_object(nli, tmp_path):
    path = _jsonl(tmp_path, [GOOD_NLI, GOOD_NLI, "[1, 2]"])
    _expect(nli, path, 3, "expected a JSON object")


def test_missing_field(nli, tmp_path):
    row = dict(GOOD_NLI)
    del row["genre"]
    path = _jsonl(tmp_path, [GOOD_NLI, row])
    _expect(nli, path, 2, "missing field 'genre'")


def test_unknown_nli_label(nli, tmp_path):
    path = _jsonl(tmp_path, [GOOD_NLI, dict(GOOD_NLI, gold_label="maybe")])
    _expect(nli, path, 2, "unknown label 'maybe'")


def test_tsv_wrong_column_count(nli, tmp_path):
    path = tmp_path / "mnli.tsv"
    path.write_text(
        "sentence1\tsentence2\tgenre\tgold_label\na\tb\tfiction\tneutral\na\tb\tfiction\n"
    )
    _expect(nli, path, 3, "expected 4 tab-separated columns, found 3")


def test_tsv_header_without_required_columns(nli, tmp_path):
    path = tmp_path / "mnli.tsv"
    path.write_text("premise\thypothesis\tgenre\tgold_label\na\tb\tfiction\tneutral\n")
    _expect(nli, path, 1, r"TSV header lacks column\(s\) \['sentence1', 'sentence2'\]")


def test_non_utf8_bytes(pairs, tmp_path):
    path = tmp_path / "animal.tsv"
    path.write_bytes(b"dog\tanimal\t1\ncaf\xe9\tanimal\t1\n")
    _expect(pairs, path, 2, "bytes that are not valid utf-8")


def test_non_utf8_bytes_in_a_review_file(reviews, tmp_path):
    path = _review_file(
        tmp_path,
        "positive.review",
        b"<review>\n<review_text>\nna\xefve\n</review_text>\n</review>\n",
    )
    _expect(reviews, path, 3, "bytes that are not valid utf-8")


def test_term_pairs_wrong_column_count(pairs, tmp_path):
    directory = tmp_path / "taxonomy"
    directory.mkdir()
    (directory / "animal.tsv").write_text("dog\tanimal\t1\ncat\tanimal\n")
    _expect(pairs, directory / "animal.tsv", 2, "expected 3 tab-separated columns, found 2")


def test_term_pairs_fourth_column_only_in_a_single_file(pairs, tmp_path):
    directory = tmp_path / "taxonomy"
    directory.mkdir()
    (directory / "animal.tsv").write_text("dog\tanimal\t1\tanimal\n")
    with pytest.raises(
        DataFileError, match=re.escape(f"{directory / 'animal.tsv'}:1: expected 3 tab")
    ):
        _read(pairs, directory)


def test_unknown_term_pair_label(pairs, tmp_path):
    path = tmp_path / "animal.tsv"
    path.write_text("dog\tanimal\t1\ncat\tanimal\t2\n")
    _expect(pairs, path, 2, "unknown label '2'")


def test_unknown_review_label_in_tabular_file(reviews, tmp_path):
    path = _jsonl(tmp_path, [{"text": "x", "domain": "books", "label": "meh"}])
    _expect(reviews, path, 1, "unknown label 'meh'")


def test_review_block_never_closed(reviews, tmp_path):
    path = _review_file(
        tmp_path,
        "negative.review",
        "<review>\n<review_text>\nfine\n</review_text>\n</review>\n<review>\n<title>\nbad\n</title>\n",
    )
    _expect(reviews, path, 6, "<review> is never closed")


def test_review_without_text(reviews, tmp_path):
    path = _review_file(
        tmp_path, "positive.review", "<review>\n<title>\nno text\n</title>\n</review>\n"
    )
    _expect(reviews, path, 1, "review has no <review_text> field")


def test_text_outside_a_review(reviews, tmp_path):
    path = _review_file(
        tmp_path,
        "positive.review",
        "stray words\n<review>\n<review_text>\nx\n</review_text>\n</review>\n",
    )
    _expect(reviews, path, 1, "unexpected text outside a <review> block")


def test_empty_file_names_the_path(pairs, tmp_path):
    directory = tmp_path / "taxonomy"
    directory.mkdir()
    (directory / "animal.tsv").write_text("dog\tanimal\t1\n")
    (directory / "plant.tsv").write_text("\n")
    with pytest.raises(
        DataFileError, match=re.escape(f"{directory / 'plant.tsv'}: holds no term pairs")
    ):
        _read(pairs, directory)


def test_empty_review_domain_names_the_folder(reviews, tmp_path):
    (tmp_path / "reviews" / "books").mkdir(parents=True)
    with pytest.raises(
        DataFileError, match="books: holds neither positive.review nor negative.review"
    ):
        _read(reviews, tmp_path / "reviews")


def test_file_that_yields_no_instances(nli, tmp_path):
    path = _jsonl(tmp_path, [dict(GOOD_NLI, gold_label="-")])
    with pytest.raises(DataFileError, match=re.escape(f"{path}: no instances could be read")):
        _read(nli, path)


def test_requested_domain_that_is_absent_names_the_path():
    reader = TermPairReader(TINY_BERT, domains=["animal", "plant"])
    path = FIXTURE_DATA / "taxonomy" / "train"
    with pytest.raises(
        DataFileError, match=re.escape(f"{path}: domain(s) ['plant'] yield no instances")
    ):
        _read(reader, path)


def test_missing_path(pairs, tmp_path):
    with pytest.raises(DataFileError, match="no such file or directory"):
        _read(pairs, tmp_path / "nowhere")


# ----------------------------------------------------------------------------------------------
# Inputs that were accepted or rejected wrongly


def _link(link, target):
    link.parent.mkdir(parents=True, exist_ok=True)
    link.symlink_to(target)


@pytest.mark.parametrize("linked", ["file in a folder", "folder", "single file"])
def test_symlinked_data_keeps_the_ids_of_the_path_it_is_read_by(pairs, tmp_path, linked):
    """A link, even one out of the data folder, is named as it is read, not as its target."""
    store = tmp_path / "store" / "downloads"
    store.mkdir(parents=True)
    (store / "animal.tsv").write_text("dog\tanimal\t1\n")
    train = tmp_path / "data" / "taxonomy" / "train"
    if linked == "folder":
        _link(train, store)
    else:
        _link(train / "animal.tsv", store / "animal.tsv")
    path, expected = {
        "file in a folder": (train, "taxonomy/train/animal.tsv:1"),
        "folder": (train, "taxonomy/train/animal.tsv:1"),
        "single file": (train / "animal.tsv", "train/animal.tsv:1"),
    }[linked]
    assert [i["metadata"]["instance_id"] for i in _read(pairs, path)] == [expected]


@pytest.mark.parametrize("row", ["\t\t", " \t \t "])
def test_term_pair_line_of_only_tabs_and_spaces_is_an_error(pairs, tmp_path, row):
    path = tmp_path / "animal.tsv"
    # a line of spaces alone is blank and skipped
    path.write_text("dog\tanimal\t1\n   \ncat\tanimal\t1\n")
    assert len(_read(pairs, path)) == 2
    path.write_text(f"dog\tanimal\t1\n{row}\ncat\tanimal\t1\n")
    _expect(pairs, path, 2, re.escape("a row of empty cells (only tabs and spaces)"))


def test_tsv_line_of_only_tabs_is_an_error(nli, tmp_path):
    path = tmp_path / "mnli.tsv"
    path.write_text("sentence1\tsentence2\tgenre\tgold_label\na\tb\tfiction\tneutral\n\t\t\t\n")
    _expect(nli, path, 3, re.escape("a row of empty cells (only tabs and spaces)"))


BOM = b"\xef\xbb\xbf"


@pytest.mark.parametrize(
    "reader_name, name, content, first_text",
    [
        ("nli", "mnli.jsonl", json.dumps(GOOD_NLI) + "\n", "a b [SEP] c d"),
        (
            "nli",
            "mnli.tsv",
            "sentence1\tsentence2\tgenre\tgold_label\na b\tc d\tfiction\tneutral\n",
            "a b [SEP] c d",
        ),
        ("pairs", "animal.tsv", "dog\tanimal\t1\n", "dog [SEP] animal"),
        ("reviews", "reviews.tsv", "text\tdomain\tlabel\ngood\tbooks\tpos\n", "good"),
        (
            "reviews",
            "reviews/books/positive.review",
            "<review>\n<review_text>\ngood\n</review_text>\n</review>\n",
            "good",
        ),
    ],
    ids=["nli-jsonl", "nli-tsv", "term-pairs", "reviews-tsv", "reviews-blitzer"],
)
def test_utf8_byte_order_mark_is_accepted_in_every_format(
    request, tmp_path, reader_name, name, content, first_text
):
    path = tmp_path / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(BOM + content.encode("utf-8"))
    instances = _read(request.getfixturevalue(reader_name), path)
    assert len(instances) == 1
    assert instances[0]["metadata"]["text"] == first_text


def test_json_array_on_the_first_line_is_not_an_object(nli, tmp_path):
    path = _jsonl(tmp_path, ["[1, 2]", GOOD_NLI])
    _expect(nli, path, 1, re.escape("expected a JSON object, found an array"))


@pytest.mark.parametrize(
    "reader_name, row, message",
    [
        (
            "nli",
            dict(GOOD_NLI, sentence1=["a", "b"]),
            "field 'sentence1' must be a string, found an array",
        ),
        (
            "nli",
            dict(GOOD_NLI, gold_label=1),
            "field 'gold_label' must be a string, found a number",
        ),
        (
            "reviews",
            {"text": "x", "domain": ["books"], "label": "pos"},
            "field 'domain' must be a string, found an array",
        ),
        (
            "reviews",
            {"text": {"body": "x"}, "domain": "books", "label": "pos"},
            "field 'text' must be a string, found an object",
        ),
        (
            "reviews",
            {"text": "x", "domain": "books", "label": True},
            "field 'label' must be a string or an integer, found a boolean",
        ),
        (
            "reviews",
            {"text": "x", "domain": "books", "label": 1.0},
            "field 'label' must be a string or an integer, found a number",
        ),
        (
            "reviews",
            {"text": "x", "domain": "books", "label": "pos", "title": ["t"]},
            "field 'title' must be a string, found an array",
        ),
    ],
    ids=[
        "list-premise",
        "number-nli-label",
        "list-domain",
        "object-text",
        "bool-label",
        "float-label",
        "list-title",
    ],
)
def test_non_string_json_values_are_rejected(request, tmp_path, reader_name, row, message):
    good = GOOD_NLI if reader_name == "nli" else {"text": "y", "domain": "books", "label": "neg"}
    path = _jsonl(tmp_path, [good, row])
    _expect(request.getfixturevalue(reader_name), path, 2, re.escape(message))


def test_integer_review_labels_are_accepted(reviews, tmp_path):
    rows = [{"text": "x", "domain": "books", "label": label} for label in (1, 0, -1)]
    labels = [i["label"].label for i in _read(reviews, _jsonl(tmp_path, rows))]
    assert labels == ["positive", "negative", "negative"]


def test_nli_directory_is_reported_as_a_directory_with_its_files(nli):
    path = FIXTURE_DATA / "mnli"
    with pytest.raises(
        DataFileError,
        match=re.escape(f"{path}: is a directory; mft_nli reads one file")
        + ".*here: dev.jsonl, train.jsonl, train.tsv",
    ):
        _read(nli, path)


# --------------------------------------------------------------------------------------------
# Input that used to be accepted silently


def test_unclosed_review_text_does_not_swallow_the_next_review(reviews, tmp_path):
    # without </review_text> the first review's text ran on into the second review
    path = _review_file(
        tmp_path,
        "positive.review",
        "<review>\n<review_text>\ngood\n</review>\n"
        "<review>\n<review_text>\nalso good\n</review_text>\n</review>\n",
    )
    _expect(reviews, path, 2, re.escape("<review_text> is not closed before </review>"))


@pytest.mark.parametrize(
    "reader_name, row, message",
    [
        ("nli", dict(GOOD_NLI, sentence1="  "), "empty text"),
        ("nli", dict(GOOD_NLI, genre=""), "empty domain name"),
        ("reviews", {"text": "", "domain": "books", "label": "pos"}, "empty text"),
        ("reviews", {"text": "fine", "domain": " ", "label": "pos"}, "empty domain name"),
    ],
    ids=["nli-blank-premise", "nli-empty-genre", "review-empty-text", "review-blank-domain"],
)
def test_empty_texts_and_domain_names_are_errors(request, tmp_path, reader_name, row, message):
    good = GOOD_NLI if reader_name == "nli" else {"text": "y", "domain": "books", "label": "neg"}
    path = _jsonl(tmp_path, [good, row])
    _expect(request.getfixturevalue(reader_name), path, 2, message)


def test_max_length_beyond_the_encoders_positions_names_the_key():
    # the tiny BERT has 128 position embeddings: 129 pieces would index past them
    with pytest.raises(
        ConfigurationError, match=r"dataset_reader.max_length = 129 exceeds the 128"
    ):
        TermPairReader(TINY_BERT, max_length=129)
    assert TermPairReader(TINY_BERT, max_length=128).max_length == 128


@pytest.mark.parametrize("reader_type", ["mft_term_pairs", "mft_reviews", "mft_nli"])
def test_misspelled_reader_key_is_a_configuration_error_naming_it(reader_type):
    params = Params({"type": reader_type, "model_name": str(TINY_BERT), "smaple_count": 3})
    with pytest.raises(ConfigurationError, match=r"has no option\(s\) \['smaple_count'\]"):
        DatasetReader.from_params(params)
