"""
`mft-experiment --export-commands` (configs, wave files, Slurm and GNU parallel launchers), the
`--only` tasks they run and `--collect`, on the fixture experiment.
"""
import contextlib
import io
import json
import os
import shlex
import shutil
import subprocess
import sys
from types import SimpleNamespace

import pytest
from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments import ExperimentRunner, load_experiment
from tests.conftest import PROJECT_ROOT
from tests.experiments.helpers import (
    EXPERIMENT,
    EXPERIMENT_ENVIRONMENT,
    mft_experiment_in_process,
    results_table,
    run_exported_line,
    subprocess_environment,
)

RUNS_BY_WAVE = [
    [
        "bert_s/default/seed-13/animal",
        "bert_s/default/seed-13/vehicle",
        "mft_full/default/seed-13/stage1",
    ],
    ["mft_full/default/seed-13/animal", "mft_full/default/seed-13/vehicle"],
]
# The trained export: another seed shapes every line (its run ids too, so a line without the
# option plans no such run); the fixture's two domains, the fewest MFT's stage 1 trains on,
# keep it to five runs over both waves and methods.
OTHER_SEED = '{"seeds": [7]}'
TEST_DATA = "tests/fixtures/data/taxonomy/train"  # relative: the export makes it absolute
TRAINED_RUNS = [
    [
        "bert_s/default/seed-7/animal",
        "bert_s/default/seed-7/vehicle",
        "mft_full/default/seed-7/stage1",
    ],
    ["mft_full/default/seed-7/animal", "mft_full/default/seed-7/vehicle"],
]


@pytest.fixture
def experiment_env(monkeypatch):
    for name, value in EXPERIMENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(PROJECT_ROOT)


def _only_run_ids(wave_file):
    """The RUN_ID of every `... --only RUN_ID` line."""
    ids = []
    for line in wave_file.read_text().splitlines():
        words = shlex.split(line)
        assert words[-2] == "--only", line
        ids.append(words[-1])
    return ids


def test_export_writes_every_run_in_waves_in_dependency_order(tmp_path, experiment_env, capsys):
    mft_experiment_in_process(EXPERIMENT, "-s", tmp_path, "--export-commands")
    commands = tmp_path / "commands"
    assert sorted(p.name for p in commands.glob("wave-*.txt")) == ["wave-1.txt", "wave-2.txt"]
    waves = [_only_run_ids(commands / f"wave-{n}.txt") for n in (1, 2)]
    assert waves == RUNS_BY_WAVE
    # every stage-2 run comes a wave after the stage-1 run it starts from
    runner = ExperimentRunner(load_experiment(str(EXPERIMENT)), tmp_path)
    wave_of = {run_id: n for n, wave in enumerate(waves) for run_id in wave}
    for run in runner.runs:
        if run.depends_on is not None:
            assert wave_of[run.depends_on] < wave_of[run.run_id], run.run_id
    # a line is a complete command: the project folder, this Python, the experiment, the run
    line = (commands / "wave-1.txt").read_text().splitlines()[0]
    assert shlex.split(line) == [
        "cd",
        str(PROJECT_ROOT),
        "&&",
        sys.executable,
        "-m",
        "allennlp",
        "mft-experiment",
        str(EXPERIMENT),
        "-s",
        str(tmp_path),
        "--only",
        "bert_s/default/seed-13/animal",
    ]
    # every config, as the runner trains it; no training
    for run in runner.runs:
        assert json.loads(runner.config_path(run).read_text()) == runner.config_for(run)
        assert not runner.run_dir(run).exists()
    printed = capsys.readouterr().out
    assert "5 runs in 2 waves" in printed
    assert "wave 1:   3 runs" in printed and "wave 2:   2 runs (stage 2)" in printed
    assert f"bash {commands / 'submit-slurm.sh'}" in printed


def _fake_command(bin_dir, name, body):
    path = bin_dir / name
    path.write_text("#!/bin/bash\n" + body)
    path.chmod(0o755)


def test_slurm_submit_script_chains_the_waves_with_afterok(tmp_path, experiment_env):
    out = tmp_path / "out"
    mft_experiment_in_process(EXPERIMENT, "-s", out, "--export-commands")
    commands = out / "commands"
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "sbatch-calls.txt"
    # a stand-in sbatch: records its arguments, answers job ids 1001, 1002, ... as --parsable does
    _fake_command(
        bin_dir,
        "sbatch",
        f'echo "$*" >> {calls}\necho "$((1000 + $(wc -l < {calls})));cluster"\n',
    )
    environment = dict(subprocess_environment(), PATH=f"{bin_dir}:/usr/bin:/bin")
    submitted = subprocess.run(
        ["bash", str(commands / "submit-slurm.sh"), "--partition=gpu"],
        env=environment,
        capture_output=True,
        text=True,
    )
    assert submitted.returncode == 0, submitted.stderr
    wave_1, wave_2, collect = calls.read_text().splitlines()
    task = commands / "slurm-array.sbatch"
    assert wave_1 == (
        "--parsable --job-name=mft-tiny-taxonomy-wave-1 --array=1-3 --partition=gpu "
        f"{task} {commands / 'wave-1.txt'}"
    )
    assert wave_2 == (
        "--parsable --job-name=mft-tiny-taxonomy-wave-2 --array=1-2 "
        "--dependency=afterok:1001 --kill-on-invalid-dep=yes --partition=gpu "
        f"{task} {commands / 'wave-2.txt'}"
    )
    assert "--dependency=afterany:1002" in collect
    assert f"--wrap=bash {commands / 'collect.sh'}" in collect
    assert "wave 2: 2 runs, job 1002" in submitted.stdout
    # a task index past the wave's lines fails instead of running nothing
    stray = subprocess.run(
        ["bash", str(task), str(commands / "wave-2.txt")],
        env=dict(environment, SLURM_ARRAY_TASK_ID="3"),
        capture_output=True,
        text=True,
    )
    assert stray.returncode == 1
    assert f"{commands / 'wave-2.txt'} has no line 3" in stray.stderr


def test_parallel_script_runs_the_waves_in_order_and_stops_after_a_failed_one(
    tmp_path, experiment_env
):
    out = tmp_path / "out"
    mft_experiment_in_process(EXPERIMENT, "-s", out, "--export-commands")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    calls = tmp_path / "parallel-calls.txt"
    # a stand-in GNU parallel: records its arguments and the runs it was given; wave 2 fails
    _fake_command(
        bin_dir,
        "parallel",
        f'echo "$*" >> {calls}\n'
        f'runs=$(sed "s/.* --only //" | tr "\\n" " ")\necho "$runs" >> {calls}\n'
        'case "$runs" in *stage1*) exit 0;; *) exit 1;; esac\n',
    )
    script = out / "commands" / "run-parallel.sh"
    for extra, jobs in (({"JOBS": "3"}, "3"), ({"GPUS": "2"}, "2")):
        calls.unlink(missing_ok=True)
        environment = dict(subprocess_environment(), PATH=f"{bin_dir}:/usr/bin:/bin", **extra)
        result = subprocess.run(["bash", str(script)], env=environment, capture_output=True)
        assert result.returncode == 1  # the failed wave stops it: no collect after it
        arguments_1, runs_1, arguments_2, runs_2 = calls.read_text().splitlines()
        assert runs_1.split() == RUNS_BY_WAVE[0] and runs_2.split() == RUNS_BY_WAVE[1]
        assert arguments_1.startswith(
            f"--jobs {jobs} --joblog {out / 'logs' / 'parallel-wave-1.log'}"
        )
        if "GPUS" in extra:  # job slot k on GPU k - 1, the line run as it is
            assert arguments_1.endswith("export CUDA_VISIBLE_DEVICES=$(( ({%} - 1) % 2 )); eval {}")


@pytest.fixture(scope="module")
def trained_by_waves(tmp_path_factory):
    """
    An export trained the way a scheduler would: wave 1 line by line from another folder, as a
    plain loop over its lines runs them, wave 2 through the Slurm array task script, one task
    per line as the array runs them; collected after each wave, then reported by the sequential
    path too (which trains nothing then). Each line runs in this process (`run_exported_line`).
    """
    out = tmp_path_factory.mktemp("exported")
    elsewhere = tmp_path_factory.mktemp("elsewhere")  # the lines find the project themselves
    options = ["-o", OTHER_SEED, "--test-data", TEST_DATA]
    state = SimpleNamespace(out=out, options=options)
    # a stand-in for the `bash -c "$line"` that runs an array task's line: records the line
    bin_dir = tmp_path_factory.mktemp("bin")
    handed = bin_dir / "handed-line.txt"
    _fake_command(bin_dir, "bash", f'[ "$1" = -c ] && printf "%s" "$2" > {handed}\n')
    bash = shutil.which("bash")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXPERIMENT_ENVIRONMENT.items():
            patch.setenv(name, value)
        patch.chdir(PROJECT_ROOT)
        mft_experiment_in_process(EXPERIMENT, "-s", out, "--export-commands", *options)
        commands = out / "commands"
        state.wave_lines = [(commands / f"wave-{n}.txt").read_text().splitlines() for n in (1, 2)]
        for line in state.wave_lines[0]:
            os.chdir(elsewhere)
            run_exported_line(line)
        os.chdir(PROJECT_ROOT)

        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            mft_experiment_in_process(EXPERIMENT, "-s", out, "--collect", *options)
        state.partial_printed = printed.getvalue()
        state.partial_markdown = (out / "results.md").read_text()
        state.partial_results = json.loads((out / "results.json").read_text())

        state.handed_lines = []
        for task_id in range(1, len(state.wave_lines[1]) + 1):
            handed.unlink(missing_ok=True)
            task = subprocess.run(
                [bash, str(commands / "slurm-array.sbatch"), str(commands / "wave-2.txt")],
                cwd=elsewhere,
                env=dict(
                    subprocess_environment(),
                    SLURM_ARRAY_TASK_ID=str(task_id),
                    PATH=f"{bin_dir}:{os.environ['PATH']}",
                ),
                capture_output=True,
                text=True,
            )
            assert task.returncode == 0, task.stderr[-3000:]
            state.handed_lines.append(handed.read_text())
            os.chdir(elsewhere)
            run_exported_line(state.handed_lines[-1])
        os.chdir(PROJECT_ROOT)

        with contextlib.redirect_stdout(io.StringIO()):
            mft_experiment_in_process(EXPERIMENT, "-s", out, "--collect", *options)
            state.collected_markdown = (out / "results.md").read_text()
            state.collected_results = json.loads((out / "results.json").read_text())
            mft_experiment_in_process(EXPERIMENT, "-s", out, *options)
        state.sequential_markdown = (out / "results.md").read_text()
    return state


def test_export_passes_the_options_that_shape_the_runs_to_every_line(trained_by_waves):
    assert [len(lines) for lines in trained_by_waves.wave_lines] == [3, 2]
    # the array's task N ran line N of its wave
    assert trained_by_waves.handed_lines == trained_by_waves.wave_lines[1]
    for lines, runs in zip(trained_by_waves.wave_lines, TRAINED_RUNS):
        assert [shlex.split(line)[-1] for line in lines] == runs
        for line in lines:
            words = shlex.split(line)
            assert words[words.index("-o") + 1] == OTHER_SEED
            assert words[words.index("--test-data") + 1] == str(PROJECT_ROOT / TEST_DATA)


def test_wave_lines_run_in_order_train_every_run(trained_by_waves):
    out = trained_by_waves.out
    for run in sum(TRAINED_RUNS, []):
        assert (out / run / "model.tar.gz").is_file(), run
        assert (out / run / "metrics.json").is_file(), run
        assert not list((out / run).glob("*.th")), run  # checkpoints removed, as sequentially
    for domain in ("animal", "vehicle"):
        stage2 = json.loads((out / f"mft_full/default/seed-7/{domain}/config.json").read_text())
        initializer = stage2["model"]["initializer"]["regexes"][0][1]
        assert initializer["weights_file_path"] == str(
            out / "mft_full/default/seed-7/stage1/model.tar.gz"
        )
        # each task scored its model on the test data
        for method in ("bert_s", "mft_full"):
            run_dir = out / f"{method}/default/seed-7/{domain}"
            assert len(list(run_dir.glob("test-metrics-*.json"))) == 1, run_dir


def test_collect_on_a_partly_finished_folder_lists_the_missing_runs(trained_by_waves):
    missing = TRAINED_RUNS[1]
    assert trained_by_waves.partial_results["missing_runs"] == missing
    assert [row["run"] for row in trained_by_waves.partial_results["runs"]] == [
        "bert_s/default/seed-7/animal",
        "bert_s/default/seed-7/vehicle",
    ]
    markdown = trained_by_waves.partial_markdown
    assert (
        "Runs not finished (2): `mft_full/default/seed-7/animal`, "
        "`mft_full/default/seed-7/vehicle`"
    ) in markdown
    _, rows = results_table(markdown, "dev")
    assert list(rows) == ["BERT (S)"]
    printed = trained_by_waves.partial_printed
    assert "3 of 5 runs finished." in printed
    assert (
        "Not finished:\n  mft_full/default/seed-7/animal\n  mft_full/default/seed-7/vehicle"
    ) in printed


def test_collect_after_every_wave_reports_what_the_sequential_path_does(trained_by_waves):
    out = trained_by_waves.out
    markdown = trained_by_waves.collected_markdown
    assert markdown == trained_by_waves.sequential_markdown
    assert trained_by_waves.collected_results["missing_runs"] == []
    assert "not finished" not in markdown
    _, dev_rows = results_table(markdown, "dev")
    _, test_rows = results_table(markdown, "test")
    for method, folder in (("BERT (S)", "bert_s"), ("MFT (Full)", "mft_full")):
        dev, test = {}, {}
        for domain in ("animal", "vehicle"):
            run_dir = out / folder / "default/seed-7" / domain
            metrics = json.loads((run_dir / "metrics.json").read_text())
            dev[domain] = 100 * metrics[f"best_validation_accuracy_{domain}"]
            test_file = next(run_dir.glob("test-metrics-*.json"))
            tested = json.loads(test_file.read_text())
            assert tested["test_data_path"] == str(PROJECT_ROOT / TEST_DATA)
            test[domain] = 100 * tested[f"accuracy_{domain}"]
        for rows, scores in ((dev_rows, dev), (test_rows, test)):
            average = (scores["animal"] + scores["vehicle"]) / 2
            assert rows[method] == {
                "animal": f"{scores['animal']:.1f}",
                "vehicle": f"{scores['vehicle']:.1f}",
                "Average": f"{average:.1f}",
            }, method


def test_rerunning_a_finished_task_trains_nothing(trained_by_waves, experiment_env):
    out = trained_by_waves.out
    archives = {run: (out / run / "model.tar.gz").stat().st_mtime_ns for run in TRAINED_RUNS[0]}
    for run in TRAINED_RUNS[0]:
        mft_experiment_in_process(EXPERIMENT, "-s", out, *trained_by_waves.options, "--only", run)
    assert archives == {
        run: (out / run / "model.tar.gz").stat().st_mtime_ns for run in TRAINED_RUNS[0]
    }


def test_a_stage2_task_refuses_to_start_before_its_stage1(tmp_path, experiment_env, capsys):
    mft_experiment_in_process(EXPERIMENT, "-s", tmp_path, "--export-commands")
    with pytest.raises(SystemExit) as exit_:
        mft_experiment_in_process(
            EXPERIMENT, "-s", tmp_path, "--only", "mft_full/default/seed-13/animal"
        )
    assert exit_.value.code == 1
    assert (
        "mft_full/default/seed-13/animal needs mft_full/default/seed-13/stage1, which has not finished"
        in capsys.readouterr().err
    )
    assert not (tmp_path / "mft_full/default/seed-13/animal").exists()


def test_a_task_with_other_settings_than_its_export_is_refused(tmp_path, experiment_env):
    mft_experiment_in_process(EXPERIMENT, "-s", tmp_path, "--export-commands")
    exported = tmp_path / "configs" / "bert_s__default__seed-13__animal.json"
    with pytest.raises(ConfigurationError, match="was exported with other settings") as error:
        mft_experiment_in_process(
            EXPERIMENT,
            "-s",
            tmp_path,
            "-o",
            '{"stage2": {"epochs": 2}}',
            "--only",
            "bert_s/default/seed-13/animal",
        )
    assert str(exported) in str(error.value)
    assert not (tmp_path / "bert_s/default/seed-13/animal").exists()


def test_only_names_a_planned_run(tmp_path, experiment_env):
    with pytest.raises(ConfigurationError, match=r"plans no run 'bert_s/seed-13'; its runs are"):
        mft_experiment_in_process(EXPERIMENT, "-s", tmp_path, "--only", "bert_s/seed-13")


def test_collect_needs_an_existing_output_folder(tmp_path, experiment_env):
    with pytest.raises(ConfigurationError, match=r"Nothing to collect: .*/missing does not exist"):
        mft_experiment_in_process(EXPERIMENT, "-s", tmp_path / "missing", "--collect")
