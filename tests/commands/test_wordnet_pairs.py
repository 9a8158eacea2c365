"""
Tests of `mft-wordnet-pairs` (mft_plugin.commands.wordnet_pairs) on small WordNet roots.

They need NLTK's WordNet 3.0 at ../shared/data/wordnet (see ../shared/data/README.md) and
skip cleanly without it. The corpus is passed explicitly, so NLTK_DATA need not be set.
"""
import itertools
from collections import Counter, defaultdict
from pathlib import Path

import pytest

nltk = pytest.importorskip("nltk")

from mft_plugin.commands import wordnet_pairs  # noqa: E402
from tests.conftest import SHARED_DATA  # noqa: E402
from mft_plugin.commands.wordnet_pairs import (  # noqa: E402
    main,
    parse_fractions,
    parse_root,
    parse_split_sizes,
)
from mft_plugin.data.wordnet_pairs import (  # noqa: E402
    RootSpec,
    SizeRequest,
    TooFewPairsError,
    UnknownSynsetError,
    allocate,
    build_domain,
    load_wordnet,
)

WORDNET_DIR = SHARED_DATA / "wordnet"

pytestmark = pytest.mark.skipif(
    not (WORDNET_DIR / "corpora" / "wordnet").is_dir(),
    reason=f"WordNet corpus not found at {WORDNET_DIR}",
)

FRACTIONS = parse_fractions("train=0.8,dev=0.1,test=0.1")
SMALL_ROOT = "vehicle.n.01"  # 520 synsets, 2,202 positive pairs: a second or two to build


@pytest.fixture(scope="module")
def wordnet():
    return load_wordnet(WORDNET_DIR)


@pytest.fixture
def cli(wordnet, monkeypatch):
    """`main` with `--wordnet-dir` filled in, reusing the loaded corpus to keep tests fast."""
    monkeypatch.setattr(wordnet_pairs, "load_wordnet", lambda wordnet_dir=None: wordnet)

    def run(*args: str) -> int:
        return main([*args, "--wordnet-dir", str(WORDNET_DIR)])

    return run


@pytest.fixture(scope="module")
def vehicle_splits(wordnet):
    request = SizeRequest(FRACTIONS, split_sizes={"train": 800, "dev": 100, "test": 100})
    return build_domain(wordnet, RootSpec("vehicle", SMALL_ROOT), request, seed=13)


@pytest.fixture(scope="module")
def vehicle_truth(wordnet):
    """Independent ground truth: term -> synsets of the sub-hierarchy, and its is-a term pairs."""
    root = wordnet.synset(SMALL_ROOT)
    members = {root, *root.closure(lambda s: s.hyponyms())}
    by_term = defaultdict(set)
    for synset in members:
        by_term[synset.lemmas()[0].name().replace("_", " ")].add(synset)
    term_of = {synset: term for term, synsets in by_term.items() for synset in synsets}
    is_a = {
        (term_of[synset], term_of[ancestor])
        for synset in members
        for ancestor in synset.closure(lambda s: s.hypernyms())
        if ancestor in members and term_of[synset] != term_of[ancestor]
    }
    return members, by_term, is_a


def all_rows(splits):
    return [row for rows in splits.values() for row in rows]


def read_tsv(path: Path):
    lines = path.read_text(encoding="utf-8").split("\n")
    assert lines[-1] == "", "file must end with a newline"
    return [line.split("\t") for line in lines[:-1]]


# ---------------------------------------------------------------------------------------------
# Construction


def test_positives_are_descendant_ancestor_pairs(vehicle_splits, vehicle_truth):
    members, by_term, _ = vehicle_truth
    positives = [row for row in all_rows(vehicle_splits) if row.label == 1]
    assert positives
    for row in positives:
        assert row.kind == "positive"
        assert any(
            ancestor in set(synset.closure(lambda s: s.hypernyms()))
            for synset in by_term[row.hyponym]
            for ancestor in by_term[row.hypernym]
        ), row


def test_each_negative_kind_has_its_property(vehicle_splits, vehicle_truth):
    members, by_term, is_a = vehicle_truth
    negatives = [row for row in all_rows(vehicle_splits) if row.label == 0]
    for row in negatives:
        pair = (row.hyponym, row.hypernym)
        assert pair not in is_a, f"negative {pair} is an is-a pair"
        if row.kind == "reversed":
            assert (row.hypernym, row.hyponym) in is_a
        elif row.kind == "sibling":
            assert any(
                set(x.hypernyms()) & set(y.hypernyms()) & members
                and x not in set(y.closure(lambda s: s.hypernyms()))
                and y not in set(x.closure(lambda s: s.hypernyms()))
                for x in by_term[row.hyponym]
                for y in by_term[row.hypernym]
            ), row
        else:
            assert row.kind == "random"
            assert (row.hypernym, row.hyponym) not in is_a
            assert row.hyponym in by_term and row.hypernym in by_term


def test_negative_kinds_are_a_third_each(vehicle_splits):
    kinds = Counter(row.kind for row in all_rows(vehicle_splits) if row.label == 0)
    assert sorted(kinds) == ["random", "reversed", "sibling"]
    assert max(kinds.values()) - min(kinds.values()) <= 1


def test_pairs_are_unique_and_never_self_pairs(vehicle_splits):
    pairs = [(row.hyponym, row.hypernym) for row in all_rows(vehicle_splits)]
    assert len(pairs) == len(set(pairs))
    assert all(a.lower() != b.lower() for a, b in pairs)


def test_splits_have_requested_sizes_balance_and_are_disjoint(vehicle_splits):
    assert {name: len(rows) for name, rows in vehicle_splits.items()} == {
        "train": 800,
        "dev": 100,
        "test": 100,
    }
    for rows in vehicle_splits.values():
        assert Counter(row.label for row in rows) == {1: len(rows) // 2, 0: len(rows) // 2}
    seen = [{(row.hyponym, row.hypernym) for row in rows} for rows in vehicle_splits.values()]
    for first, second in itertools.combinations(seen, 2):
        assert not first & second


def test_default_uses_every_positive_and_the_paper_split_ratio(wordnet, vehicle_truth):
    _, _, is_a = vehicle_truth
    splits = build_domain(wordnet, RootSpec("vehicle", SMALL_ROOT), SizeRequest(FRACTIONS))
    positives = {(row.hyponym, row.hypernym) for row in all_rows(splits) if row.label == 1}
    assert positives == {pair for pair in is_a if pair[0].lower() != pair[1].lower()}
    total = 2 * len(positives)
    assert [len(splits[name]) for name in ("train", "dev", "test")] == allocate(
        total, [0.8, 0.1, 0.1]
    )


def test_instance_hyponyms_only_when_asked(wordnet):
    root = RootSpec("vehicle", SMALL_ROOT)
    request = SizeRequest(FRACTIONS)
    plain = {
        row.hyponym for row in all_rows(build_domain(wordnet, root, request)) if row.label == 1
    }
    with_instances = {
        row.hyponym
        for row in all_rows(build_domain(wordnet, root, request, include_instances=True))
        if row.label == 1
    }
    # vehicle.n.01 has instance hyponyms (named ships and craft) that the real data leaves out.
    assert plain < with_instances


def test_allocate_is_exact_and_proportional():
    assert allocate(10800, [0.8, 0.1, 0.1]) == [8640, 1080, 1080]
    assert allocate(7, [1, 1, 1]) == [3, 2, 2]
    assert sum(allocate(1061, [0.7, 0.2, 0.1])) == 1061


# ---------------------------------------------------------------------------------------------
# Command line and files


def test_files_have_the_data_format(cli, tmp_path):
    assert cli("--roots", SMALL_ROOT, "--output", str(tmp_path), "--size", "200") == 0
    for split, size in (("train", 160), ("dev", 20), ("test", 20)):
        rows = read_tsv(tmp_path / split / "vehicle.tsv")
        assert len(rows) == size
        for row in rows:
            assert len(row) == 3 and row[0] and row[1] and row[2] in {"0", "1"}
            assert row[0] == row[0].strip() and "_" not in row[0] + row[1]


def test_same_seed_gives_identical_files_and_another_seed_differs(cli, tmp_path):
    outputs = {}
    for name, seed in (("a", "13"), ("b", "13"), ("c", "14")):
        assert (
            cli(
                "--roots",
                SMALL_ROOT,
                "--output",
                str(tmp_path / name),
                "--size",
                "300",
                "--seed",
                seed,
            )
            == 0
        )
        outputs[name] = {
            p.relative_to(tmp_path / name): p.read_bytes() for p in (tmp_path / name).rglob("*.tsv")
        }
    assert outputs["a"] == outputs["b"]
    assert outputs["a"].keys() == outputs["c"].keys()
    assert outputs["a"] != outputs["c"]


def test_name_equals_synset_sets_the_domain_and_split_sizes(cli, tmp_path):
    args = ["--roots", "cars=car.n.01", SMALL_ROOT, "--output", str(tmp_path)]
    args += ["--split-sizes", "cars:train=40,dev=10", "train=60,dev=20"]
    assert cli(*args) == 0
    assert sorted(str(p.relative_to(tmp_path)) for p in tmp_path.rglob("*.tsv")) == [
        "dev/cars.tsv",
        "dev/vehicle.tsv",
        "train/cars.tsv",
        "train/vehicle.tsv",
    ]
    assert len(read_tsv(tmp_path / "train" / "cars.tsv")) == 40
    assert len(read_tsv(tmp_path / "dev" / "vehicle.tsv")) == 20


def test_parse_root_forms():
    assert parse_root("animal.n.01") == RootSpec("animal", "animal.n.01")
    assert parse_root("plant=plant.n.02") == RootSpec("plant", "plant.n.02")
    assert parse_split_sizes("animal:train=8640,dev=1080") == (
        "animal",
        {"train": 8640, "dev": 1080},
    )


def test_unknown_synset_is_named_with_exit_code_2(cli, tmp_path, capsys):
    assert cli("--roots", SMALL_ROOT, "nosuchthing.n.01", "--output", str(tmp_path)) == 2
    assert "nosuchthing.n.01" in capsys.readouterr().err
    assert not list(tmp_path.rglob("*.tsv")), "nothing is written when a root is unknown"


def test_unknown_synset_error_from_the_library(wordnet):
    with pytest.raises(UnknownSynsetError, match="animal.n.09"):
        build_domain(wordnet, RootSpec("animal", "animal.n.09"), SizeRequest(FRACTIONS))


def test_too_few_descendants_says_so(cli, wordnet, tmp_path, capsys):
    assert cli("--roots", "bicycle.n.01", "--output", str(tmp_path), "--size", "1000") == 1
    error = capsys.readouterr().err
    assert "bicycle.n.01" in error and "too few" in error
    with pytest.raises(TooFewPairsError, match="too few"):
        build_domain(
            wordnet,
            RootSpec("bicycle", "bicycle.n.01"),
            SizeRequest(FRACTIONS, split_sizes={"train": 40}),
        )


def test_positives_caps_each_domain(cli, tmp_path):
    assert (
        cli("--roots", "car.n.01", SMALL_ROOT, "--output", str(tmp_path), "--positives", "100") == 0
    )
    for domain, positives in (("car", 49), ("vehicle", 100)):  # car.n.01 has only 49
        rows = [
            row
            for split in ("train", "dev", "test")
            for row in read_tsv(tmp_path / split / f"{domain}.tsv")
        ]
        assert Counter(row[2] for row in rows) == {"1": positives, "0": positives}


def test_wordnet_dir_may_be_the_corpus_folder_itself(monkeypatch):
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))  # load_wordnet extends it
    corpus = load_wordnet(WORDNET_DIR / "corpora" / "wordnet")
    assert corpus.synset("vehicle.n.01").lemmas()[0].name() == "vehicle"


def test_missing_wordnet_points_at_nltk_data(tmp_path, capsys, monkeypatch):
    monkeypatch.setattr(nltk.data, "path", list(nltk.data.path))
    assert (
        main(
            [
                "--roots",
                SMALL_ROOT,
                "--output",
                str(tmp_path / "out"),
                "--wordnet-dir",
                str(tmp_path),
            ]
        )
        == 1
    )
    assert "NLTK_DATA" in capsys.readouterr().err


@pytest.mark.parametrize(
    "args",
    [
        ["--positives", "10", "--size", "100"],
        ["--split-sizes", "train=10", "--size", "100"],
        ["--splits", "train=0.5,dev=0.4"],
        ["--size", "other=100"],
    ],
)
def test_bad_option_combinations_are_usage_errors(args, tmp_path):
    with pytest.raises(SystemExit) as exit_info:
        main(["--roots", SMALL_ROOT, "--output", str(tmp_path), *args])
    assert exit_info.value.code == 2


def test_help_documents_every_option(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    help_text = capsys.readouterr().out
    for option in wordnet_pairs.build_parser()._option_string_actions:
        assert option in help_text
        assert option in wordnet_pairs.__doc__ or option in ("-h", "--help")
