"""
The experiment runner's training processes (forked from a server that has imported AllenNLP)
train as `allennlp train` does on the command line: same metrics to the last digit, the
caller's environment of the moment, failures reported by exit code with the error in the log.
"""
import json
import os
import subprocess
import sys

from mft_plugin.experiments.training_process import (
    allennlp_command,
    run_allennlp,
    run_allennlp_in_new_process,
)
from tests.conftest import CONFIGS, PROJECT_ROOT, TINY_ENVIRONMENT

BERT_S = str(CONFIGS / "taxonomy" / "bert_s.jsonnet")


def _metrics(directory):
    metrics = json.loads((directory / "metrics.json").read_text())
    # everything but timings and memory, which differ from process to process
    return {
        key: value
        for key, value in metrics.items()
        if not key.endswith(("duration", "_MB")) and key != "training_start_epoch"
    }


def test_a_forked_run_equals_allennlp_train_and_sees_the_environment_of_the_moment(
    tmp_path, monkeypatch
):
    monkeypatch.chdir(PROJECT_ROOT)
    for name, value in dict(TINY_ENVIRONMENT, MFT_DOMAIN="animal").items():
        monkeypatch.setenv(name, value)
    log = tmp_path / "forked.log"
    assert run_allennlp(["train", BERT_S, "-s", str(tmp_path / "forked")], log) == 0
    assert "Epoch duration" in log.read_text()  # allennlp's log went to the run's log file

    command_line_log = tmp_path / "command_line.log"
    args = ["train", BERT_S, "-s", str(tmp_path / "command_line")]
    exit_code = run_allennlp_in_new_process(args, command_line_log)
    assert exit_code == 0, command_line_log.read_text()[-3000:]
    forked = _metrics(tmp_path / "forked")
    assert forked == _metrics(tmp_path / "command_line")
    assert "best_validation_accuracy" in forked

    # the fork server is running now, started with the environment above; a run sees the new one
    monkeypatch.setenv("MFT_SEED", "14")
    monkeypatch.setenv("MFT_DOMAIN", "vehicle")
    assert run_allennlp(["train", BERT_S, "-s", str(tmp_path / "seed14")], log) == 0
    config = json.loads((tmp_path / "seed14" / "config.json").read_text())
    assert config["random_seed"] == 14
    assert config["dataset_reader"]["domains"] == ["vehicle"]


def test_a_failed_run_returns_its_exit_code_and_logs_the_error(tmp_path, monkeypatch):
    monkeypatch.chdir(PROJECT_ROOT)
    log = tmp_path / "failed.log"
    log.write_text("kept\n")
    missing = str(tmp_path / "no_such_config.jsonnet")
    assert run_allennlp(["train", missing, "-s", str(tmp_path / "out")], log) != 0
    text = log.read_text()
    assert text.startswith("kept\n")  # appended, not overwritten
    assert "no_such_config.jsonnet" in text


def test_the_equivalent_command_line_is_python_m_allennlp():
    assert allennlp_command(["train", "c.jsonnet"]) == [
        sys.executable,
        "-m",
        "allennlp",
        "train",
        "c.jsonnet",
    ]


def test_a_script_without_a_main_guard_gets_an_error_that_says_so(tmp_path):
    script = tmp_path / "unguarded.py"
    script.write_text(
        "from pathlib import Path\n"
        "from mft_plugin.experiments import training_process\n"
        "from mft_plugin.experiments.training_process import run_allennlp\n"
        # the child dies on importing this script again, before AllenNLP matters: a fork
        # server that imports only this module starts in a second, not twenty
        "training_process.PRELOAD = [training_process.__name__]\n"
        "run_allennlp(['train', 'config.jsonnet', '-s', 'out'], "
        f"Path({str(tmp_path / 'x.log')!r}))\n"
    )
    result = subprocess.run(
        [sys.executable, str(script)],
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=str(PROJECT_ROOT)),
        timeout=600,
    )
    assert result.returncode != 0
    assert "ChildProcessError" in result.stderr
    assert "before it started: nothing reached" in result.stderr
    assert 'if __name__ == "__main__":' in result.stderr
