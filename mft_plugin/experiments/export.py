"""
Handing an experiment's runs to a scheduler instead of running them one after another.

`allennlp mft-experiment EXP -s OUT --export-commands` writes

    OUT/configs/<run id>.json        every run's config, as the runner trains it
    OUT/commands/wave-<k>.txt        one shell command a run, a wave's runs independent:
                                     wave 1 stage 1, BERT (S) and BERT (Mix); wave 2 the stage-2
                                     runs, which start from a stage-1 archive of wave 1 (in a
                                     transfer experiment: wave 1 the stage-1 runs, which score
                                     their model on the held-out domain too, and BERT (S))
    OUT/commands/slurm-array.sbatch  a Slurm job-array task: line $SLURM_ARRAY_TASK_ID of a wave
    OUT/commands/submit-slurm.sh     one job array a wave, each after the previous one succeeded
    OUT/commands/run-parallel.sh     the waves with GNU parallel on one machine
    OUT/commands/collect.sh          `--collect`: the results of whatever has finished

A wave file is also a bash script (`bash -e wave-1.txt` runs its lines one after another).
Every line is `cd PROJECT && PYTHON -m allennlp mft-experiment EXP -s OUT --only RUN_ID` with
the options of the export, rather than a bare `allennlp train CONFIG -s RUNDIR`, so that a task
can be rerun whatever state its run is in: a finished run is skipped (a bare `allennlp train`
refuses a non-empty folder, and with `--recover` a folder that does not exist), an interrupted
one resumed with `--recover`, one that died before its first checkpoint started afresh, a
stage-2 run refused until its stage 1 has finished, a run of changed settings refused; the
checkpoints of a finished run are removed and its model scored on the test data, as in the
sequential runner. The task trains in its own process, so it costs one `allennlp` start only.
The commands use the Python and the project folder of the export (the plugin is found through
that folder's `.allennlp_plugins`) and the environment they are started in: the variables that
the experiment file reads (MFT_DATA_DIR, MFT_ENCODER, ...) must be those of the export, which
sbatch (it passes the submitting shell's environment on by default), GNU parallel and bash give
them; a task whose config would differ from the exported one refuses to train.
`--collect` (collect.sh) then writes the results from the runs that have finished.
"""
import re
import shlex
from dataclasses import dataclass
from pathlib import Path
from typing import List, Sequence

from mft_plugin.experiments.plan import Run, waves
from mft_plugin.experiments.runner import ExperimentRunner


@dataclass
class ExportedCommands:
    """What `export_commands` wrote."""

    waves: List[List[Run]]
    wave_files: List[Path]
    slurm_task: Path
    slurm_submit: Path
    parallel_script: Path
    collect_script: Path


def export_commands(
    runner: ExperimentRunner, task_command: Sequence[str], working_dir: Path
) -> ExportedCommands:
    """
    Write every run's config and the commands that train the runs (see the module docstring).

    # Parameters

    runner : `ExperimentRunner`
    task_command : `Sequence[str]`
        The `mft-experiment` command line (program, experiment file, `-s OUT` and the options
        that change the runs' configs or scores) that a task runs with `--only RUN_ID` added,
        and the collect step with `--collect`.
    working_dir : `Path`
        The folder the commands run in: the project, whose `.allennlp_plugins` loads the plugin
        and against which relative data paths were resolved.
    """
    runner.make_folders()
    for run in runner.runs:
        # a finished run of other settings is refused now, not when its task runs
        runner.check_unchanged(run, runner.config_for(run))
        runner.write_config(run)

    commands_dir = runner.output_dir / "commands"
    commands_dir.mkdir(exist_ok=True)
    for stale in commands_dir.glob("wave-*.txt"):  # of an earlier export with more waves
        stale.unlink()
    cd = f"cd {shlex.quote(str(working_dir))} && "
    grouped = waves(runner.runs)
    wave_files = []
    for number, wave in enumerate(grouped, start=1):
        path = commands_dir / f"wave-{number}.txt"
        lines = [cd + shlex.join([*task_command, "--only", run.run_id]) for run in wave]
        path.write_text("\n".join(lines) + "\n")
        wave_files.append(path)
    collect_script = commands_dir / "collect.sh"
    collect_script.write_text(
        "#!/bin/bash\n"
        f"# The results of `{runner.experiment.name}` from the runs that have finished; trains "
        "nothing.\n" + cd + shlex.join([*task_command, "--collect"]) + "\n"
    )

    job_name = "mft-" + (re.sub(r"[^a-z0-9]+", "-", runner.experiment.name.lower()).strip("-"))
    slurm_task = commands_dir / "slurm-array.sbatch"
    slurm_task.write_text(_slurm_task(runner, job_name))
    slurm_submit = commands_dir / "submit-slurm.sh"
    slurm_submit.write_text(_slurm_submit(runner, job_name, slurm_task, wave_files, grouped))
    parallel_script = commands_dir / "run-parallel.sh"
    parallel_script.write_text(_parallel_script(runner, wave_files))
    for script in (slurm_task, slurm_submit, parallel_script, collect_script):
        script.chmod(0o755)
    return ExportedCommands(
        grouped, wave_files, slurm_task, slurm_submit, parallel_script, collect_script
    )


def _slurm_task(runner: ExperimentRunner, job_name: str) -> str:
    logs = shlex.quote(str(runner.output_dir / "logs"))
    return f"""#!/bin/bash
# One task of a job array of `{runner.experiment.name}`: runs line $SLURM_ARRAY_TASK_ID of the
# wave file given as its argument. submit-slurm.sh submits one array a wave. Add the resources
# your cluster needs here (#SBATCH lines) or on submit-slurm.sh's command line, e.g.
#   --gres=gpu:1 --cpus-per-task=4 --mem=32G --time=12:00:00
#SBATCH --job-name={job_name}
#SBATCH --output={logs}/slurm-%x-%A_%a.out
set -euo pipefail
wave_file="$1"
line="$(sed -n "${{SLURM_ARRAY_TASK_ID}}p" "$wave_file")"
if [ -z "$line" ]; then
  echo "$wave_file has no line $SLURM_ARRAY_TASK_ID" >&2
  exit 1
fi
echo "$line"
bash -c "$line"
"""


def _slurm_submit(
    runner: ExperimentRunner,
    job_name: str,
    slurm_task: Path,
    wave_files: List[Path],
    grouped: List[List[Run]],
) -> str:
    lines = [
        "#!/bin/bash",
        f"# Submits the runs of `{runner.experiment.name}` to Slurm: one job array a wave, each",
        "# wave once every task of the one before has succeeded (--dependency=afterok). Options",
        "# given here go to every sbatch, e.g.",
        f"#   bash {shlex.quote(str(runner.output_dir / 'commands' / 'submit-slurm.sh'))} "
        "--partition=gpu --gres=gpu:1 --time=12:00:00",
        "# To run at most K tasks of a wave at once, append %K to its --array range (1-24%8).",
        "# Submitting again is safe: the task of a finished run only checks that it finished.",
        "set -euo pipefail",
    ]
    previous = None
    for number, (path, wave) in enumerate(zip(wave_files, grouped), start=1):
        options = [f"--job-name={job_name}-wave-{number}", f"--array=1-{len(wave)}"]
        if previous is not None:
            options += [f"--dependency=afterok:${previous}", "--kill-on-invalid-dep=yes"]
        variable = f"wave_{number}"
        lines += [
            f'{variable}=$(sbatch --parsable {" ".join(options)} "$@" '
            f"{shlex.quote(str(slurm_task))} {shlex.quote(str(path))})",
            f"{variable}=${{{variable}%%;*}}  # --parsable prints JOBID[;CLUSTER]",
            f'echo "wave {number}: {len(wave)} runs, job ${variable}"',
        ]
        previous = variable
    # the results once the last wave has ended, also when some runs failed (it lists them)
    collect = shlex.quote(str(runner.output_dir / "commands" / "collect.sh"))
    lines += [
        f"collect=$(sbatch --parsable --job-name={job_name}-collect "
        f'--dependency=afterany:${previous} "$@" '
        f"--output={shlex.quote(str(runner.output_dir / 'logs'))}/slurm-%x-%j.out "
        f"--wrap={shlex.quote('bash ' + collect)})",
        "collect=${collect%%;*}",
        'echo "results: job $collect writes them when the last wave has ended"',
    ]
    return "\n".join(lines) + "\n"


def _parallel_script(runner: ExperimentRunner, wave_files: List[Path]) -> str:
    logs = runner.output_dir / "logs"
    lines = [
        "#!/bin/bash",
        f"# Runs the runs of `{runner.experiment.name}` on this machine with GNU parallel, one",
        "# wave after the other, JOBS runs at a time (default 1):",
        f"#   JOBS=4 bash {shlex.quote(str(runner.output_dir / 'commands' / 'run-parallel.sh'))}",
        "# With GPUS=N, job slot k runs on GPU (k - 1) mod N (CUDA_VISIBLE_DEVICES) and JOBS",
        "# defaults to N. A failed run stops the script after its wave; running it again skips",
        "# every run that finished.",
        "set -euo pipefail",
        'jobs="${JOBS:-${GPUS:-1}}"',
        "run_wave() {",
        '  if [ -n "${GPUS:-}" ]; then',
        '    parallel --jobs "$jobs" --joblog "$2" \\',
        "      'export CUDA_VISIBLE_DEVICES=$(( ({%} - 1) % '\"$GPUS\"' )); eval {}' < \"$1\"",
        "  else",
        '    parallel --jobs "$jobs" --joblog "$2" < "$1"',
        "  fi",
        "}",
    ]
    for number, path in enumerate(wave_files, start=1):
        joblog = logs / f"parallel-wave-{number}.log"
        lines.append(f"run_wave {shlex.quote(str(path))} {shlex.quote(str(joblog))}")
    lines.append(f"bash {shlex.quote(str(runner.output_dir / 'commands' / 'collect.sh'))}")
    return "\n".join(lines) + "\n"
