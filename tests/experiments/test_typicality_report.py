"""`allennlp mft-typicality` on a fixture serialization directory."""
import sys

import pytest
from allennlp.commands import main as allennlp_main

from mft_plugin.commands.typicality_report import extremes, load_records, table
from tests.conftest import FIXTURES, PROJECT_ROOT

RUN = FIXTURES / "typicality_run"


def test_extremes_are_the_lowest_and_highest_of_each_domain():
    chosen = extremes(load_records(RUN), count=1)
    assert [r["typicality"] for r in chosen["books"]["low"]] == [-0.05]
    assert [r["typicality"] for r in chosen["books"]["high"]] == [0.61]
    assert [r["typicality"] for r in chosen["kitchen"]["low"]] == [0.12]
    assert [r["typicality"] for r in chosen["kitchen"]["high"]] == [0.74]


def test_table_rows_are_low_then_high_per_domain():
    rendered = table(load_records(RUN), count=2, width=40).splitlines()
    assert rendered[0] == "| Typicality | Domain | Label | Score | Text |"
    rows = [line.split(" | ")[:4] for line in rendered[2:]]
    assert rows == [
        ["| Low", "books", "negative", "-0.050"],
        ["| Low", "books", "positive", "0.420"],
        ["| Low", "kitchen", "negative", "0.120"],
        ["| Low", "kitchen", "negative", "0.200"],
        ["| High", "books", "positive", "0.610"],
        ["| High", "books", "positive", "0.420"],
        ["| High", "kitchen", "positive", "0.740"],
        ["| High", "kitchen", "negative", "0.200"],
    ]
    # a "|" in the text cannot break the table, and long texts are shortened
    assert "Good story / great characters." in rendered[3]
    assert all(len(line.split(" | ")[4]) <= 42 for line in rendered[2:])


def _allennlp(monkeypatch, *args):
    """
    `allennlp ARGS` through AllenNLP's own `main`, in this process, from the project root
    (where `.allennlp_plugins` names the plugin).
    """
    monkeypatch.chdir(PROJECT_ROOT)
    monkeypatch.setattr(sys, "argv", ["allennlp", *map(str, args)])
    allennlp_main(prog="allennlp")


def test_command_prints_table_and_writes_histogram(tmp_path, monkeypatch, capsys):
    output = tmp_path / "hist.png"
    _allennlp(monkeypatch, "mft-typicality", RUN, "-n", "1", "--output", output)
    printed = capsys.readouterr().out
    assert "| Low | books | negative | -0.050 | More hate books." in printed
    assert "| High | kitchen | positive | 0.740 |" in printed
    assert output.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_command_explains_a_directory_without_scores(tmp_path, monkeypatch, capsys):
    with pytest.raises(SystemExit) as exit_status:
        _allennlp(monkeypatch, "mft-typicality", tmp_path)
    assert exit_status.value.code == 1
    assert f"{tmp_path / 'typicality.jsonl'} does not exist" in capsys.readouterr().err
