"""
The scoring rule: the rows of results.json that a finished run gives (docs/experiments.md,
"Scoring"), read from the files its training and evaluation left behind.

The runner (runner.py) trains and evaluates, and says where each run's files are (`RunFiles`);
this module only reads them. A row has the method, seed, domain, sweep value and setting it
belongs to, the dev figure the experiment scores, the test figure of the same model, the epoch
it comes from and `dev_at_best_epoch` for reference; report.py averages the rows into tables.
"""
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional

from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments.plan import Run
from mft_plugin.experiments.spec import STAGE1_SETTING, ZERO_SHOT, Experiment, has_zero_shot

Row = Dict[str, Any]


@dataclass
class RunFiles:
    """The files of one finished run that its scores come from."""

    metrics: Path  # metrics.json of its training
    test_metrics: Optional[Path] = None  # its evaluation on the experiment's test data, if any
    # a transfer experiment's stage 1: {split: its zero-shot scores on the held-out domain}
    zero_shot: Dict[str, Path] = field(default_factory=dict)


def run_scores(experiment: Experiment, run: Run, files: RunFiles) -> List[Row]:
    """
    The metric of each domain a finished evaluation run covers, on dev (and test), by the
    experiment's scoring rule: the kept epoch's dev figures (`checkpoint: last`, the last
    epoch's `validation_*`; `best`, AllenNLP's `best_validation_*`), and the test figures of
    the kept model. `dev_at_best_epoch`, the dev score of each run's best epoch, is kept for
    reference (None where the experiment validates the last epoch only). A row's `setting`
    is None for a method's plain result; `stage1` for a stage-1 model scored on its own
    (`stage1_scores`); in a transfer experiment `zero-shot` for a stage-1 model scored on
    the held-out domain, and `shots=N` or `shots=all` for the runs on it.
    """
    if run.is_stage1:
        if run.held_out is not None:
            return zero_shot_scores(experiment, run, files)
        if experiment.stage1_scores:
            return training_scores(experiment, run, files, experiment.domains, STAGE1_SETTING)
        return []
    domains = [run.domain] if run.domain else experiment.domains
    return training_scores(experiment, run, files, domains, run.setting)


def training_scores(
    experiment: Experiment,
    run: Run,
    files: RunFiles,
    domains: List[str],
    setting: Optional[str],
) -> List[Row]:
    """The rows of `run` on each of `domains`: dev from its training, test from its evaluation."""
    metric = experiment.metric
    trained = trained_metrics(experiment, files.metrics)
    scored = "validation" if experiment.checkpoint == "last" else "best_validation"
    test_path = files.test_metrics
    tested = json.loads(test_path.read_text()) if test_path and test_path.is_file() else {}
    rows: List[Row] = []
    for domain in domains:
        dev = trained.get(f"{scored}_{metric}_{domain}")
        if dev is None:
            raise ConfigurationError(
                f"{files.metrics} has no {scored}_{metric}_{domain}; "
                f"is {domain!r} a domain of the dev data?"
            )
        # a run validated at its last epoch only has no best epoch
        at_best = (
            trained.get(f"best_validation_{metric}_{domain}")
            if experiment.validate == "every_epoch"
            else None
        )
        rows += _rows(run, trained, domain, setting, dev, tested.get(f"{metric}_{domain}"), at_best)
    return rows


def trained_metrics(experiment: Experiment, metrics_file: Path) -> Dict[str, Any]:
    """
    A run's metrics.json, if the run kept the model that the experiment's scoring rule
    scores: a run that kept its best epoch (no `kept_epoch`) under `checkpoint: last` is an
    error, whether its figures of training are read or its archive is evaluated.
    """
    trained = json.loads(metrics_file.read_text())
    if experiment.checkpoint == "last" and "kept_epoch" not in trained:
        raise ConfigurationError(
            f"{metrics_file} has no kept_epoch: the run kept its best epoch, but the "
            "experiment scores the last (checkpoint: last). Delete the run folder to train it "
            "again, or set checkpoint: 'best'."
        )
    return trained


def zero_shot_scores(experiment: Experiment, run: Run, files: RunFiles) -> List[Row]:
    """
    The rows of a transfer experiment's stage-1 run: the zero-shot scores of its archive
    (the model the scoring rule keeps) on the held-out domain.
    """
    if not has_zero_shot(run.method):
        return []
    trained = trained_metrics(experiment, files.metrics)
    figures = {}
    for split, path in files.zero_shot.items():
        if not path.is_file():
            continue
        metrics = json.loads(path.read_text())
        if experiment.metric not in metrics:
            raise ConfigurationError(
                f"{path} has no {experiment.metric!r}; the evaluation reported "
                f"{sorted(metrics)}"
            )
        figures[split] = metrics[experiment.metric]
    if "dev" not in figures:
        return []
    assert run.held_out is not None  # a transfer experiment's stage 1
    return _rows(run, trained, run.held_out, ZERO_SHOT, figures["dev"], figures.get("test"), None)


def _rows(
    run: Run,
    trained: Dict[str, Any],
    domain: str,
    setting: Optional[str],
    dev: float,
    test: Optional[float],
    dev_at_best_epoch: Optional[float],
) -> List[Row]:
    """One row per sweep value the run gives results for, with the epoch of the kept model."""
    return [
        {
            "method": run.method,
            "seed": run.seed,
            "domain": domain,
            "sweep_value": value,
            "setting": setting,
            "dev": dev,
            "test": test,
            "epoch": trained.get("kept_epoch", trained.get("best_epoch")),
            "dev_at_best_epoch": dev_at_best_epoch,
            "run": run.run_id,
        }
        for value in run.sweep_values
    ]
