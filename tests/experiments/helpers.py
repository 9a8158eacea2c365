"""Helpers of the experiment tests: the fixture experiment, its command line, its tables."""
import argparse
import os

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
