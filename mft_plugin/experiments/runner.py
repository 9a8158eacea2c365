"""
Running an experiment's plan: every run an ordinary `allennlp train` in its own folder, finished
runs skipped, interrupted ones resumed with `--recover`, then every model scored per domain.

The runs go one after another (`run_all`), or one per process (`run_one`, what the commands
that `mft_plugin.experiments.export` writes for a scheduler run), after which `collect_results`
scores whatever has finished (by the scoring rule of scoring.py, from the files each run left).

A finished run needs its `model.tar.gz` only while a run still to train starts from it (a
stage 2 from its stage 1) or an evaluation is still to come: a run whose archive was deleted
after training (to save disk, or a run folder restored from its small files alone) keeps its
scores through `metrics.json` and the evaluation files beside it, and is trained again only
when a run that starts from it has not finished.

Layout of the output directory:

    OUT/<method>/<default | parameter=value>/seed-<s>/<stage1 | mix | domain>/   serialization dirs
    OUT/transfer-<d>/<method>/<default | parameter=value>/seed-<s>/<stage1 | shots=N | shots=all>/
                                          the same, of a transfer experiment with held-out domain d;
                                          stage1/ also holds zero-shot-<d>.json, its score on d
    OUT/configs/<run id>.json                                                   their configs
    OUT/logs/<run id>.log                                                       their output
    OUT/commands/                                                               see export.py
    OUT/results.json, results.md, results.png
"""
import copy
import errno
import json
import logging
import os
import re
import shutil
import tarfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple, Union

import _jsonnet
from allennlp.common import Params, Tqdm
from allennlp.common.checks import ConfigurationError
from allennlp.common.params import with_overrides
from allennlp.common.util import import_module_and_submodules

from mft_plugin.experiments.plan import Run, canonical_json, plan_runs, short_hash
from mft_plugin.experiments.spec import Experiment, has_zero_shot
from mft_plugin.experiments.locks import FolderLock, LockHeld  # noqa: F401
from mft_plugin.experiments.report import write_results
from mft_plugin.experiments.scoring import RunFiles, run_scores
from mft_plugin.experiments.training_process import allennlp_command, run_allennlp
from mft_plugin.settings import training_configs_dir

logger = logging.getLogger(__name__)

# Checkpoints are only needed to resume; a finished run keeps its model.tar.gz.
CHECKPOINT_PATTERNS = ("model_state_e*.th", "training_state_e*.th", "best.th")


class RunFailed(RuntimeError):
    pass


# The lines of a training log that say why it failed: a Python exception's last line.
ERROR_LINE = re.compile(r"^([\w.]*(Error|Exception|Interrupt)|OSError|MemoryError)\b.*", re.M)


def last_error(log_path: Path) -> Optional[str]:
    """The last exception line of a training log (a reader's names file:line), if any."""
    try:
        with open(log_path, "rb") as log:
            log.seek(max(0, log.seek(0, os.SEEK_END) - 200_000))
            tail = log.read().decode("utf-8", errors="replace")
    except OSError:
        return None
    lines = [match.group(0).strip() for match in ERROR_LINE.finditer(tail)]
    return lines[-1] if lines else None


def is_disk_full(message: Optional[str]) -> bool:
    if not message:
        return False
    return (
        "disk full" in message
        or "No space left on device" in message
        or f"[Errno {errno.ENOSPC}]" in message
        or "iostream error" in message
    )


NO_DECAY_REGEXES = ["bias", "(LayerNorm|layer_norm)\\.weight"]
OLD_NO_DECAY_REGEXES = [["bias", "LayerNorm\\.weight", "layer_norm\\.weight"]]
_ENCODER = "_text_field_embedder\\..*|_seq2seq_encoder\\..*|_seq2vec_encoder\\..*|_feedforward\\..*"
OLD_STAGE2_REGEXES = {
    "_text_field_embedder\\..*|_label_classifier\\..*": _ENCODER + "|_label_classifier\\..*",
    "_text_field_embedder\\..*": _ENCODER,
}


def comparable_config(config: Dict[str, Any], dev_domains: Optional[List[str]]) -> Dict[str, Any]:
    """
    A run's config without what does not change its numbers, for comparing a finished run's
    config with the one the experiment asks for: the console logger without its input dump,
    the `mft_transformer` collator (the same batches as AllenNLP's),
    regexes rewritten with the same matches, the checkpointer's `type` (atomic writes,
    `mft_checkpointer`), and the reader's `domains` where they are every domain of the data
    (`dev_domains`, from the run's metrics; runs trained before the experiment's `domains`
    reached every run's reader read all of them).
    """
    config = copy.deepcopy(config)
    trainer = config.get("trainer") or {}
    # AllenNLP's console logger, listed to stop its dump of the first batch into the log.
    if isinstance(trainer.get("callbacks"), list):
        trainer["callbacks"] = [
            callback
            for callback in trainer["callbacks"]
            if not (isinstance(callback, dict) and callback.get("type") == "console_logger")
        ]
    # Regexes written anew with the same matches: the no-decay group as one alternation (it
    # no longer warns), and stage 2's encoder with the modules a basic_classifier-shaped model
    # section may add (none in a run of this plugin's configs before they could).
    for group in (trainer.get("optimizer") or {}).get("parameter_groups") or []:
        if isinstance(group, list) and group and group[0] in OLD_NO_DECAY_REGEXES:
            group[0] = NO_DECAY_REGEXES
    for rule in ((config.get("model") or {}).get("initializer") or {}).get("regexes") or []:
        if isinstance(rule, list) and rule and rule[0] in OLD_STAGE2_REGEXES:
            rule[0] = OLD_STAGE2_REGEXES[rule[0]]
    # The collator that pads each key at once: the same tensors as AllenNLP's default.
    for section in ("data_loader", "validation_data_loader"):
        loader = config.get(section)
        if isinstance(loader, dict) and loader.get("collate_fn") == {"type": "mft_transformer"}:
            loader.pop("collate_fn")
    checkpointer = trainer.get("checkpointer")
    if isinstance(checkpointer, dict) and checkpointer.get("type") in (
        "default",
        "mft_checkpointer",
    ):
        checkpointer.pop("type")
    for section in ("dataset_reader", "validation_dataset_reader"):
        reader = config.get(section)
        if (
            isinstance(reader, dict)
            and dev_domains is not None
            and reader.get("domains") is not None
            and sorted(reader["domains"]) == sorted(dev_domains)
        ):
            reader.pop("domains")
    return config


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
        # The user's components (their reader, say): registered here, for the evaluations this
        # process runs, and named to every run's `allennlp train` with --include-package.
        for package in experiment.include_package:
            import_module_and_submodules(package)
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
            spec[split] = resolved_data_path(spec[split])
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
            "MFT_KEEP_EPOCH": self.experiment.checkpoint,
        }
        config = json.loads(
            _jsonnet.evaluate_snippet(
                "experiment", snippet, jpathdir=[str(self.configs_dir)], ext_vars=ext_vars
            )
        )
        if self.experiment.overrides:
            config = with_overrides(config, self.experiment.overrides)
        num_nodes = (config.get("distributed") or {}).get("num_nodes", 1)
        if num_nodes != 1:
            raise ConfigurationError(
                f"{self.experiment.name}: the overrides set distributed.num_nodes = {num_nodes}, "
                "but mft-experiment trains a run on one node (several GPUs there are fine). "
                "Train a multi-node run with `allennlp train CONFIG -s DIR --node-rank N` on "
                "every node; see training_configs/distributed.libsonnet."
            )
        return config

    def write_config(self, run: Run) -> Dict[str, Any]:
        """Write the run's config to `config_path(run)`, the file its training reads."""
        config = self.config_for(run)
        self.config_path(run).parent.mkdir(parents=True, exist_ok=True)
        self.config_path(run).write_text(json.dumps(config, indent=2))
        return config

    def config_path(self, run: Run) -> Path:
        return self.output_dir / "configs" / (run.run_id.replace("/", "__") + ".json")

    def log_path(self, run: Run) -> Path:
        return self.output_dir / "logs" / (run.run_id.replace("/", "__") + ".log")

    def find_run(self, run_id: str) -> Run:
        for run in self.runs:
            if run.run_id == run_id:
                return run
        raise ConfigurationError(
            f"{self.experiment.name} plans no run {run_id!r}; its runs are: "
            + ", ".join(run.run_id for run in self.runs)
        )

    # ----------------------------------------------------------------------------------------
    # State
    def status(self, run: Run) -> str:
        """
        `done` (its metrics and an archive that opens), `rebuild` (its metrics and the files of
        its archive, `best.th` among them, but no archive that opens: killed or out of disk
        while archiving), `resume` (checkpoints to recover from), `scored` (finished, its
        archive deleted since: the metrics without `model.tar.gz` or checkpoints) or `new`. The
        metrics count only with the figures that score the run (`metrics_problem`).
        """
        directory = self.run_dir(run)
        has_metrics = self.metrics_problem(run) is None
        if has_metrics and self.archive_problem(run) is None:
            return "done"
        if has_metrics and all(
            (directory / name).exists() for name in ("best.th", "config.json", "vocabulary")
        ):
            return "rebuild"
        if list(directory.glob("model_state_e*.th")):
            # also a run killed between writing metrics.json and its archive
            return "resume"
        return "scored" if has_metrics else "new"

    def metrics_problem(self, run: Run) -> Optional[str]:
        """
        What keeps the run's metrics.json from scoring it (None when nothing does): missing,
        unreadable, or without the dev figures of the experiment's scoring rule (overall, and
        of the run's domain), as `--recover` of a finished run leaves it.
        """
        path = self.run_dir(run) / "metrics.json"
        if not path.is_file():
            return f"{path} is missing"
        try:
            metrics = json.loads(path.read_text())
        except (OSError, ValueError) as error:
            return f"{path} does not read as JSON ({error})"
        if not isinstance(metrics, dict):
            return f"{path} holds no metrics"
        scored = "validation" if self.experiment.checkpoint == "last" else "best_validation"
        wanted = [f"{scored}_{self.experiment.metric}"]
        if run.domain and not run.is_stage1:
            wanted.append(f"{scored}_{self.experiment.metric}_{run.domain}")
        missing = [key for key in wanted if key not in metrics]
        if missing:
            return f"{path} lacks {', '.join(missing)}"
        return None

    def archive_problem(self, run: Run) -> Optional[str]:
        """
        What is wrong with the run's model.tar.gz (None when nothing is): missing, or not a
        whole archive with weights, config and vocabulary (read to its end, so a truncated one
        fails). Remembered per (size, modification time), since a run's status is asked often.
        """
        path = self.run_dir(run) / "model.tar.gz"
        try:
            stat = path.stat()
        except OSError:
            return f"{path} is missing"
        key = (str(path), stat.st_size, stat.st_mtime_ns)
        if key not in _ARCHIVE_CHECKS:
            _ARCHIVE_CHECKS[key] = _check_archive(path)
        return _ARCHIVE_CHECKS[key]

    def finished(self, run: Run) -> bool:
        """Whether the run has its scores (`done` or `scored`)."""
        return self.status(run) in ("done", "scored")

    def needs_training(self, run: Run) -> bool:
        """
        A run is trained unless it has finished and, where its archive was deleted (`scored`),
        no run still to train starts from it.
        """
        status = self.status(run)
        if status == "done":
            return False
        if status == "scored":
            return any(
                self.needs_training(child) for child in self.runs if child.depends_on == run.run_id
            )
        return True

    def dev_domains(self, run: Run) -> Optional[List[str]]:
        """The domains of the dev figures in the run's metrics.json (None without the file)."""
        try:
            metrics = json.loads((self.run_dir(run) / "metrics.json").read_text())
        except (OSError, ValueError):
            return None
        prefix = f"validation_{self.experiment.metric}_"
        return sorted(key[len(prefix) :] for key in metrics if key.startswith(prefix))

    def same_config(self, run: Run, previous: Dict[str, Any], config: Dict[str, Any]) -> bool:
        """Whether `previous` trains what `config` does (see `comparable_config`)."""
        domains = self.dev_domains(run)
        return canonical_json(comparable_config(previous, domains)) == canonical_json(
            comparable_config(config, domains)
        )

    def check_unchanged(self, run: Run, config: Dict[str, Any]) -> None:
        """A run trained with other settings is an error, not silently reused."""
        saved = self.run_dir(run) / "config.json"
        if saved.is_file():
            previous = Params.from_file(str(saved)).as_dict(quiet=True)
            if not self.same_config(run, previous, config):
                raise ConfigurationError(
                    f"{self.run_dir(run)} was trained with other settings than the experiment now "
                    f"asks for (compare {saved} with {self.config_path(run)}). Delete the run folder "
                    "to train it again, or use another output directory."
                )

    def check_exported(self, run: Run, config: Dict[str, Any]) -> None:
        """
        A task of an export trains the config that was exported: an experiment file, overrides
        or environment (MFT_ENCODER, MFT_DATA_DIR, ...) changed since is an error.
        """
        exported = self.config_path(run)
        if exported.is_file():
            if not self.same_config(run, json.loads(exported.read_text()), config):
                raise ConfigurationError(
                    f"{exported} was exported with other settings than the experiment gives now "
                    "(a changed experiment file, -o overrides, or environment variables such as "
                    "MFT_ENCODER and MFT_DATA_DIR). Export the commands again, or run the task "
                    "with the settings of the export."
                )

    def unfinished(self) -> List[Run]:
        """The runs still to train, in the plan's order (a stage 1 before the runs from it)."""
        return [run for run in self.runs if self.needs_training(run)]

    # ----------------------------------------------------------------------------------------
    # Running
    def dry_run(self) -> List[str]:
        lines = []
        for index, run in enumerate(self.runs, start=1):
            lines.append(f"{index:3d}. [{self.status(run):6s}] {run.run_id}  ({run.describe()})")
        return lines

    def make_folders(self) -> None:
        (self.output_dir / "configs").mkdir(parents=True, exist_ok=True)
        (self.output_dir / "logs").mkdir(parents=True, exist_ok=True)

    def folder_lock(self, shared: bool = False) -> FolderLock:
        """
        The lock of the output folder: `run_all` holds it alone, the `run_one` tasks of an
        export share it (each locks its own run too, `run_lock`).
        """
        return FolderLock(
            self.output_dir / "locks" / "experiment.lock",
            f"The output folder {self.output_dir}",
            shared=shared,
        )

    def run_lock(self, run: Run) -> FolderLock:
        return FolderLock(
            self.output_dir / "locks" / (run.run_id.replace("/", "__") + ".lock"),
            f"The run {self.run_dir(run)}",
        )

    def run_all(self) -> None:
        with self.folder_lock():
            self._run_all()

    def _run_all(self) -> None:
        self.make_folders()
        pending = self.unfinished()
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

    def run_one(self, run_id: str) -> None:
        """
        Train the run `run_id` in this process, as a scheduler's task does: a finished run is
        skipped, an interrupted one resumed, a stage-2 run refused until its stage 1 has
        finished. Writes no results, since other tasks may be running; `collect_results` does.
        """
        run = self.find_run(run_id)
        self.make_folders()
        config = self.config_for(run)
        self.check_exported(run, config)
        self.check_unchanged(run, config)
        if run.depends_on is not None:
            parent = self.find_run(run.depends_on)
            self.check_unchanged(parent, self.config_for(parent))
        with self.folder_lock(shared=True):
            if not self.needs_training(run):
                logger.info("%s has finished already: nothing to train", run_id)
            self.train(run, in_process=True)
            self.evaluate(run)

    def collect_results(self) -> List[Run]:
        """
        Score every finished run (on the test data too, if any) and write the results, training
        nothing; returns the runs that have not finished.
        """
        if not self.output_dir.is_dir():
            raise ConfigurationError(f"Nothing to collect: {self.output_dir} does not exist.")
        for run in self.runs:
            if self.finished(run):
                self.check_unchanged(run, self.config_for(run))
                self.evaluate(run)
        self.write_results()
        return self.unfinished()

    def write_results(self) -> Dict[str, Any]:
        missing = [run.run_id for run in self.unfinished()]
        return write_results(self.experiment, self.score_rows(), self.output_dir, missing)

    def train(self, run: Run, in_process: bool = False) -> None:
        """
        Train `run` unless it has finished: in a child process that logs to `log_path(run)`
        (one process a run, whatever the runs before it left behind; forked from a server that
        has imported AllenNLP, see `training_process`), or `in_process`, logging to this
        process's output (a process that trains one run only). A run whose archive is missing
        or broken while its metrics and weights are whole (`rebuild`) is archived again, not
        trained; the run is locked meanwhile (`run_lock`).
        """
        if not self.needs_training(run):
            return
        with self.run_lock(run):
            self._train(run, in_process)

    def _train(self, run: Run, in_process: bool) -> None:
        status = self.status(run)
        if run.depends_on is not None:
            parent = self.find_run(run.depends_on)
            parent_status = self.status(parent)
            if parent_status == "scored":
                raise RunFailed(
                    f"{run.run_id} starts from {parent.run_id}, whose model.tar.gz was deleted "
                    "after training (or is broken, with no weights to rebuild it from): train "
                    "that run again first."
                )
            if parent_status != "done":
                raise RunFailed(f"{run.run_id} needs {parent.run_id}, which has not finished")
        directory = self.run_dir(run)
        if status == "rebuild":
            self.rebuild_archive(run)
            self.remove_checkpoints(run)
            return
        config_file = self.config_path(run)
        self.write_config(run)
        if status != "resume" and directory.exists():
            # an attempt that died before its first checkpoint, or a run whose archive was
            # deleted, trained again for the runs that start from it
            shutil.rmtree(directory)
        directory.parent.mkdir(parents=True, exist_ok=True)
        # --recover of a run that had finished training rewrites metrics.json without its
        # dev figures (no epoch left to validate): the complete file is put back afterwards
        finished_metrics = None
        if status == "resume" and self.metrics_problem(run) is None:
            finished_metrics = (directory / "metrics.json").read_text()
        logger.info(
            "Training %s (%s)%s",
            run.run_id,
            run.describe(),
            ", resuming" if status == "resume" else "",
        )
        start = time.time()
        try:
            if in_process:
                from allennlp.commands.train import train_model_from_file

                train_model_from_file(
                    str(config_file), str(directory), recover=status == "resume", return_model=False
                )
            else:
                args = ["train", str(config_file), "-s", str(directory)]
                # The plugin itself too: outside this clone no `.allennlp_plugins` names it.
                for package in ["mft_plugin.plugin", *self.experiment.include_package]:
                    args += ["--include-package", package]
                if status == "resume":
                    args.append("--recover")
                try:
                    with open(self.log_path(run), "a", encoding="utf-8") as log:
                        log.write(f"\n$ {' '.join(allennlp_command(args))}\n")
                except OSError as error:
                    raise self.failure(run, f"{type(error).__name__}: {error}") from error
                returncode = run_allennlp(args, self.log_path(run))
                if returncode != 0:
                    raise self.failure(run, last_error(self.log_path(run)), returncode)
        finally:
            if finished_metrics is not None and self.metrics_problem(run) is not None:
                _write_atomically(directory / "metrics.json", finished_metrics)
        problem = self.metrics_problem(run) or self.archive_problem(run)
        if problem is not None:
            raise RunFailed(f"Training {run.run_id} ended, but {problem}.")
        logger.info("Finished %s in %.0fs", run.run_id, time.time() - start)
        self.remove_checkpoints(run)

    def failure(
        self, run: Run, error: Optional[str], returncode: Optional[int] = None
    ) -> RunFailed:
        """The `RunFailed` of a run whose training failed with the log line `error`."""
        log = self.log_path(run)
        code = f" (exit code {returncode})" if returncode is not None else ""
        if is_disk_full(error):
            return RunFailed(
                f"Training {run.run_id} stopped: disk full ({error}). Nothing written before is "
                f"lost: free space on the disk of {self.output_dir} and run the same command "
                f"again to resume the experiment. Full output: {log}"
            )
        said = f":\n  {error}\n" if error else "; "
        return RunFailed(
            f"Training {run.run_id} failed{code}{said}Full output: {log}. Run the same command "
            "again to resume the experiment."
        )

    def rebuild_archive(self, run: Run) -> None:
        """model.tar.gz again from the run's best.th, config and vocabulary (no training)."""
        from allennlp.models.archival import archive_model

        directory = self.run_dir(run)
        logger.info(
            "%s: rebuilding model.tar.gz from best.th (%s)", run.run_id, self.archive_problem(run)
        )
        archive = directory / "model.tar.gz"
        temporary = directory / "model.tar.gz.tmp"
        try:
            archive_model(str(directory), archive_path=str(temporary))
            os.replace(temporary, archive)
        except OSError as error:
            if temporary.exists():
                temporary.unlink()
            if error.errno == errno.ENOSPC:
                raise RunFailed(
                    f"Archiving {run.run_id} stopped: disk full writing {temporary}. Free space "
                    "and run the same command again."
                ) from error
            raise
        problem = self.archive_problem(run)
        if problem is not None:
            raise RunFailed(f"Rebuilding the archive of {run.run_id} failed: {problem}")

    def remove_checkpoints(self, run: Run) -> None:
        if not self.keep_checkpoints:
            for pattern in CHECKPOINT_PATTERNS:
                for checkpoint in self.run_dir(run).glob(pattern):
                    checkpoint.unlink()

    # ----------------------------------------------------------------------------------------
    # Scores
    def test_metrics_path(self, run: Run) -> Optional[Path]:
        test = self.experiment.data.get("test")
        if not test:
            return None
        return self.run_dir(run) / f"test-metrics-{short_hash(data_path_text(test))}.json"

    def evaluate(self, run: Run) -> None:
        """
        Score a finished run where its figures of training do not do: on the test data (once
        per test path), if there is one; a transfer experiment's stage-1 model on the held-out
        domain (`evaluate_zero_shot`).
        """
        if not self.finished(run):
            return
        if run.is_stage1:
            if run.held_out is not None:
                self.evaluate_zero_shot(run)
                return
            if not self.experiment.stage1_scores:
                return
        path = self.test_metrics_path(run)
        if path is None or path.is_file():
            return
        from allennlp.commands.evaluate import evaluate_from_archive

        test_data = self.experiment.data["test"]
        assert test_data is not None  # else there is no test metrics path
        test = data_path_text(test_data)
        archive = self.archive_to_evaluate(run, path)
        logger.info("Evaluating %s on %s", run.run_id, test)
        metrics = evaluate_from_archive(archive, test)
        metrics["test_data_path"] = test
        path.write_text(json.dumps(metrics, indent=2))

    def archive_to_evaluate(self, run: Run, scores_file: Path) -> str:
        """
        The run's model.tar.gz, for an evaluation that writes `scores_file`; a run whose archive
        was deleted (`scored`) is an error rather than trained again, since a new model would not
        be the one its dev scores come from.
        """
        archive = self.run_dir(run) / "model.tar.gz"
        problem = self.archive_problem(run)
        if problem is not None:
            raise ConfigurationError(
                f"{self.run_dir(run)} has no intact model.tar.gz ({problem}; deleted after "
                f"training?), so it cannot be scored into {scores_file.name}. Delete the run "
                "folder to train it again."
            )
        return str(archive)

    def zero_shot_paths(self, run: Run) -> Dict[str, Path]:
        """
        `{split: file}` of the zero-shot scores of a transfer experiment's stage-1 run on its
        held-out domain: `zero-shot-<d>.json` (dev), `zero-shot-<d>-test-<hash>.json` (test).
        """
        paths = {"dev": self.run_dir(run) / f"zero-shot-{run.held_out}.json"}
        test = self.experiment.data.get("test")
        if test:
            digest = short_hash(data_path_text(test))
            paths["test"] = self.run_dir(run) / f"zero-shot-{run.held_out}-test-{digest}.json"
        return paths

    def evaluate_zero_shot(self, run: Run) -> None:
        """
        Score the stage-1 model of a transfer experiment on its held-out domain's dev (and test)
        data, which it was not trained on: `allennlp evaluate` of its archive with the reader
        set to that domain, unsampled. The domain is one the model's vocabulary lacks, so it
        counts as "no domain" and the overall metric is the domain's. BERT (MTL), which needs a
        classifier of the domain, has no zero-shot score.
        """
        if not has_zero_shot(run.method):
            return
        from allennlp.commands.evaluate import evaluate_from_archive

        overrides = self.held_out_reader_overrides(run)
        for split, path in self.zero_shot_paths(run).items():
            if path.is_file():
                continue
            split_data = self.experiment.data[split]
            assert split_data is not None  # zero_shot_paths names only splits with data
            data = data_path_text(split_data)
            archive = self.archive_to_evaluate(run, path)
            logger.info("Evaluating %s on %s of %s (zero-shot)", run.run_id, run.held_out, data)
            metrics = evaluate_from_archive(archive, data, cmd_overrides=overrides)
            metrics.update(held_out_domain=run.held_out, data_path=data)
            path.write_text(json.dumps(metrics, indent=2))

    def held_out_reader_overrides(self, run: Run) -> Dict[str, Any]:
        """Overrides of the run's archived config: its evaluation reader reads the held-out domain."""
        trained = Params.from_file(str(self.run_dir(run) / "config.json")).as_dict(quiet=True)
        section = (
            "validation_dataset_reader"
            if "validation_dataset_reader" in trained
            else "dataset_reader"
        )
        return {
            f"{section}.domains": [run.held_out],
            f"{section}.sample_fraction": None,
            f"{section}.sample_count": None,
        }

    def run_files(self, run: Run) -> RunFiles:
        """Where `run`'s figures of training and evaluation are, for the scoring rule."""
        return RunFiles(
            metrics=self.run_dir(run) / "metrics.json",
            test_metrics=self.test_metrics_path(run),
            zero_shot=self.zero_shot_paths(run) if run.held_out is not None else {},
        )

    def scores(self, run: Run) -> List[Dict[str, Any]]:
        """The rows of a finished run by the experiment's scoring rule (`run_scores`)."""
        if not self.finished(run):
            return []
        return run_scores(self.experiment, run, self.run_files(run))

    def score_rows(self) -> List[Dict[str, Any]]:
        """The `scores` of every run, finished or not."""
        return [row for run in self.runs for row in self.scores(run)]


def resolved_data_path(path: Union[str, Dict[str, str]]) -> Union[str, Dict[str, str]]:
    """
    A data path made absolute, so that every run reads it from its own folder: a path, or the
    `mft_multi_domain` reader's object of one path per domain, each made absolute.
    """
    if isinstance(path, dict):
        return {domain: str(Path(value).resolve()) for domain, value in path.items()}
    return str(Path(path).resolve())


def data_path_text(path: Union[str, Dict[str, str]]) -> str:
    """
    `resolved_data_path` as the one string that `allennlp evaluate` and score file names take:
    an object of paths as JSON (which the `mft_multi_domain` reader reads, as AllenNLP's
    `interleaving` reader does).
    """
    resolved = resolved_data_path(path)
    return json.dumps(resolved, sort_keys=True) if isinstance(resolved, dict) else resolved


# (path, size, mtime) -> the archive's problem, None when whole
_ARCHIVE_CHECKS: Dict[Tuple[str, int, int], Optional[str]] = {}
ARCHIVE_MEMBERS = ("weights.th", "config.json", "vocabulary")


def _check_archive(path: Path) -> Optional[str]:
    try:
        with tarfile.open(path, "r:gz") as archive:
            names = archive.getnames()  # reads the whole archive: a truncated one fails
    except (OSError, EOFError, tarfile.TarError) as error:
        return f"{path} is not a whole archive ({type(error).__name__}: {error})"
    tops = {name.split("/", 1)[0] for name in names}
    missing = [member for member in ARCHIVE_MEMBERS if member not in tops]
    if missing:
        return f"{path} lacks {', '.join(missing)}"
    return None


def _write_atomically(path: Path, text: str) -> None:
    temporary = path.with_name(path.name + ".tmp")
    temporary.write_text(text)
    os.replace(temporary, path)
