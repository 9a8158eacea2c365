"""`allennlp mft-experiment`: a whole table or figure of the paper in one resumable command."""
import argparse
import logging
import sys
from pathlib import Path

from allennlp.commands.subcommand import Subcommand

from mft_plugin.experiments import ExperimentRunner, load_experiment
from mft_plugin.experiments.runner import RunFailed

logger = logging.getLogger(__name__)


@Subcommand.register("mft-experiment")
class MftExperiment(Subcommand):
    """
    Runs every (method, seed, domain) of an experiment file as an ordinary `allennlp train`
    run in its own folder, skips finished runs, resumes interrupted ones, evaluates every model
    per domain and writes results.json, results.md and results.png. See
    `mft_plugin.experiments.plan` for the experiment file.
    """

    def add_subparser(self, parser: argparse._SubParsersAction) -> argparse.ArgumentParser:
        description = (
            "Run the paper's protocol (stage 1, per-domain stage 2, the baselines) for an "
            "experiment file and report it like the paper's tables."
        )
        subparser = parser.add_parser(self.name, description=description, help=description)
        subparser.add_argument(
            "experiment_file",
            help="the experiment (jsonnet), e.g. training_configs/experiments/table4_taxonomy.jsonnet",
        )
        subparser.add_argument("-s", "--serialization-dir", required=True, help="the output folder")
        subparser.add_argument(
            "--dry-run", action="store_true", help="list the planned runs and stop"
        )
        subparser.add_argument(
            "--test-data",
            default=None,
            help="score every model on this test file or folder (overrides the experiment's data.test)",
        )
        subparser.add_argument(
            "-o",
            "--overrides",
            default="",
            help="a JSON(NET) object overriding keys of the experiment file",
        )
        subparser.add_argument(
            "--configs-dir",
            default=None,
            help="the folder with experiment.libsonnet (default: the project's)",
        )
        subparser.add_argument(
            "--keep-checkpoints", action="store_true", help="keep the checkpoints of finished runs"
        )
        subparser.set_defaults(func=run_experiment_from_args)
        return subparser


def run_experiment_from_args(args: argparse.Namespace) -> None:
    experiment = load_experiment(args.experiment_file, args.overrides, args.test_data)
    runner = ExperimentRunner(
        experiment,
        Path(args.serialization_dir),
        configs_dir=Path(args.configs_dir) if args.configs_dir else None,
        keep_checkpoints=args.keep_checkpoints,
    )
    if args.dry_run:
        print(f"{experiment.name}: {len(runner.runs)} runs under {runner.output_dir}")
        print("\n".join(runner.dry_run()))
        return
    try:
        runner.run_all()
    except RunFailed as error:
        print(f"mft-experiment: {error}", file=sys.stderr)
        sys.exit(1)
    print((runner.output_dir / "results.md").read_text())
