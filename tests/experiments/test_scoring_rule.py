"""One scoring rule for every method: pooled and per-domain runs are scored at their last epoch."""
import json

import pytest
from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments import ExperimentRunner, load_experiment
from tests.conftest import FIXTURE_DATA, TINY_BERT, TINY_ENVIRONMENT


def _experiment(tmp_path, **settings):
    content = {
        "name": "scoring",
        "task": "taxonomy",
        "domains": ["animal", "vehicle"],
        "data": {
            "train": str(FIXTURE_DATA / "taxonomy" / "train"),
            "dev": str(FIXTURE_DATA / "taxonomy" / "dev"),
        },
        "encoder": TINY_BERT,
        "methods": ["bert_s", "bert_mix"],
        "seeds": [13],
        # three epochs that move the tiny model, so that the epochs' scores differ
        "stage2": {"epochs": 3, "lr": 5e-3, "batch_size": 4},
        **settings,
    }
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(content))
    return load_experiment(str(path))


@pytest.fixture(scope="module")
def finished(tmp_path_factory):
    environment = pytest.MonkeyPatch()
    for name, value in TINY_ENVIRONMENT.items():
        environment.setenv(name, value)
    try:
        output = tmp_path_factory.mktemp("scoring")
        runner = ExperimentRunner(_experiment(output), output / "runs")
        for run in runner.runs:
            runner.train(run, in_process=True)
    finally:
        environment.undo()
    return runner


def _epoch_metrics(runner, row, epoch):
    return json.loads(
        (runner.run_dir(runner.find_run(row["run"])) / f"metrics_epoch_{epoch}.json").read_text()
    )


def test_pooled_and_per_domain_runs_are_scored_at_their_last_epoch(finished):
    rows = finished.score_rows()
    assert {(row["method"], row["domain"]) for row in rows} == {
        ("bert_s", "animal"),
        ("bert_s", "vehicle"),
        ("bert_mix", "animal"),
        ("bert_mix", "vehicle"),
    }
    for row in rows:
        assert row["epoch"] == 2  # the last of three epochs, for Mix as for the per-domain runs
        last = _epoch_metrics(finished, row, 2)
        assert row["dev"] == last[f"validation_accuracy_{row['domain']}"]
        # the run's best epoch is kept for reference only
        best = json.loads(
            (finished.run_dir(finished.find_run(row["run"])) / "metrics.json").read_text()
        )
        assert row["dev_at_best_epoch"] == best[f"best_validation_accuracy_{row['domain']}"]


def test_results_state_the_scoring_rule(finished, tmp_path):
    finished.write_results()
    markdown = (finished.output_dir / "results.md").read_text()
    assert "every run, pooled (BERT (Mix)) or per domain" in markdown
    content = json.loads((finished.output_dir / "results.json").read_text())
    assert content["experiment"]["checkpoint"] == "last"


def test_best_epoch_rule_reads_each_runs_best_epoch(finished, tmp_path):
    runner = ExperimentRunner(_experiment(tmp_path, checkpoint="best"), finished.output_dir)
    for row in runner.score_rows():
        metrics = json.loads(
            (runner.run_dir(runner.find_run(row["run"])) / "metrics.json").read_text()
        )
        assert row["dev"] == metrics[f"best_validation_accuracy_{row['domain']}"]


@pytest.mark.usefixtures("tiny_env")
def test_validating_the_last_epoch_only_gives_the_same_scores(finished, tmp_path):
    runner = ExperimentRunner(_experiment(tmp_path, validate="last_epoch"), tmp_path / "runs")
    for run in runner.runs:
        runner.train(run, in_process=True)
    rows = {(row["method"], row["domain"]): row for row in runner.score_rows()}
    for every_epoch in finished.score_rows():
        row = rows[(every_epoch["method"], every_epoch["domain"])]
        # the same model (skipping validation leaves training as it was), scored alike
        assert (row["dev"], row["epoch"]) == (every_epoch["dev"], every_epoch["epoch"])
        assert row["dev_at_best_epoch"] is None  # no best epoch without every epoch's score
        assert "validation_accuracy" not in _epoch_metrics(runner, row, 1)
        config = json.loads(
            (runner.run_dir(runner.find_run(row["run"])) / "config.json").read_text()
        )
        assert {"type": "mft_keep_last_epoch", "validate_every_epoch": False} in config["trainer"][
            "callbacks"
        ]
    runner.write_results()
    content = json.loads((runner.output_dir / "results.json").read_text())
    assert content["experiment"]["validate"] == "last_epoch"


def test_validate_setting_is_checked(tmp_path):
    with pytest.raises(ConfigurationError, match="validate must be one of"):
        _experiment(tmp_path, validate="sometimes")
    with pytest.raises(ConfigurationError, match="validate: 'last_epoch' needs checkpoint: 'last'"):
        _experiment(tmp_path, validate="last_epoch", checkpoint="best")
