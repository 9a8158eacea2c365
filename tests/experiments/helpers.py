"""
Helpers of the experiment tests: the fixture experiment, its command line, its tables, and the
files of a finished run written by hand.
"""
import argparse
import io
import json
import os
import shlex
import sys
import tarfile
from unittest import mock

from mft_plugin.commands.experiment import MftExperiment
from tests.conftest import FIXTURES, TINY_ENVIRONMENT

EXPERIMENT = FIXTURES / "experiments" / "tiny.jsonnet"
# what the fixture experiment and the shipped configs read from the environment
EXPERIMENT_ENVIRONMENT = dict(TINY_ENVIRONMENT, MFT_TEST_FIXTURES=str(FIXTURES))


def subprocess_environment():
    return dict(os.environ, **EXPERIMENT_ENVIRONMENT)


def mft_experiment_in_process(*argv):
    """`allennlp mft-experiment ARGV` in this process (the environment must be set)."""
    parser = argparse.ArgumentParser(prog="allennlp")
    MftExperiment().add_subparser(parser.add_subparsers())
    args = parser.parse_args(["mft-experiment", *map(str, argv)])
    return args.func(args)


def run_exported_line(line):
    """
    A line of an exported wave file, `cd PROJECT && PYTHON -m allennlp ARGS`, run as it says
    but in this process: the working directory becomes PROJECT and AllenNLP's own `main`
    runs ARGS. Only the start of the `allennlp` process is left out (tests/test_plugin.py
    starts one).
    """
    from allennlp.commands import main as allennlp_main

    words = shlex.split(line)
    assert words[0] == "cd" and words[2:6] == ["&&", sys.executable, "-m", "allennlp"], line
    os.chdir(words[1])
    with mock.patch.object(sys, "argv", ["allennlp", *words[6:]]):
        allennlp_main(prog="allennlp")


def results_table(markdown, heading):
    """The table under `## heading` of a results.md: header cells and {method: {column: cell}}."""
    lines = markdown.split(f"## {heading}\n")[1].strip().splitlines()
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[2:]:
        if not line.startswith("|"):
            break
        cells = [cell.strip().strip("*") for cell in line.strip("|").split("|")]
        rows[cells[0]] = dict(zip(header[1:], cells[1:]))
    return header, rows


def write_model_archive(folder):
    """
    A minimal model.tar.gz in `folder` that the runner counts as whole: a gzipped tar holding
    weights.th, config.json and a vocabulary/ folder (not a model that loads).
    """
    members = {
        "config.json": b"{}",
        "weights.th": b"",
        "vocabulary/non_padded_namespaces.txt": b"*tags\n*labels\n",
    }
    with tarfile.open(folder / "model.tar.gz", "w:gz") as archive:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))


def write_finished_metrics(folder, metric, domains, **extra):
    """
    A metrics.json in `folder` as a finished training writes it: the best and the last epoch's
    dev `metric`, overall and of each of `domains` (all 0.5), updated with `extra`.
    """
    metrics = {"best_epoch": 0}
    for prefix in ("validation", "best_validation"):
        metrics[f"{prefix}_{metric}"] = 0.5
        for domain in domains:
            metrics[f"{prefix}_{metric}_{domain}"] = 0.5
    metrics.update(extra)
    (folder / "metrics.json").write_text(json.dumps(metrics))
