"""`allennlp mft-experiment`: a whole table or figure of the paper in one resumable command."""
import argparse
import logging
import os
import shlex
import sys
from pathlib import Path
from typing import List

from allennlp.commands.subcommand import Subcommand

from mft_plugin.experiments import METHODS, ExperimentRunner, Run, load_experiment
from mft_plugin.experiments.export import export_commands
from mft_plugin.experiments.locks import LockHeld
from mft_plugin.experiments.runner import RunFailed

logger = logging.getLogger(__name__)


@Subcommand.register("mft-experiment")
class MftExperiment(Subcommand):
    """
    Runs every (method, seed, domain) of an experiment file as an ordinary `allennlp train`
    run in its own folder, skips finished runs, resumes interrupted ones, evaluates every model
    per domain and writes results.json, results.md and results.png. See
    docs/experiments.md (and `mft_plugin.experiments.spec`) for the experiment file.

    For a scheduler, `--export-commands` writes every run's command, grouped into waves that
    run in order (`mft_plugin.experiments.export`), `--only RUN_ID` is such a command, and
    `--collect` writes the results from the runs that have finished.
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
        mode = subparser.add_mutually_exclusive_group()
        mode.add_argument("--dry-run", action="store_true", help="list the planned runs and stop")
        mode.add_argument(
            "--export-commands",
            action="store_true",
            help="train nothing: write every run's config and command for a scheduler (Slurm job "
            "arrays, GNU parallel) under OUT/commands, in waves that run in order",
        )
        mode.add_argument(
            "--only",
            metavar="RUN_ID",
            default=None,
            help="train this run only, in this process (a task of --export-commands): skipped "
            "when finished, resumed when interrupted; writes no results",
        )
        mode.add_argument(
            "--collect",
            action="store_true",
            help="train nothing: score the runs that have finished and write the results, "
            "listing the runs that have not",
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
    experiment = load_experiment(
        args.experiment_file, args.overrides, args.test_data, configs_dir=args.configs_dir
    )
    # `--include-package` of this command reaches every run, as the experiment's own list does.
    for package in getattr(args, "include_package", None) or []:
        if package not in experiment.include_package:
            experiment.include_package.append(package)
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
    if args.export_commands:
        _export(args, runner)
        return
    if args.collect:
        missing = runner.collect_results()
        print((runner.output_dir / "results.md").read_text())
        finished = len(runner.runs) - len(missing)
        print(f"{finished} of {len(runner.runs)} runs finished.")
        if missing:
            print("Not finished:\n" + "\n".join(f"  {run.run_id}" for run in missing))
        return
    try:
        if args.only is not None:
            runner.run_one(args.only)
            return
        runner.run_all()
    except (RunFailed, LockHeld) as error:
        print(f"mft-experiment: {error}", file=sys.stderr)
        sys.exit(1)
    print((runner.output_dir / "results.md").read_text())


def task_command(args: argparse.Namespace, runner: ExperimentRunner) -> List[str]:
    """
    The command line of this experiment that the exported tasks run (with `--only`) and the
    collect step (with `--collect`): this Python, absolute paths, the options that shape runs.
    """
    command = [sys.executable, "-m", "allennlp", "mft-experiment"]
    command += [os.path.abspath(args.experiment_file), "-s", str(runner.output_dir)]
    if args.overrides:
        command += ["-o", args.overrides]
    if args.test_data:
        command += ["--test-data", os.path.abspath(args.test_data)]
    if args.configs_dir:
        command += ["--configs-dir", os.path.abspath(args.configs_dir)]
    if args.keep_checkpoints:
        command.append("--keep-checkpoints")
    for package in getattr(args, "include_package", None) or []:
        command += ["--include-package", package]
    return command


def _kinds_of(wave: List[Run]) -> str:
    """What a wave trains, e.g. "BERT (S), stage 1" or "stage 2"."""
    kinds: List[str] = []
    for run in wave:
        if run.depends_on is not None:
            kind = "stage 2"
        elif run.is_stage1:
            kind = "stage 1"
        else:
            kind = METHODS[run.method]["display"]
        if kind not in kinds:
            kinds.append(kind)
    return ", ".join(kinds)


def _export(args: argparse.Namespace, runner: ExperimentRunner) -> None:
    exported = export_commands(runner, task_command(args, runner), Path.cwd())
    out = runner.output_dir
    print(
        f"{runner.experiment.name}: {len(runner.runs)} runs in {len(exported.waves)} waves; "
        f"their configs are in {out / 'configs'}."
    )
    for number, (wave, path) in enumerate(zip(exported.waves, exported.wave_files), start=1):
        print(f"  wave {number}: {len(wave):3d} runs ({_kinds_of(wave)}), {path}")
    print(
        "A line trains one run (`--only`): a finished run is skipped, an interrupted one resumed; "
        "start a wave when the one before has finished."
    )
    waves = " && ".join(f"bash -e {shlex.quote(str(path))}" for path in exported.wave_files)
    print(f"  Slurm job arrays:  bash {exported.slurm_submit} [sbatch options]")
    print(f"  GNU parallel:      JOBS=4 bash {exported.parallel_script}   (or GPUS=4)")
    print(f"  one by one:        {waves}")
    print(f"Results of the runs that have finished:  bash {exported.collect_script}")
