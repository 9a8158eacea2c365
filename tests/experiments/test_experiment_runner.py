"""
`allennlp mft-experiment` end to end on a tiny experiment, and its resumption.

The command runs in this process (each `allennlp` process start is about 20 s); the runs it
trains are processes of their own, forked as the runner does (see `training_process`).
"""
import json
import logging
import re

import pytest
from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments.plan import short_hash
from tests.conftest import FIXTURES, PROJECT_ROOT
from tests.experiments.helpers import (
    EXPERIMENT_ENVIRONMENT,
    mft_experiment_in_process,
    results_table,
)

EXPERIMENT = FIXTURES / "experiments" / "tiny.jsonnet"
STAGE1_SCORES = '{"stage1_scores": true}'


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    output = tmp_path_factory.mktemp("experiment")
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXPERIMENT_ENVIRONMENT.items():
            patch.setenv(name, value)
        patch.chdir(PROJECT_ROOT)
        mft_experiment_in_process(EXPERIMENT, "-s", output)
    return output


@pytest.fixture
def in_process(monkeypatch, caplog):
    """`allennlp mft-experiment EXPERIMENT -s OUTPUT ARGS` here; returns what it logged."""
    for name, value in EXPERIMENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(PROJECT_ROOT)

    def run(output, *extra):
        caplog.clear()
        with caplog.at_level(logging.INFO, logger="mft_plugin.experiments"):
            mft_experiment_in_process(EXPERIMENT, "-s", output, *extra)
        return caplog.text

    return run


RUNS = [
    "bert_s/default/seed-13/animal",
    "bert_s/default/seed-13/vehicle",
    "mft_full/default/seed-13/stage1",
    "mft_full/default/seed-13/animal",
    "mft_full/default/seed-13/vehicle",
]


def test_dry_run_lists_every_run(tmp_path, in_process, capsys):
    in_process(tmp_path, "--dry-run")
    listed = re.findall(r"\[new   \] (\S+)", capsys.readouterr().out)
    assert listed == RUNS
    assert not (tmp_path / "results.md").exists()


def test_every_run_is_an_ordinary_allennlp_run(finished):
    for run in RUNS:
        assert (finished / run / "model.tar.gz").is_file(), run
        assert (finished / run / "config.json").is_file(), run
        # checkpoints of finished runs are removed, the archive stays
        assert not list((finished / run).glob("*.th")), run
    assert (finished / "mft_full/default/seed-13/stage1/typicality.jsonl").is_file()
    stage2 = json.loads((finished / "mft_full/default/seed-13/animal/config.json").read_text())
    assert stage2["dataset_reader"]["domains"] == ["animal"]
    assert stage2["model"]["initializer"]["regexes"][0][1]["weights_file_path"].endswith(
        "mft_full/default/seed-13/stage1/model.tar.gz"
    )


def test_results_table_matches_the_runs_own_metrics(finished):
    markdown = (finished / "results.md").read_text()
    header, rows = results_table(markdown, "dev")
    assert header == ["Method", "animal", "vehicle", "Average"]
    assert list(rows) == ["BERT (S)", "MFT (Full)"]
    for method, folder in (("BERT (S)", "bert_s"), ("MFT (Full)", "mft_full")):
        scores = []
        for domain in ("animal", "vehicle"):
            metrics = json.loads(
                (finished / folder / "default/seed-13" / domain / "metrics.json").read_text()
            )
            # the scoring rule: the kept (last) epoch's validation figures
            dev = 100 * metrics[f"validation_accuracy_{domain}"]
            scores.append(dev)
            assert rows[method][domain] == f"{dev:.1f}"
        assert rows[method]["Average"] == f"{sum(scores) / 2:.1f}"
    _, test_rows = results_table(markdown, "test")
    metrics_file = next((finished / "bert_s/default/seed-13/animal").glob("test-metrics-*.json"))
    test = 100 * json.loads(metrics_file.read_text())["accuracy_animal"]
    assert test_rows["BERT (S)"]["animal"] == f"{test:.1f}"
    results = json.loads((finished / "results.json").read_text())
    assert len(results["runs"]) == 4
    assert (finished / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_second_invocation_trains_nothing(finished, in_process):
    archives = {run: (finished / run / "model.tar.gz").stat().st_mtime_ns for run in RUNS}
    logged = in_process(finished)
    assert "5 runs planned, 5 already finished, 0 to train" in logged
    assert archives == {run: (finished / run / "model.tar.gz").stat().st_mtime_ns for run in RUNS}


def test_test_data_override_scores_finished_models_without_training(finished, tmp_path, in_process):
    held_out = tmp_path / "held-out"
    held_out.mkdir()
    for domain in ("animal", "vehicle"):
        (held_out / f"{domain}.tsv").write_text(
            (FIXTURES / "data/taxonomy/train" / f"{domain}.tsv").read_text()
        )
    logged = in_process(finished, "--test-data", str(held_out))
    assert "0 to train" in logged
    results = json.loads((finished / "results.json").read_text())
    assert results["experiment"]["data"]["test"] == str(held_out)
    assert all(row["test"] is not None for row in results["runs"])
    assert len(list((finished / "bert_s/default/seed-13/animal").glob("test-metrics-*.json"))) == 2


def test_changed_settings_are_refused(finished, in_process):
    with pytest.raises(ConfigurationError, match="was trained with other settings"):
        in_process(finished, "-o", '{"stage2": {"epochs": 2}}')


def test_stage1_scores_add_a_row_per_stage1_method_from_its_own_run(finished, in_process):
    in_process(finished, "--collect", "-o", STAGE1_SCORES)
    markdown = (finished / "results.md").read_text()
    stage1 = finished / "mft_full/default/seed-13/stage1"
    trained = json.loads((stage1 / "metrics.json").read_text())
    # the stage-1 model scored on the experiment's test data (tiny.jsonnet's dev folder)
    test_data = str((FIXTURES / "data/taxonomy/dev").resolve())
    tested = json.loads((stage1 / f"test-metrics-{short_hash(test_data)}.json").read_text())
    assert tested["test_data_path"] == test_data
    for split, figures, prefix in (("dev", trained, "validation_"), ("test", tested, "")):
        _, rows = results_table(markdown, split)
        assert list(rows) == ["BERT (S)", "MFT (Full)", "MFT (Full), stage 1"]
        scores = [100 * figures[f"{prefix}accuracy_{domain}"] for domain in ("animal", "vehicle")]
        assert rows["MFT (Full), stage 1"] == {
            "animal": f"{scores[0]:.1f}",
            "vehicle": f"{scores[1]:.1f}",
            "Average": f"{sum(scores) / 2:.1f}",
        }
    results = json.loads((finished / "results.json").read_text())
    stage1_rows = [row for row in results["runs"] if row["setting"] == "stage1"]
    assert [(row["domain"], row["dev"]) for row in stage1_rows] == [
        ("animal", trained["validation_accuracy_animal"]),
        ("vehicle", trained["validation_accuracy_vehicle"]),
    ]
    assert all(row["run"] == "mft_full/default/seed-13/stage1" for row in stage1_rows)


def test_interrupted_experiment_reruns_only_what_did_not_finish(finished, in_process):
    """Last in this file: it retrains a run of the shared experiment."""
    archives = {run: (finished / run / "model.tar.gz").stat().st_mtime_ns for run in RUNS}
    # as if killed while training the last run: its folder holds no archive yet
    (finished / RUNS[-1] / "model.tar.gz").unlink()
    (finished / RUNS[-1] / "metrics.json").unlink()
    logged = in_process(finished)
    assert "5 runs planned, 4 already finished, 1 to train" in logged
    for run in RUNS[:-1]:
        assert (finished / run / "model.tar.gz").stat().st_mtime_ns == archives[run], run
    assert (finished / RUNS[-1] / "model.tar.gz").is_file()


def test_runs_whose_archives_were_deleted_keep_their_scores(finished, in_process, capsys):
    """
    After the test above (it changes the shared experiment): a finished run without its
    model.tar.gz is scored from its metrics.json, and trained again only when a run still to
    train starts from it.
    """
    stage1, animal, vehicle = RUNS[2], RUNS[3], RUNS[4]
    before = json.loads((finished / "results.json").read_text())["runs"]
    for run in RUNS:
        (finished / run / "model.tar.gz").unlink()
    metrics_times = {run: (finished / run / "metrics.json").stat().st_mtime_ns for run in RUNS}

    in_process(finished, "--dry-run")
    assert re.findall(r"\[scored\] (\S+)", capsys.readouterr().out) == RUNS
    logged = in_process(finished)
    assert "5 runs planned, 5 already finished, 0 to train" in logged
    assert json.loads((finished / "results.json").read_text())["runs"] == before
    with pytest.raises(
        ConfigurationError,
        match=r"has no intact model\.tar\.gz \(\S*model\.tar\.gz is missing; "
        r"deleted after training\?\)",
    ):
        in_process(finished, "--test-data", str(FIXTURES / "data/taxonomy/train"))

    # a stage 2 killed before its first checkpoint: its stage 1 is trained again for it, the
    # runs that have their scores are not
    (finished / vehicle / "metrics.json").unlink()
    logged = in_process(finished)
    assert "5 runs planned, 3 already finished, 2 to train" in logged
    for run in (stage1, vehicle):
        assert (finished / run / "model.tar.gz").is_file(), run
    for run in RUNS[:2] + [animal]:
        assert (finished / run / "metrics.json").stat().st_mtime_ns == metrics_times[run], run
        assert not (finished / run / "model.tar.gz").exists(), run
    after = json.loads((finished / "results.json").read_text())["runs"]
    assert [row for row in after if row["run"] != vehicle] == [
        row for row in before if row["run"] != vehicle
    ]

    # a scheduler's task (--only) does not retrain a stage 1 behind the back of its own task
    (finished / stage1 / "model.tar.gz").unlink()
    (finished / vehicle / "model.tar.gz").unlink()
    (finished / vehicle / "metrics.json").unlink()
    with pytest.raises(SystemExit):
        in_process(finished, "--only", vehicle)
    assert (
        f"{vehicle} starts from {stage1}, whose model.tar.gz was deleted" in capsys.readouterr().err
    )
