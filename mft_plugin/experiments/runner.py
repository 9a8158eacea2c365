"""
Running an experiment's plan: every run an ordinary `allennlp train` in its own folder, finished
runs skipped, interrupted ones resumed with `--recover`, then every model scored per domain.

Layout of the output directory:

    OUT/<method>/<default | parameter=value>/seed-<s>/<stage1 | mix | domain>/   serialization dirs
    OUT/configs/<run id>.json                                                   their configs
    OUT/logs/<run id>.log                                                       their output
    OUT/results.json, results.md, results.png
"""
import json
import logging
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

import _jsonnet
from allennlp.common import Params, Tqdm
from allennlp.common.checks import ConfigurationError
from allennlp.common.params import with_overrides

from mft_plugin.experiments.plan import Experiment, Run, canonical_json, plan_runs, short_hash
from mft_plugin.experiments.report import write_results
from mft_plugin.settings import training_configs_dir

logger = logging.getLogger(__name__)

# Checkpoints are only needed to resume; a finished run keeps its model.tar.gz.
CHECKPOINT_PATTERNS = ("model_state_e*.th", "training_state_e*.th", "best.th")


class RunFailed(RuntimeError):
    pass


class ExperimentRunner:
    """
    Runs the planned runs of `experiment` under `output_dir`.

    # Parameters

    experiment : `Experiment`
    output_dir : `Path`
    configs_dir : `Path`, optional
        The folder holding `experiment.libsonnet` (default: the project's `training_configs`).
    keep_checkpoints : `bool`, optional (default = `False`)
        Keep the checkpoints of finished runs (by default only `model.tar.gz` stays).
    """

    def __init__(
        self,
        experiment: Experiment,
        output_dir: Path,
        configs_dir: Optional[Path] = None,
        keep_checkpoints: bool = False,
    ) -> None:
        self.experiment = experiment
        self.output_dir = Path(output_dir).resolve()
        self.configs_dir = Path(configs_dir or training_configs_dir())
        if not (self.configs_dir / "experiment.libsonnet").is_file():
            raise ConfigurationError(
                f"{self.configs_dir} holds no experiment.libsonnet; pass the project's training_configs."
            )
        self.keep_checkpoints = keep_checkpoints
        self.runs = plan_runs(experiment)

    # ----------------------------------------------------------------------------------------
    # Configs
    def run_dir(self, run: Run) -> Path:
        return self.output_dir / run.run_id

    def config_for(self, run: Run) -> Dict[str, Any]:
        """The AllenNLP config of a run: experiment.libsonnet's run(spec), then the overrides."""
        spec = dict(run.spec)
        if spec["stage1_archive"]:
            spec["stage1_archive"] = str(self.output_dir / spec["stage1_archive"])
        for split in ("train", "dev"):
            spec[split] = str(Path(spec[split]).resolve())
        snippet = "(import 'experiment.libsonnet').run(std.parseJson(std.extVar('MFT_RUN_SPEC')))"
        ext_vars = {
            "MFT_RUN_SPEC": json.dumps(spec),
            "MFT_ENCODER": self.experiment.encoder,
            # Only read by configs that the runner does not use; jsonnet needs them set.
            "MFT_DATA_DIR": os.environ.get("MFT_DATA_DIR", ""),
            "MFT_SEED": str(run.seed),
            "MFT_SKIP_LAYERS": "auto",
            "MFT_BF16": "true" if self.experiment.bf16 else "false",
            "MFT_DOMAIN": run.domain or "",
            "MFT_STAGE1": spec["stage1_archive"] or "",
        }
        config = json.loads(
            _jsonnet.evaluate_snippet(
                "experiment", snippet, jpathdir=[str(self.configs_dir)], ext_vars=ext_vars
            )
        )
        if self.experiment.overrides:
            config = with_overrides(config, self.experiment.overrides)
        return config

    def config_path(self, run: Run) -> Path:
        return self.output_dir / "configs" / (run.run_id.replace("/", "__") + ".json")

    def log_path(self, run: Run) -> Path:
        return self.output_dir / "logs" / (run.run_id.replace("/", "__") + ".log")

    # ----------------------------------------------------------------------------------------
    # State
    def status(self, run: Run) -> str:
        """`done`, `resume` (checkpoints to recover from) or `new`."""
        directory = self.run_dir(run)
        if (directory / "model.tar.gz").is_file() and (directory / "metrics.json").is_file():
            return "done"
        if list(directory.glob("model_state_e*.th")):
            return "resume"
        return "new"

    def check_unchanged(self, run: Run, config: Dict[str, Any]) -> None:
        """A run trained with other settings is an error, not silently reused."""
        saved = self.run_dir(run) / "config.json"
        if saved.is_file():
            previous = Params.from_file(str(saved)).as_dict(quiet=True)
            if canonical_json(previous) != canonical_json(config):
                raise ConfigurationError(
                    f"{self.run_dir(run)} was trained with other settings than the experiment now "
                    f"asks for (compare {saved} with {self.config_path(run)}). Delete the run folder "
                    "to train it again, or use another output directory."
                )

    # ----------------------------------------------------------------------------------------
    # Running
    def dry_run(self) -> List[str]:
        lines = []
        for index, run in enumerate(self.runs, start=1):
            lines.append(f"{index:3d}. [{self.status(run):6s}] {run.run_id}  ({run.describe()})")
        return lines

    def run_all(self) -> None:
        (self.output_dir / "configs").mkdir(parents=True, exist_ok=True)
        (self.output_dir / "logs").mkdir(parents=True, exist_ok=True)
        pending = [run for run in self.runs if self.status(run) != "done"]
        logger.info(
            "%d runs planned, %d already finished, %d to train",
            len(self.runs),
            len(self.runs) - len(pending),
            len(pending),
        )
        for run in self.runs:
            config = self.config_for(run)
            self.check_unchanged(run, config)
        progress = Tqdm.tqdm(
            total=len(self.runs), initial=len(self.runs) - len(pending), desc="runs"
        )
        for run in pending:
            progress.set_description(run.run_id)
            self.train(run)
            self.evaluate(run)
            self.write_results()  # partial results survive an interruption
            progress.update(1)
        progress.close()
        for run in self.runs:
            self.evaluate(run)
        self.write_results()

    def write_results(self) -> Dict[str, Any]:
        return write_results(self.experiment, self.collect(), self.output_dir)

    def train(self, run: Run) -> None:
        status = self.status(run)
        if status == "done":
            return
        if run.depends_on is not None:
            parent = next(r for r in self.runs if r.run_id == run.depends_on)
            if self.status(parent) != "done":
                raise RunFailed(f"{run.run_id} needs {parent.run_id}, which has not finished")
        config = self.config_for(run)
        config_file = self.config_path(run)
        config_file.write_text(json.dumps(config, indent=2))
        directory = self.run_dir(run)
        command = [
            sys.executable,
            "-m",
            "allennlp",
            "train",
            str(config_file),
            "-s",
            str(directory),
        ]
        if status == "resume":
            command.append("--recover")
        elif directory.exists():
            shutil.rmtree(directory)  # an attempt that died before its first checkpoint
        directory.parent.mkdir(parents=True, exist_ok=True)
        logger.info(
            "Training %s (%s)%s",
            run.run_id,
            run.describe(),
            ", resuming" if status == "resume" else "",
        )
        start = time.time()
        with open(self.log_path(run), "a", encoding="utf-8") as log:
            log.write(f"\n$ {' '.join(command)}\n")
            log.flush()
            result = subprocess.run(command, stdout=log, stderr=subprocess.STDOUT)
        if result.returncode != 0:
            raise RunFailed(
                f"Training {run.run_id} failed (exit code {result.returncode}); see {self.log_path(run)}. "
                "Run the same command again to resume the experiment."
            )
        logger.info("Finished %s in %.0fs", run.run_id, time.time() - start)
        if not self.keep_checkpoints:
            for pattern in CHECKPOINT_PATTERNS:
                for checkpoint in directory.glob(pattern):
                    checkpoint.unlink()

    # ----------------------------------------------------------------------------------------
    # Scores
    def test_metrics_path(self, run: Run) -> Optional[Path]:
        test = self.experiment.data.get("test")
        if not test:
            return None
        return self.run_dir(run) / f"test-metrics-{short_hash(str(Path(test).resolve()))}.json"

    def evaluate(self, run: Run) -> None:
        """Score a finished run on the test data (once per test path), if there is one."""
        path = self.test_metrics_path(run)
        if path is None or path.is_file() or run.is_stage1 or self.status(run) != "done":
            return
        from allennlp.commands.evaluate import evaluate_from_archive

        test = str(Path(self.experiment.data["test"]).resolve())
        logger.info("Evaluating %s on %s", run.run_id, test)
        metrics = evaluate_from_archive(str(self.run_dir(run) / "model.tar.gz"), test)
        metrics["test_data_path"] = test
        path.write_text(json.dumps(metrics, indent=2))

    def scores(self, run: Run) -> List[Dict[str, Any]]:
        """The metric of each domain a finished evaluation run covers, on dev (and test)."""
        if run.is_stage1 or self.status(run) != "done":
            return []
        metric = self.experiment.metric
        trained = json.loads((self.run_dir(run) / "metrics.json").read_text())
        test_path = self.test_metrics_path(run)
        tested = json.loads(test_path.read_text()) if test_path and test_path.is_file() else {}
        domains = [run.domain] if run.domain else self.experiment.domains
        rows = []
        for domain in domains:
            dev = trained.get(f"best_validation_{metric}_{domain}")
            if dev is None:
                raise ConfigurationError(
                    f"{self.run_dir(run) / 'metrics.json'} has no best_validation_{metric}_{domain}; "
                    f"is {domain!r} a domain of the dev data?"
                )
            test = tested.get(f"{metric}_{domain}")
            for value in run.sweep_values:
                rows.append(
                    {
                        "method": run.method,
                        "seed": run.seed,
                        "domain": domain,
                        "sweep_value": value,
                        "dev": dev,
                        "test": test,
                        "run": run.run_id,
                    }
                )
        return rows

    def collect(self) -> List[Dict[str, Any]]:
        return [row for run in self.runs for row in self.scores(run)]
