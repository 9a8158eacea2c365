"""
The runs an experiment plans: the paper's protocol (§4) as a list of ordinary AllenNLP training
runs (the experiment file itself, its keys and checks, is mft_plugin/experiments/spec.py).

- `plan_runs` turns an `Experiment` into `Run`s: a run id (also its folder), method, seed,
  domain, the stage-1 run a stage 2 depends on, and the spec that
  `training_configs/experiment.libsonnet` turns into an AllenNLP config. A method a sweep value
  does not change (`SWEEPS`) is planned once and reused across the values.
- `waves` groups the runs in the order a scheduler can run them.
- A run's seed also seeds what else it draws (the few-shot sample, k-means when J > 1); a
  setting that draws nothing stays out of the config, so configs and finished runs of
  experiments without sampling stay the same.
"""
import copy
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from _jsonnet import evaluate_snippet

from mft_plugin.experiments.spec import (
    METHODS,
    STAGE1_KINDS,
    SWEEPS,
    Experiment,
    shots_of_setting,
    shots_setting,
    sweep_label,
)
from mft_plugin.settings import training_configs_dir

# The function both merges of model options evaluate (see `merge_nested`).
MERGE_FILE = "merge.libsonnet"


@dataclass
class Run:
    """One AllenNLP training run of an experiment."""

    run_id: str  # also its folder, relative to the experiment's output directory
    method: str
    seed: int
    spec: Dict[str, Any]  # the input of training_configs/experiment.libsonnet's run()
    domain: Optional[str] = None  # None: a run over every domain (stage 1, Mix)
    depends_on: Optional[str] = None  # run_id of the stage-1 run a stage-2 run starts from
    sweep_values: List[Any] = field(default_factory=list)  # values whose results it gives
    held_out: Optional[str] = None  # transfer: the domain that stage 1 leaves out
    setting: Optional[str] = None  # transfer: `shots_setting` of a run on the held-out domain

    @property
    def is_stage1(self) -> bool:
        # in a transfer experiment BERT (Mix) on the other domains is a stage 1 too
        return self.spec["kind"] in STAGE1_KINDS or (
            self.held_out is not None and self.spec["kind"] == "mix"
        )

    def describe(self) -> str:
        display = METHODS[self.method]["display"]
        if self.held_out is not None:
            if self.is_stage1:
                return f"{display}, seed {self.seed}, stage 1 without {self.held_out}"
            shots = shots_of_setting(self.setting) if self.setting else "all"
            sample = "all instances" if shots == "all" else f"{shots} instances"
            return f"{display}, seed {self.seed}, {self.held_out} ({sample})"
        stage = "stage 1" if self.is_stage1 else (self.domain or "all domains")
        return f"{display}, seed {self.seed}, {stage}"


def sweep_slug(parameter: str, value: Any) -> str:
    """A folder name for one value of a sweep, e.g. `lambda=0.05` or `skip_layers=2-4-6`."""
    return f"{parameter}={sweep_label(parameter, value)}"


def merge_nested(target: Any, patch: Any) -> Any:
    """
    `patch` merged into `target`: objects key by key, any other value (null too) replaces.
    Evaluates training_configs/merge.libsonnet, the function experiment.libsonnet merges model
    options with, so the two merges cannot drift apart.
    """
    merged = evaluate_snippet(
        "merge_nested",
        f"function(target, patch) (import {json.dumps(MERGE_FILE)})(target, patch)",
        jpathdir=[str(training_configs_dir())],
        tla_codes={"target": json.dumps(target), "patch": json.dumps(patch)},
    )
    return json.loads(merged)


def plan_runs(experiment: Experiment) -> List[Run]:
    """Every training run of the experiment, each stage-1 run before the runs that need it."""
    runs: Dict[str, Run] = {}
    # the folder slug of the first sweep value that gave a method its settings
    first_slug: Dict[Tuple[str, str], str] = {}
    held_out_domains = experiment.transfer["held_out"] if experiment.transfer else [None]
    for held_out in held_out_domains:
        for value in experiment.sweep_values:
            for method in experiment.methods:
                settings = _settings_for(experiment, method, value)
                swept = (
                    experiment.sweep is not None
                    and method in SWEEPS[experiment.sweep["parameter"]][0]
                )
                slug = "default"
                if swept:
                    assert experiment.sweep is not None  # swept says so
                    # a value that leaves the method's settings as an earlier one did (MFT (DC)
                    # under mft_model values that differ in typicality only) reuses its runs
                    slug = first_slug.setdefault(
                        (method, canonical_json(settings)),
                        sweep_slug(experiment.sweep["parameter"], value),
                    )
                for seed in experiment.seeds:
                    if held_out is None:
                        planned = _method_runs(experiment, method, seed, slug, settings)
                    else:
                        planned = _transfer_runs(experiment, method, seed, slug, settings, held_out)
                    for run in planned:
                        existing = runs.setdefault(run.run_id, run)
                        existing.sweep_values.append(value)
    return list(runs.values())


def waves(runs: List[Run]) -> List[List[Run]]:
    """
    `runs` grouped in the order a scheduler can run them: wave 1 holds the runs that start from
    the pretrained encoder (stage 1, BERT (S), BERT (Mix)), wave k + 1 the runs that start from
    an archive of wave k (stage 2). The runs of a wave are independent; they keep plan order.
    """
    wave_of: Dict[str, int] = {}
    for run in runs:
        if run.depends_on is None:
            wave_of[run.run_id] = 0
        elif run.depends_on in wave_of:
            wave_of[run.run_id] = wave_of[run.depends_on] + 1
        else:
            raise ValueError(f"{run.run_id} starts from {run.depends_on}, not planned before it")
    grouped: List[List[Run]] = [[] for _ in range(max(wave_of.values(), default=-1) + 1)]
    for run in runs:
        grouped[wave_of[run.run_id]].append(run)
    return grouped


def _settings_for(experiment: Experiment, method: str, value: Any) -> Dict[str, Any]:
    settings: Dict[str, Any] = {
        "stage1": copy.deepcopy(experiment.stage1),
        "stage2": copy.deepcopy(experiment.stage2),
        "few_shot": copy.deepcopy(experiment.few_shot),
    }
    if experiment.sweep is not None:
        methods, (section, key) = SWEEPS[experiment.sweep["parameter"]]
        if method in methods:
            if key == "mft_model":  # the value's options on top of stage1.mft_model
                options = {k: v for k, v in value.items() if k != "name"}
                settings[section][key] = merge_nested(settings[section][key], options)
            else:
                settings[section][key] = value
    if METHODS[method].get("variant") == "dc":  # MFT (DC) has no typicality to set options of
        settings["stage1"]["mft_model"].pop("typicality", None)
    return settings


def _base_spec(experiment: Experiment, seed: int, settings) -> Dict[str, Any]:
    custom = {}
    if experiment.dataset_reader is not None:
        custom["dataset_reader"] = experiment.dataset_reader
    if experiment.model:
        custom["model"] = experiment.model
    return {
        **custom,
        "task": experiment.task,
        "seed": seed,
        "train": experiment.data["train"],
        "dev": experiment.data["dev"],
        # the experiment's domains, in every run: a stage 1 or BERT (Mix) reads no other domain
        # of the data (a single-domain run narrows them to its own)
        "reader": dict({"domains": list(experiment.domains)}, **experiment.reader),
        "train_sample": {},
        "stage1": settings["stage1"],
        "stage2": settings["stage2"],
        "domain": None,
        "stage1_archive": None,
        "validate": experiment.validate,
    }


def _method_runs(experiment: Experiment, method: str, seed: int, slug: str, settings) -> List[Run]:
    base = f"{method}/{slug}/seed-{seed}"
    train_sample = {k: v for k, v in settings["few_shot"].items() if v is not None}
    if train_sample:  # each seed trains on its own sample (see the module's docstring)
        train_sample.setdefault("sample_seed", seed)
    spec = dict(_base_spec(experiment, seed, settings), train_sample=train_sample)
    info = METHODS[method]
    if method == "bert_mix":
        return [Run(f"{base}/mix", method, seed, dict(spec, kind="mix"))]
    if info["stage1"] is None:  # BERT (S)
        return [
            Run(
                f"{base}/{domain}",
                method,
                seed,
                dict(spec, kind="single_domain", domain=domain),
                domain,
            )
            for domain in experiment.domains
        ]
    stage1 = Run(
        f"{base}/stage1", method, seed, dict(spec, kind=info["stage1"], variant=info.get("variant"))
    )
    stage2 = [
        Run(
            f"{base}/{domain}",
            method,
            seed,
            dict(
                spec,
                kind="single_domain",
                domain=domain,
                stage1_archive=f"{base}/stage1/model.tar.gz",
            ),
            domain,
            depends_on=stage1.run_id,
        )
        for domain in experiment.domains
    ]
    return [stage1] + stage2


def _transfer_runs(
    experiment: Experiment, method: str, seed: int, slug: str, settings, held_out: str
) -> List[Run]:
    """
    The runs of `method` for the held-out domain `held_out` (docs/experiments.md, transfer): a
    stage 1 on the other domains (all but BERT (S)), then a run on `held_out` per shots value.
    """
    base = f"transfer-{held_out}/{method}/{slug}/seed-{seed}"
    spec = _base_spec(experiment, seed, settings)
    info = METHODS[method]
    runs: List[Run] = []
    stage1: Optional[Run] = None
    if method != "bert_s":
        others = [domain for domain in experiment.domains if domain != held_out]
        stage1_spec = dict(spec, reader=dict(experiment.reader, domains=others))
        if method == "bert_mix":
            stage1_spec["kind"] = "mix"
        else:
            stage1_spec.update(kind=info["stage1"], variant=info.get("variant"))
        stage1 = Run(f"{base}/stage1", method, seed, stage1_spec, held_out=held_out)
        runs.append(stage1)
    assert experiment.transfer is not None  # planned only for a transfer experiment
    for shots in experiment.transfer["shots"]:
        setting = shots_setting(shots)
        run_spec = dict(
            spec,
            kind="single_domain",
            domain=held_out,
            # the same instances for every method of a seed; nested over the shots values
            train_sample={} if shots is None else {"sample_count": shots, "sample_seed": seed},
            stage2=dict(spec["stage2"], epochs=experiment.transfer_epochs(shots)),
            stage1_archive=f"{base}/stage1/model.tar.gz" if stage1 else None,
        )
        if method == "bert_mtl":  # no head for the held-out domain: its encoder only
            run_spec["stage1_label_classifier"] = False
        runs.append(
            Run(
                f"{base}/{setting}",
                method,
                seed,
                run_spec,
                held_out,
                depends_on=stage1.run_id if stage1 else None,
                held_out=held_out,
                setting=setting,
            )
        )
    return runs


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
