"""
The experiment runner survives faults: an archive killed or cut short while it was written, a
`--recover` of a run that had finished, a second runner on the same folder, an experiment's
`domains` narrower than the data, a failed run whose reason is buried in its log.

The trained folder is one BERT (Mix) run of the tiny fixture experiment, trained once in this
process with its checkpoints kept and copied for each test that damages it.
"""
import json
import os
import shutil
import signal
import subprocess
import sys
import tarfile

import pytest
from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments import ExperimentRunner, load_experiment
from mft_plugin.experiments.runner import RunFailed
from tests.conftest import FIXTURES, PROJECT_ROOT
from tests.experiments.helpers import EXPERIMENT, EXPERIMENT_ENVIRONMENT, mft_experiment_in_process

MIX_ONLY = '{"methods": ["bert_mix"]}'
MIX = "bert_mix/default/seed-13/mix"


@pytest.fixture
def environment(monkeypatch):
    for name, value in EXPERIMENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(PROJECT_ROOT)


def _runner(output, overrides=MIX_ONLY, keep_checkpoints=True):
    return ExperimentRunner(
        load_experiment(str(EXPERIMENT), overrides), output, keep_checkpoints=keep_checkpoints
    )


@pytest.fixture(scope="module")
def trained_mix(tmp_path_factory):
    """A finished BERT (Mix) run, checkpoints and best.th kept."""
    output = tmp_path_factory.mktemp("mix")
    saved = {name: os.environ.get(name) for name in EXPERIMENT_ENVIRONMENT}
    os.environ.update(EXPERIMENT_ENVIRONMENT)
    try:
        runner = _runner(output)
        runner.make_folders()
        runner.train(runner.find_run(MIX), in_process=True)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
    assert runner.status(runner.find_run(MIX)) == "done"
    return output


@pytest.fixture
def mix_copy(trained_mix, tmp_path):
    output = tmp_path / "out"
    shutil.copytree(trained_mix, output)
    return output


def _metrics(output):
    return json.loads((output / MIX / "metrics.json").read_text())


def _archive_is_whole(path):
    with tarfile.open(path, "r:gz") as archive:
        return {"weights.th", "config.json"} <= set(archive.getnames())


# --------------------------------------------------------------------------------------------
# (1), (2): a broken or missing final archive


@pytest.mark.usefixtures("environment")
def test_truncated_archive_is_not_finished_and_is_rebuilt_keeping_the_metrics(mix_copy):
    archive = mix_copy / MIX / "model.tar.gz"
    before = _metrics(mix_copy)
    data = archive.read_bytes()
    archive.write_bytes(data[: len(data) // 2])  # the disk filled up while archiving
    runner = _runner(mix_copy)
    run = runner.find_run(MIX)
    assert runner.status(run) == "rebuild"
    assert "is not a whole archive" in runner.archive_problem(run)
    runner.train(run, in_process=True)
    assert runner.status(run) == "done"
    assert _archive_is_whole(archive)
    assert _metrics(mix_copy) == before
    # the rebuilt archive is the trained model: it scores as the run's own metrics say
    from allennlp.commands.evaluate import evaluate_from_archive

    dev = str(FIXTURES / "data" / "taxonomy" / "dev")
    assert evaluate_from_archive(str(archive), dev)["accuracy"] == pytest.approx(
        before["validation_accuracy"], abs=1e-6
    )


@pytest.mark.usefixtures("environment")
def test_run_killed_before_its_archive_keeps_its_dev_figures(mix_copy):
    # killed between metrics.json and model.tar.gz: today --recover rewrote metrics.json
    # without its validation figures and the run counted done, yet could not be scored
    (mix_copy / MIX / "model.tar.gz").unlink()
    before = _metrics(mix_copy)
    assert "validation_accuracy_animal" in before
    mft_experiment_in_process(EXPERIMENT, "-s", mix_copy, "-o", MIX_ONLY, "--keep-checkpoints")
    assert _metrics(mix_copy) == before
    assert _archive_is_whole(mix_copy / MIX / "model.tar.gz")
    assert "BERT (Mix)" in (mix_copy / "results.md").read_text()


@pytest.mark.usefixtures("environment")
def test_recover_of_a_finished_run_never_loses_its_dev_figures(mix_copy):
    # no best.th to rebuild from: the run is recovered, which validates no epoch and cannot
    # archive; its metrics.json keeps the figures that score it all the same
    for name in ("model.tar.gz", "best.th"):
        (mix_copy / MIX / name).unlink()
    before = _metrics(mix_copy)
    runner = _runner(mix_copy)
    run = runner.find_run(MIX)
    assert runner.status(run) == "resume"
    with pytest.raises(RuntimeError, match="best.th' does not exist"):
        runner.train(run, in_process=True)
    assert _metrics(mix_copy) == before


@pytest.mark.usefixtures("environment")
def test_metrics_without_dev_figures_do_not_count_as_finished(mix_copy):
    metrics = _metrics(mix_copy)
    stripped = {k: v for k, v in metrics.items() if "validation" not in k}
    (mix_copy / MIX / "metrics.json").write_text(json.dumps(stripped))
    for name in ("best.th",):
        (mix_copy / MIX / name).unlink()
    for checkpoint in (mix_copy / MIX).glob("*_state_e*.th"):
        checkpoint.unlink()
    runner = _runner(mix_copy)
    run = runner.find_run(MIX)
    assert "lacks validation_accuracy" in runner.metrics_problem(run)
    assert runner.status(run) == "new"


# --------------------------------------------------------------------------------------------
# (4): one runner per folder


_HOLD_LOCK = """
import sys, time
from pathlib import Path
from mft_plugin.experiments.locks import FolderLock
lock = FolderLock(Path(sys.argv[1]), "folder").acquire()
print("locked", flush=True)
time.sleep(600)
"""


def test_second_runner_is_refused_while_the_first_lives_and_not_after(tmp_path):
    from mft_plugin.experiments.locks import FolderLock, LockHeld

    lock_file = tmp_path / "out" / "locks" / "experiment.lock"
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_LOCK, str(lock_file)],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(LockHeld) as error:
            FolderLock(lock_file, f"The output folder {tmp_path / 'out'}").acquire()
        message = str(error.value)
        assert f"is in use by pid {holder.pid}" in message
        assert "wait for it to finish or stop it" in message
    finally:
        holder.send_signal(signal.SIGKILL)
        holder.wait()
    # the dead process's lock file stays, its lock does not
    assert lock_file.is_file()
    FolderLock(lock_file, "folder").acquire().release()


@pytest.mark.usefixtures("environment")
def test_runner_refuses_a_folder_whose_run_is_being_trained(mix_copy):
    from mft_plugin.experiments.locks import LockHeld

    runner = _runner(mix_copy)
    run = runner.find_run(MIX)
    (mix_copy / MIX / "model.tar.gz").unlink()
    (mix_copy / MIX / "metrics.json").unlink()  # mid-training: no metrics yet
    with runner.run_lock(run):  # as another process training it would
        with pytest.raises(LockHeld, match=f"The run {mix_copy / MIX} is in use"):
            runner.train(run, in_process=True)
    assert list((mix_copy / MIX).glob("model_state_e*.th"))  # nothing was deleted
    with runner.folder_lock():
        with pytest.raises(LockHeld, match="The output folder .* is in use"):
            runner.run_one(MIX)


# --------------------------------------------------------------------------------------------
# (5): the experiment's domains reach every run


@pytest.mark.usefixtures("environment")
def test_domains_limit_stage1_and_bert_mix(tmp_path):
    runner = _runner(tmp_path, '{"methods": ["bert_mix"], "domains": ["animal"]}')
    config = runner.config_for(runner.find_run(MIX))
    assert config["dataset_reader"]["domains"] == ["animal"]
    runner = _runner(tmp_path, '{"methods": ["mft_full"]}')
    config = runner.config_for(runner.find_run("mft_full/default/seed-13/stage1"))
    assert config["dataset_reader"]["domains"] == ["animal", "vehicle"]


@pytest.mark.usefixtures("environment")
def test_runs_trained_before_domains_and_the_checkpointer_reached_configs_still_match(mix_copy):
    # published runs' configs lack the reader's domains (they read every domain of the data,
    # which were the experiment's) and the checkpointer's type: they are the same runs
    # either, and they list the no-decay parameters in three regexes and no console logger
    saved = mix_copy / MIX / "config.json"
    config = json.loads(saved.read_text())
    assert config["trainer"]["checkpointer"].pop("type") == "mft_checkpointer"
    assert config["dataset_reader"].pop("domains") == ["animal", "vehicle"]
    assert config["trainer"]["callbacks"].pop() == {
        "type": "console_logger",
        "should_log_inputs": False,
    }
    group = config["trainer"]["optimizer"]["parameter_groups"][0]
    assert group[0] == ["bias", "(LayerNorm|layer_norm)\\.weight"]
    group[0] = ["bias", "LayerNorm\\.weight", "layer_norm\\.weight"]
    for section in ("data_loader", "validation_data_loader"):
        assert config[section].pop("collate_fn") == {"type": "mft_transformer"}
    saved.write_text(json.dumps(config))
    runner = _runner(mix_copy)
    run = runner.find_run(MIX)
    runner.check_unchanged(run, runner.config_for(run))
    # whereas a run of fewer domains than the data's is another run
    narrower = _runner(mix_copy, '{"methods": ["bert_mix"], "domains": ["animal"]}')
    with pytest.raises(ConfigurationError, match="was trained with other settings"):
        narrower.check_unchanged(run, narrower.config_for(narrower.find_run(MIX)))


# --------------------------------------------------------------------------------------------
# Errors the user sees


@pytest.mark.usefixtures("environment")
def test_failed_run_shows_the_readers_error_line_not_only_the_log(tmp_path):
    train = tmp_path / "data" / "train"
    train.mkdir(parents=True)
    shutil.copy(FIXTURES / "data/taxonomy/train/vehicle.tsv", train)
    (train / "animal.tsv").write_text("dog\tanimal\t1\n\tanimal\t0\n")  # an empty term
    overrides = json.dumps({"methods": ["bert_mix"], "data.train": str(train)})
    runner = _runner(tmp_path / "out", overrides)
    runner.make_folders()
    with pytest.raises(RunFailed) as error:
        runner.train(runner.find_run(MIX))
    message = str(error.value)
    assert f"DataFileError: {train / 'animal.tsv'}:2: empty term" in message
    assert f"Full output: {runner.log_path(runner.find_run(MIX))}" in message


def test_disk_full_in_a_training_log_is_reported_as_disk_full(tmp_path, environment):
    from mft_plugin.experiments.runner import last_error

    runner = _runner(tmp_path)
    run = runner.find_run(MIX)
    runner.make_folders()
    runner.log_path(run).write_text(
        "Traceback (most recent call last):\n  ...\n"
        "RuntimeError: [enforce fail at inline_container.cc:595] . unexpected pos 1536 vs 1434\n"
        "OSError: [Errno 28] No space left on device: '/out/bert_mix/metrics_epoch_0.json'\n"
    )
    error = runner.failure(run, last_error(runner.log_path(run)), 1)
    assert str(error).startswith(f"Training {MIX} stopped: disk full (OSError: [Errno 28] No space")
    assert "metrics_epoch_0.json" in str(error)
    assert "Nothing written before is lost" in str(error)


@pytest.mark.parametrize("key", ["stage1.epochs", "stage2.epochs", "stage2.batch_size"])
def test_zero_epochs_or_batch_size_is_a_configuration_error_naming_the_key(key, environment):
    section, name = key.split(".")
    with pytest.raises(ConfigurationError, match=rf"{key} must be a positive integer, got 0"):
        load_experiment(str(EXPERIMENT), json.dumps({section: {name: 0}}))


def test_stage2_runs_trained_before_the_basic_classifier_keys_still_match():
    from mft_plugin.experiments.runner import comparable_config

    old = {"model": {"initializer": {"regexes": [["_text_field_embedder\\..*", {}]]}}}
    new = {
        "model": {
            "initializer": {
                "regexes": [
                    [
                        "_text_field_embedder\\..*|_seq2seq_encoder\\..*|_seq2vec_encoder\\..*"
                        "|_feedforward\\..*",
                        {},
                    ]
                ]
            }
        }
    }
    assert comparable_config(old, None) == comparable_config(new, None)
    other = {"model": {"initializer": {"regexes": [["_label_classifier\\..*", {}]]}}}
    assert comparable_config(other, None) != comparable_config(new, None)
