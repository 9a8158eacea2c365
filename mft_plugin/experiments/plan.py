"""
Experiment files and the runs they plan: the paper's protocol (§4) as a list of ordinary
AllenNLP training runs.

An experiment file (jsonnet) looks like this; every key but `task`, `domains`, `data` and
`methods` has the default shown:

    {
      name: 'table4-taxonomy',
      task: 'taxonomy',                        // nli | reviews | taxonomy
      domains: ['animal', 'plant', 'vehicle'],
      data: { train: '.../taxonomy/train', dev: '.../taxonomy/dev', test: null },
      encoder: std.extVar('MFT_ENCODER'),      // default: $MFT_ENCODER
      methods: ['bert_s', 'bert_mix', 'bert_mtl', 'bert_adv', 'mft_dc', 'mft_tw', 'mft_full'],
      seeds: [13, 14, 15],
      metric: 'accuracy',
      checkpoint: 'last',                      // the model a run keeps and is scored by: its
                                               // 'last' epoch, or the 'best' on dev
      bf16: false,                             // encoder under bfloat16 autocast (fast on CPUs
                                               // with AVX512-BF16)
      reader: { max_length: 128 },             // options of the task's reader
      few_shot: {},                            // sample_fraction / sample_count (training data only)
      stage1: { epochs: 1, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5,
                skip_layers: null, reversal_weight: 0.1, reversal_schedule: 'fixed',
                prototypes_per_class: 1 },   // J of MFT's typicality (k-means when > 1)
      stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
      sweep: null,                             // or { parameter: 'lambda', values: [0, 0.1] }
      overrides: {},                           // AllenNLP config overrides for every run
    }

Methods (§4.2): BERT (S) and BERT (Mix) fine-tune from the pretrained encoder (per domain and
pooled); BERT (MTL), BERT (Adv) and MFT (DC/TW/Full) have a stage 1 on all domains, then a
stage 2 per domain from the stage-1 archive.

Sweeps (Figures 3 and 4, Tables 6 and 7): `lambda`, `alpha`, `skip_layers` (MFT's stage 1),
`mft_epochs` (every stage 1), `sample_fraction` (the training data of every method). A method
that does not depend on the swept setting is trained once and repeated across the values.

Seeds: a run's seed is AllenNLP's `random_seed`, `numpy_seed` and `pytorch_seed`, and also
the seed of whatever else is drawn at random for it, so that the ± over seeds includes that
variance too:
- the few-shot sample of the training data (the reader's `sample_seed`), whenever `few_shot`
  or a `sample_fraction` sweep samples it; dev and test are read whole. `few_shot.sample_seed`
  fixes one sample for every seed instead.
- the k-means of MFT's typicality (`typicality.seed`) when `stage1.prototypes_per_class` > 1.
A setting that draws nothing (no sample, one prototype) stays out of the config, so the configs
and finished runs of such experiments are the same as before these seeds were tied.
"""
import copy
import hashlib
import json
import os
from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional, Tuple

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

METHODS: Dict[str, Dict[str, Any]] = {
    # name: display name, stage-1 kind (None: no stage 1), MFT variant
    "bert_s": {"display": "BERT (S)", "stage1": None},
    "bert_mix": {"display": "BERT (Mix)", "stage1": None},
    "bert_mtl": {"display": "BERT (MTL)", "stage1": "mtl"},
    "bert_adv": {"display": "BERT (Adv)", "stage1": "adv"},
    "mft_dc": {"display": "MFT (DC)", "stage1": "mft", "variant": "dc"},
    "mft_tw": {"display": "MFT (TW)", "stage1": "mft", "variant": "tw"},
    "mft_full": {"display": "MFT (Full)", "stage1": "mft", "variant": "full"},
}
TASKS = ("nli", "reviews", "taxonomy")
# The model a run keeps and is scored by: every method at its last epoch (the default: no
# method picks its epoch on dev), or each at the epoch of its best validation metric.
CHECKPOINTS = ("last", "best")
DEFAULT_STAGE1 = {
    "epochs": 1,
    "lr": 2e-5,
    "batch_size": 32,
    "lambda": 0.1,
    "alpha": 0.5,
    "skip_layers": None,
    "reversal_weight": 0.1,
    "reversal_schedule": "fixed",
    "prototypes_per_class": 1,
}
DEFAULT_STAGE2 = {"epochs": 3, "lr": 2e-5, "batch_size": 32}
TOP_LEVEL_KEYS = {
    "name",
    "task",
    "domains",
    "data",
    "encoder",
    "methods",
    "seeds",
    "metric",
    "checkpoint",
    "bf16",
    "reader",
    "few_shot",
    "stage1",
    "stage2",
    "sweep",
    "overrides",
}
# Which methods each sweep parameter changes, and where it lives in the experiment.
SWEEPS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, str]]] = {
    "lambda": (("mft_dc", "mft_full"), ("stage1", "lambda")),
    "alpha": (("mft_tw", "mft_full"), ("stage1", "alpha")),
    "skip_layers": (("mft_dc", "mft_full"), ("stage1", "skip_layers")),
    "mft_epochs": (("bert_mtl", "bert_adv", "mft_dc", "mft_tw", "mft_full"), ("stage1", "epochs")),
    "sample_fraction": (tuple(METHODS), ("few_shot", "sample_fraction")),
}


@dataclass
class Experiment:
    """A validated experiment file."""

    name: str
    task: str
    domains: List[str]
    data: Dict[str, Optional[str]]
    encoder: str
    methods: List[str]
    seeds: List[int]
    metric: str
    checkpoint: str
    bf16: bool
    reader: Dict[str, Any]
    few_shot: Dict[str, Any]
    stage1: Dict[str, Any]
    stage2: Dict[str, Any]
    sweep: Optional[Dict[str, Any]]
    overrides: Dict[str, Any]

    @property
    def sweep_values(self) -> List[Any]:
        return list(self.sweep["values"]) if self.sweep else [None]


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

    @property
    def is_stage1(self) -> bool:
        return self.spec["kind"] in ("mtl", "adv", "mft")

    def describe(self) -> str:
        stage = "stage 1" if self.is_stage1 else (self.domain or "all domains")
        return f"{METHODS[self.method]['display']}, seed {self.seed}, {stage}"


def load_experiment(path: str, overrides: str = "", test_data: Optional[str] = None) -> Experiment:
    """Read and check an experiment file; errors name the offending key."""
    raw = Params.from_file(path, params_overrides=overrides).as_dict(quiet=True)
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown key(s) {unknown}; allowed: {sorted(TOP_LEVEL_KEYS)}"
        )
    for key in ("task", "domains", "data", "methods"):
        if key not in raw:
            raise ConfigurationError(f"{path}: the key {key!r} is required")
    if raw["task"] not in TASKS:
        raise ConfigurationError(f"{path}: task must be one of {TASKS}, got {raw['task']!r}")
    bad_methods = [m for m in raw["methods"] if m not in METHODS]
    if bad_methods or not raw["methods"]:
        raise ConfigurationError(
            f"{path}: methods {bad_methods} unknown; choose from {list(METHODS)}"
        )
    if not raw["domains"] or not all(isinstance(d, str) for d in raw["domains"]):
        raise ConfigurationError(f"{path}: domains must be a non-empty list of names")
    data = dict(raw["data"])
    for split in ("train", "dev"):
        if not data.get(split):
            raise ConfigurationError(f"{path}: data.{split} is required")
    unknown_splits = sorted(set(data) - {"train", "dev", "test"})
    if unknown_splits:
        raise ConfigurationError(f"{path}: data has unknown split(s) {unknown_splits}")
    data.setdefault("test", None)
    if test_data is not None:
        data["test"] = test_data
    seeds = raw.get("seeds", [13])
    if not seeds or not all(isinstance(s, int) for s in seeds):
        raise ConfigurationError(f"{path}: seeds must be a non-empty list of integers")
    stage1 = _with_defaults(path, "stage1", raw.get("stage1", {}), DEFAULT_STAGE1)
    stage2 = _with_defaults(path, "stage2", raw.get("stage2", {}), DEFAULT_STAGE2)
    sweep = raw.get("sweep")
    if sweep is not None:
        if sweep.get("parameter") not in SWEEPS:
            raise ConfigurationError(
                f"{path}: sweep.parameter must be one of {list(SWEEPS)}, got {sweep.get('parameter')!r}"
            )
        if not sweep.get("values"):
            raise ConfigurationError(f"{path}: sweep.values must list at least one value")
    checkpoint = raw.get("checkpoint", "last")
    if checkpoint not in CHECKPOINTS:
        raise ConfigurationError(
            f"{path}: checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}"
        )
    encoder = raw.get("encoder") or os.environ.get("MFT_ENCODER")
    if not encoder:
        raise ConfigurationError(f"{path}: no encoder (set the key `encoder` or MFT_ENCODER)")
    return Experiment(
        name=raw.get("name") or os.path.splitext(os.path.basename(path))[0],
        task=raw["task"],
        domains=list(raw["domains"]),
        data=data,
        encoder=encoder,
        methods=list(raw["methods"]),
        seeds=list(seeds),
        metric=raw.get("metric", "accuracy"),
        checkpoint=checkpoint,
        bf16=bool(raw.get("bf16", False)),
        reader=dict(raw.get("reader", {})),
        few_shot=dict(raw.get("few_shot", {})),
        stage1=stage1,
        stage2=stage2,
        sweep=sweep,
        overrides=dict(raw.get("overrides", {})),
    )


def _with_defaults(
    path: str, key: str, given: Dict[str, Any], defaults: Dict[str, Any]
) -> Dict[str, Any]:
    unknown = sorted(set(given) - set(defaults))
    if unknown:
        raise ConfigurationError(
            f"{path}: {key} has unknown key(s) {unknown}; allowed: {sorted(defaults)}"
        )
    return {**defaults, **given}


def sweep_slug(parameter: str, value: Any) -> str:
    """A folder name for one value of a sweep, e.g. `lambda=0.05` or `skip_layers=2-4-6`."""
    if isinstance(value, (list, tuple)):
        text = "-".join(str(v) for v in value)
    else:
        text = "null" if value is None else str(value)
    return f"{parameter}={text}"


def plan_runs(experiment: Experiment) -> List[Run]:
    """Every training run of the experiment, each stage-1 run before the runs that need it."""
    runs: Dict[str, Run] = {}
    for value in experiment.sweep_values:
        for method in experiment.methods:
            settings = _settings_for(experiment, method, value)
            swept = (
                experiment.sweep is not None and method in SWEEPS[experiment.sweep["parameter"]][0]
            )
            slug = sweep_slug(experiment.sweep["parameter"], value) if swept else "default"
            for seed in experiment.seeds:
                for run in _method_runs(experiment, method, seed, slug, settings):
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
    settings = {
        "stage1": copy.deepcopy(experiment.stage1),
        "stage2": copy.deepcopy(experiment.stage2),
        "few_shot": copy.deepcopy(experiment.few_shot),
    }
    if experiment.sweep is not None:
        methods, (section, key) = SWEEPS[experiment.sweep["parameter"]]
        if method in methods:
            settings[section][key] = value
    return settings


def _method_runs(experiment: Experiment, method: str, seed: int, slug: str, settings) -> List[Run]:
    base = f"{method}/{slug}/seed-{seed}"
    train_sample = {k: v for k, v in settings["few_shot"].items() if v is not None}
    if train_sample:  # each seed trains on its own sample (see the module's docstring)
        train_sample.setdefault("sample_seed", seed)
    spec = {
        "task": experiment.task,
        "seed": seed,
        "train": experiment.data["train"],
        "dev": experiment.data["dev"],
        "reader": experiment.reader,
        "train_sample": train_sample,
        "stage1": settings["stage1"],
        "stage2": settings["stage2"],
        "domain": None,
        "stage1_archive": None,
    }
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


def short_hash(text: str) -> str:
    return hashlib.sha1(text.encode("utf-8")).hexdigest()[:10]


def canonical_json(value: Any) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"))
