"""
The experiment file: its keys, their defaults and their checks, read into a typed `Experiment`.

The user's reference for the experiment file (every key and its default, methods, sweeps,
transfer, seeds, your own data) is docs/experiments.md; keep it in step with the defaults and
checks here. In this module:

- `load_experiment` reads a jsonnet experiment file (with `-o` overrides), fills in the
  defaults (`stage1`, `stage2` and `transfer` of training_configs/defaults.libsonnet, which the
  `allennlp train` configs read too) and validates it into an `Experiment`, whose fields are the
  file's keys (`TOP_LEVEL_KEYS`) and whose sections are typed (`Stage1Settings`, ...). An
  unknown key, a bad value or an `mft_model` key that another experiment key sets
  (`MFT_MODEL_KEYS_SET_ELSEWHERE`, `TYPICALITY_KEYS_SET_ELSEWHERE`) is a `ConfigurationError`
  naming the file and key.
- `METHODS` names the methods and their stage-1 kind; `SWEEPS` says which methods each sweep
  parameter changes and where it lives in the experiment.

What runs an `Experiment` plans is mft_plugin/experiments/plan.py's concern.
"""
import copy
import inspect
import json
import os
import re
from dataclasses import dataclass, field, fields
from typing import Any, Dict, List, Optional, Tuple, TypedDict, Union, cast

from allennlp.common import Params
from allennlp.common.checks import ConfigurationError

from mft_plugin.settings import stage_defaults

METHODS: Dict[str, Dict[str, Any]] = {
    # name: display name, stage-1 kind (None: no stage 1), MFT variant
    "bert_s": {"display": "BERT (S)", "stage1": None},
    "bert_mix": {"display": "BERT (Mix)", "stage1": None},
    "bert_mtl": {"display": "BERT (MTL)", "stage1": "mtl"},
    "bert_adv": {"display": "BERT (Adv)", "stage1": "adv"},
    "mft_dc": {"display": "MFT (DC)", "stage1": "mft", "variant": "dc"},
    "mft_tw": {"display": "MFT (TW)", "stage1": "mft", "variant": "tw"},
    "mft_full": {"display": "MFT (Full)", "stage1": "mft", "variant": "full"},
    # Not in the paper: MFT's pipeline without its losses, the control that tells MFT's losses
    # apart from its extra per-domain fine-tuning (BERT (Mix) trains pooled only).
    "bert_mix_ft": {"display": "BERT (Mix+FT)", "stage1": "mix_stage1"},
}
# The run kinds of a stage 1 outside transfer experiments (there BERT (Mix) is one too).
STAGE1_KINDS = ("mtl", "adv", "mft", "mix_stage1")
# The stage 1s that tell domains apart (a domain discriminator, MFT's domain corruption and
# typicality across domains): they need at least two training domains.
TWO_DOMAIN_STAGE1_KINDS = ("adv", "mft")
TASKS = ("nli", "reviews", "taxonomy")
# The task of an experiment on the user's own data: a `dataset_reader` section instead of a
# shipped task's reader (see "Your own data" in docs/experiments.md).
CUSTOM_TASK = "custom"
# The model a run keeps and is scored by: every method at its last epoch (the default: no
# method picks its epoch on dev), or each at the epoch of its best validation metric.
CHECKPOINTS = ("last", "best")
# When a run scores dev: after every epoch, or (with checkpoint 'last') after the last only,
# which is all the scoring rule reads and most of a few-shot run's time.
VALIDATIONS = ("every_epoch", "last_epoch")
# Which methods each sweep parameter changes, and where it lives in the experiment.
SWEEPS: Dict[str, Tuple[Tuple[str, ...], Tuple[str, str]]] = {
    "lambda": (("mft_dc", "mft_full"), ("stage1", "lambda")),
    "alpha": (("mft_tw", "mft_full"), ("stage1", "alpha")),
    "skip_layers": (("mft_dc", "mft_full"), ("stage1", "skip_layers")),
    "mft_epochs": (tuple(m for m, info in METHODS.items() if info["stage1"]), ("stage1", "epochs")),
    "sample_fraction": (tuple(METHODS), ("few_shot", "sample_fraction")),
    "mft_model": (("mft_dc", "mft_tw", "mft_full"), ("stage1", "mft_model")),
    "prototypes_per_class": (("mft_tw", "mft_full"), ("stage1", "prototypes_per_class")),
}
# Keys of the `meta_fine_tuning` model that other keys of the experiment set, and why
# `mft_model` may not set them too (a sweep over lambda would silently lose to it).
MFT_MODEL_KEYS_SET_ELSEWHERE = {
    "type": "the method sets it (mft_dc, mft_tw or mft_full)",
    "text_field_embedder": "set the experiment's encoder",
    "bf16": "set the experiment's bf16",
    "domain_corruption_weight": "set the experiment's stage1.lambda (0 is the method mft_tw)",
    "skip_layers": "set the experiment's stage1.skip_layers",
    "keep_pooler": "typicality.embedding 'pooler' keeps the pooler",
    "initializer": "stage 1 starts from the pretrained encoder",
    "vocab": "the vocabulary comes from the data",
}
TYPICALITY_KEYS_SET_ELSEWHERE = {
    "alpha": "set the experiment's stage1.alpha",
    "prototypes_per_class": "set the experiment's stage1.prototypes_per_class",
    "seed": "the run's seed seeds k-means",
}
# A sweep value's name becomes part of its run folders.
SWEEP_VALUE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._+-]*$")

# The settings of the rows that are not a method's plain result: a stage-1 model scored on its
# own (`stage1_scores`), and in a transfer experiment a model scored on the held-out domain
# without training on it, or after training on `shots_setting(n)` of its instances.
STAGE1_SETTING = "stage1"
ZERO_SHOT = "zero-shot"


def shots_setting(shots: Optional[int]) -> str:
    """The folder and row name of a shots value of a transfer experiment: `shots=32`, `shots=all`."""
    return f"shots={shots_key(shots)}"


def shots_of_setting(setting: str) -> str:
    """The shots value of a `shots_setting`: `'32'`, or `'all'`."""
    return setting[len("shots=") :]


def shots_key(shots: Optional[int]) -> str:
    """The key of a shots value in `transfer.epochs`: `'32'`, or `'all'` for null."""
    return "all" if shots is None else str(shots)


def has_zero_shot(method: str) -> bool:
    """
    Whether a transfer experiment scores `method`'s stage-1 model on the held-out domain: the
    pooled label classifier of BERT (Mix), BERT (Adv) and MFT applies to any domain; BERT
    (MTL) has one classifier per training domain and BERT (S) no model before the domain's own.
    """
    return method == "bert_mix" or METHODS[method]["stage1"] in ("adv", "mft")


# A data path: one file, or the `mft_multi_domain` reader's object of one file per domain.
DataPath = Union[str, Dict[str, str]]

# The sections with defaults in training_configs/defaults.libsonnet, with every key filled in
# (tests/test_settings.py holds their keys equal to that file's). `lambda` is a Python keyword,
# hence the functional form.
Stage1Settings = TypedDict(
    "Stage1Settings",
    {
        "epochs": int,
        "lr": float,
        "batch_size": int,
        "lambda": float,
        "alpha": float,
        "skip_layers": Optional[List[int]],
        "reversal_weight": float,
        "reversal_schedule": str,
        "prototypes_per_class": int,
        "mft_model": Dict[str, Any],
    },
)


class Stage2Settings(TypedDict):
    epochs: int
    lr: float
    batch_size: int


class TransferSettings(TypedDict):
    shots: List[Optional[int]]  # None: all of the held-out domain
    epochs: Dict[str, int]  # by `shots_key`
    held_out: List[str]  # filled in: every domain where the file gives null


class Sweep(TypedDict):
    parameter: str  # a key of SWEEPS
    values: List[Any]


@dataclass
class Experiment:
    """A validated experiment file: one field per key of the file, every default filled in."""

    name: str
    task: str
    domains: List[str]
    data: Dict[str, Optional[DataPath]]  # train, dev and test (None: no test data)
    encoder: str
    methods: List[str]
    seeds: List[int]
    metric: str
    checkpoint: str
    bf16: bool
    reader: Dict[str, Any]
    few_shot: Dict[str, Any]
    stage1: Stage1Settings
    stage2: Stage2Settings
    sweep: Optional[Sweep]
    overrides: Dict[str, Any]
    stage1_scores: bool = False
    transfer: Optional[TransferSettings] = None
    validate: str = "every_epoch"
    # Your own data: the reader section of every run (task `custom`), keys of every run's
    # model section, and the modules to import (`--include-package`) that register them.
    dataset_reader: Optional[Dict[str, Any]] = None
    model: Dict[str, Any] = field(default_factory=dict)
    include_package: List[str] = field(default_factory=list)

    @property
    def sweep_values(self) -> List[Any]:
        return list(self.sweep["values"]) if self.sweep else [None]

    @property
    def columns(self) -> List[str]:
        """The domains of the results' columns: the held-out ones in a transfer experiment."""
        return list(self.transfer["held_out"]) if self.transfer else list(self.domains)

    @property
    def transfer_settings(self) -> List[str]:
        """The settings of a transfer experiment's rows, in order: zero-shot, then each shots value."""
        assert self.transfer is not None
        return [ZERO_SHOT] + [shots_setting(shots) for shots in self.transfer["shots"]]

    def transfer_epochs(self, shots: Optional[int]) -> int:
        """The stage-2 epochs of a transfer run on `shots` instances of the held-out domain."""
        assert self.transfer is not None
        return self.transfer["epochs"].get(shots_key(shots), self.stage2["epochs"])


# The keys an experiment file may have: the fields of `Experiment`.
TOP_LEVEL_KEYS = frozenset(f.name for f in fields(Experiment))


def load_experiment(
    path: str,
    overrides: str = "",
    test_data: Optional[str] = None,
    configs_dir: Optional[str] = None,
) -> Experiment:
    """
    Read and check an experiment file; errors name the offending key. The keys of `stage1`,
    `stage2` and `transfer` it leaves out come from `defaults.libsonnet` in `configs_dir`
    (default: the shipped training_configs, whose configs read the same file).
    """
    try:
        return _load_experiment(path, overrides, test_data, configs_dir)
    except ConfigurationError as error:
        if overrides.strip() in ("", "{}"):
            raise
        # AllenNLP's -o replaces a nested object whole, which silently drops the file's other
        # entries of that object; say so, since the file itself may well be right
        raise ConfigurationError(
            f"{error} (after the overrides {overrides}: an object given there replaces the "
            "file's whole object; to change one entry use a dotted key, for example "
            '{"stage1.epochs": 5} or {"sweep.values": [1, 2]})'
        ) from error


def _load_experiment(
    path: str, overrides: str, test_data: Optional[str], configs_dir: Optional[str]
) -> Experiment:
    raw = Params.from_file(path, params_overrides=overrides).as_dict(quiet=True)
    unknown = sorted(set(raw) - TOP_LEVEL_KEYS)
    if unknown:
        raise ConfigurationError(
            f"{path}: unknown key(s) {unknown}; allowed: {sorted(TOP_LEVEL_KEYS)}"
        )
    for key in ("domains", "data", "methods"):
        if key not in raw:
            raise ConfigurationError(f"{path}: the key {key!r} is required")
    dataset_reader = raw.get("dataset_reader")
    task = _check_task(path, raw.get("task"), dataset_reader)
    model = raw.get("model") or {}
    check_model_section(path, "model", model)
    include_package = raw.get("include_package") or []
    if isinstance(include_package, str):
        include_package = [include_package]
    if not all(isinstance(name, str) and name for name in include_package):
        raise ConfigurationError(
            f"{path}: include_package must be a list of module names, got {include_package!r}"
        )
    bad_methods = [m for m in raw["methods"] if m not in METHODS]
    if bad_methods or not raw["methods"]:
        raise ConfigurationError(
            f"{path}: methods {bad_methods} unknown; choose from {list(METHODS)}"
        )
    if not raw["domains"] or not all(isinstance(d, str) for d in raw["domains"]):
        raise ConfigurationError(f"{path}: domains must be a non-empty list of names")
    needs_two = _methods_needing_two_domains(raw["methods"])
    if needs_two and len(set(raw["domains"])) < 2:
        raise ConfigurationError(
            f"{path}: the methods {needs_two} tell domains apart in stage 1 and need at least "
            f"two domains, but domains lists {list(raw['domains'])}"
        )
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
    # Every stage setting the file leaves out: training_configs/defaults.libsonnet, the same
    # file the `allennlp train` configs read.
    defaults = stage_defaults(configs_dir)
    stage1 = _with_defaults(path, "stage1", raw.get("stage1", {}), defaults["stage1"])
    stage2 = _with_defaults(path, "stage2", raw.get("stage2", {}), defaults["stage2"])
    for section, values in (("stage1", stage1), ("stage2", stage2)):
        for key in ("epochs", "batch_size"):  # 0 epochs: a division by zero in the schedule
            if not _is_positive_integer(values[key]):
                raise ConfigurationError(
                    f"{path}: {section}.{key} must be a positive integer, got {values[key]!r}"
                )
    check_mft_model(path, "stage1.mft_model", stage1["mft_model"])
    _check_alpha(path, "stage1.alpha", stage1["alpha"])
    sweep = raw.get("sweep")
    if sweep is not None:
        if sweep.get("parameter") not in SWEEPS:
            raise ConfigurationError(
                f"{path}: sweep.parameter must be one of {list(SWEEPS)}, got {sweep.get('parameter')!r}"
            )
        if not sweep.get("values"):
            raise ConfigurationError(f"{path}: sweep.values must list at least one value")
        if sweep["parameter"] == "mft_model":
            _check_mft_model_sweep(path, sweep["values"])
        if sweep["parameter"] == "alpha":
            for index, value in enumerate(sweep["values"]):
                _check_alpha(path, f"sweep.values[{index}]", value)
    checkpoint = raw.get("checkpoint", "last")
    if checkpoint not in CHECKPOINTS:
        raise ConfigurationError(
            f"{path}: checkpoint must be one of {CHECKPOINTS}, got {checkpoint!r}"
        )
    validate = raw.get("validate", "every_epoch")
    if validate not in VALIDATIONS:
        raise ConfigurationError(f"{path}: validate must be one of {VALIDATIONS}, got {validate!r}")
    if validate == "last_epoch" and checkpoint != "last":
        raise ConfigurationError(
            f"{path}: validate: 'last_epoch' needs checkpoint: 'last' (a run that keeps its best "
            f"epoch must score dev after every epoch), got checkpoint: {checkpoint!r}"
        )
    stage1_scores = raw.get("stage1_scores", False)
    if not isinstance(stage1_scores, bool):
        raise ConfigurationError(
            f"{path}: stage1_scores must be true or false, got {stage1_scores!r}"
        )
    few_shot = dict(raw.get("few_shot", {}))
    transfer = raw.get("transfer")
    if transfer is not None:
        transfer = _check_transfer(
            path, raw, transfer, defaults["transfer"], few_shot, sweep, stage1_scores
        )
    encoder = raw.get("encoder") or os.environ.get("MFT_ENCODER")
    if not encoder:
        raise ConfigurationError(f"{path}: no encoder (set the key `encoder` or MFT_ENCODER)")
    return Experiment(
        name=raw.get("name") or os.path.splitext(os.path.basename(path))[0],
        task=task,
        domains=list(raw["domains"]),
        data=data,
        encoder=encoder,
        methods=list(raw["methods"]),
        seeds=list(seeds),
        metric=raw.get("metric", "accuracy"),
        checkpoint=checkpoint,
        bf16=bool(raw.get("bf16", False)),
        reader=dict(raw.get("reader", {})),
        few_shot=few_shot,
        # the defaults with the file's known keys on top (_with_defaults), checked above
        stage1=cast(Stage1Settings, stage1),
        stage2=cast(Stage2Settings, stage2),
        sweep=sweep,
        overrides=dict(raw.get("overrides", {})),
        stage1_scores=stage1_scores,
        transfer=transfer,
        validate=validate,
        dataset_reader=dataset_reader,
        model=dict(model),
        include_package=list(include_package),
    )


def _check_task(path: str, task: Any, dataset_reader: Any) -> str:
    """The experiment's task: a shipped one, or `custom` where the file gives `dataset_reader`."""
    if dataset_reader is None:
        if task is None:
            raise ConfigurationError(
                f"{path}: the key 'task' is required (one of {TASKS}), or give the reader of "
                "your own data as 'dataset_reader'"
            )
        if task not in TASKS:
            raise ConfigurationError(f"{path}: task must be one of {TASKS}, got {task!r}")
        return task
    if not isinstance(dataset_reader, dict) or "type" not in dataset_reader:
        raise ConfigurationError(
            f"{path}: dataset_reader must be a reader section with a 'type' (for example "
            "{type: 'mft_multi_domain', base_reader: {type: 'your_reader'}}), got "
            f"{dataset_reader!r}"
        )
    if task not in (None, CUSTOM_TASK):
        raise ConfigurationError(
            f"{path}: task {task!r} comes with its own reader; with dataset_reader leave 'task' "
            f"out (or set it to {CUSTOM_TASK!r})"
        )
    return CUSTOM_TASK


# Keys of a run's model section that the method or other experiment keys set, so that the
# experiment's `model` may not set them too.
MODEL_KEYS_SET_ELSEWHERE = {
    "type": "the method sets it",
    "text_field_embedder": "set the experiment's encoder",
    "bf16": "set the experiment's bf16",
    "initializer": "stage 2 loads the stage-1 archive through it",
    "vocab": "the vocabulary comes from the data",
}


def check_model_section(path: str, key: str, options: Any) -> None:
    """
    Check the experiment's `model`: keys that every run's model section gets on top of the
    method's (a `basic_classifier`-shaped section's `seq2vec_encoder`, `feedforward`, `dropout`,
    `label_namespace`, ...), none that the method or other experiment keys set.
    """
    if not isinstance(options, dict):
        raise ConfigurationError(f"{path}: {key} must be an object of model keys, got {options!r}")
    from mft_plugin.models.classifier import TransformerClassifier

    _check_option_keys(
        path,
        key,
        options,
        MODEL_KEYS_SET_ELSEWHERE,
        _parameters(TransformerClassifier),
        "the plugin's models do not take; they take",
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


def check_mft_model(path: str, key: str, options: Any) -> None:
    """
    Check options of the `meta_fine_tuning` model given as `key` (`stage1.mft_model` or a
    value of the `mft_model` sweep): keys the model takes, none that other experiment keys set,
    and typicality settings in range.
    """
    # Imported here: the model pulls in torch and transformers, which the rest of this module
    # does not need.
    from mft_plugin.losses import CORRUPTIONS
    from mft_plugin.models.classifier import TransformerClassifier
    from mft_plugin.models.meta_fine_tuning import MetaFineTuning
    from mft_plugin.typicality import TypicalityConfig

    if not isinstance(options, dict):
        raise ConfigurationError(
            f"{path}: {key} must be an object of meta_fine_tuning options, got {options!r}"
        )
    _check_option_keys(
        path,
        key,
        options,
        MFT_MODEL_KEYS_SET_ELSEWHERE,
        _parameters(MetaFineTuning) | _parameters(TransformerClassifier),
        "the meta_fine_tuning model does not take; it takes",
    )
    if "corruption" in options and options["corruption"] not in CORRUPTIONS:
        raise ConfigurationError(
            f"{path}: {key}.corruption must be one of {CORRUPTIONS}, got {options['corruption']!r}"
        )
    typicality = options.get("typicality")
    if typicality is None:  # absent, or null: no typicality weights, as MFT (DC)
        return
    if not isinstance(typicality, dict):
        raise ConfigurationError(
            f"{path}: {key}.typicality must be an object or null, got {typicality!r}"
        )
    _check_option_keys(
        path,
        f"{key}.typicality",
        typicality,
        TYPICALITY_KEYS_SET_ELSEWHERE,
        _parameters(TypicalityConfig),
        "typicality does not take; it takes",
    )
    try:
        TypicalityConfig(**typicality)
    except (TypeError, ValueError) as error:  # a value out of range names its key
        raise ConfigurationError(f"{path}: {key}: {error}") from None


def _check_alpha(path: str, key: str, alpha: Any) -> None:
    """α of eq. 2 in the range typicality takes, refused here rather than when its run starts."""
    from mft_plugin.typicality import TypicalityConfig

    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)):
        raise ConfigurationError(f"{path}: {key}: α must be a number in (0, 1), got {alpha!r}")
    try:
        TypicalityConfig(alpha=alpha)
    except ValueError as error:
        raise ConfigurationError(f"{path}: {key}: {error}") from None


def _check_option_keys(
    path: str,
    key: str,
    options: Dict[str, Any],
    set_elsewhere: Dict[str, str],
    parameters: set,
    not_taken: str,
) -> None:
    """
    Refuse the keys of the object `key` that other experiment keys set (`set_elsewhere`: key ->
    what to use instead), then those not among `parameters`, the message ending with
    `not_taken` and the keys it does take.
    """
    for name, instead in set_elsewhere.items():
        if name in options:
            raise ConfigurationError(f"{path}: {key}.{name} cannot be set here: {instead}")
    allowed = parameters - set(set_elsewhere)
    unknown = sorted(set(options) - allowed)
    if unknown:
        raise ConfigurationError(
            f"{path}: {key} has key(s) {unknown} that {not_taken} {sorted(allowed)}"
        )


def _parameters(cls) -> set:
    return set(inspect.signature(cls.__init__).parameters) - {"self", "kwargs"}


def _check_mft_model_sweep(path: str, values: List[Any]) -> None:
    names = []
    for index, value in enumerate(values):
        key = f"sweep.values[{index}]"
        name = value.get("name") if isinstance(value, dict) else None
        if not isinstance(name, str) or not SWEEP_VALUE_NAME.match(name):
            raise ConfigurationError(
                f"{path}: {key}: a value of the mft_model sweep is an object with a `name` "
                "(letters, digits and . _ + -, the label of its run folders and tables) and the "
                "meta_fine_tuning options it sets, e.g. "
                "{name: 'mean_one', typicality: {rescale: 'mean_one'}}; "
                f"got {json.dumps(value)}"
            )
        names.append(name)
        check_mft_model(path, key, {k: v for k, v in value.items() if k != "name"})
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigurationError(
            f"{path}: sweep.values: the name(s) {duplicates} are given to more than one value "
            "of the mft_model sweep; every value needs a name of its own"
        )


def _methods_needing_two_domains(methods: List[str]) -> List[str]:
    """The `methods` whose stage 1 tells domains apart (`TWO_DOMAIN_STAGE1_KINDS`)."""
    return [m for m in methods if METHODS[m]["stage1"] in TWO_DOMAIN_STAGE1_KINDS]


def _check_transfer(
    path: str,
    raw: Dict[str, Any],
    given: Any,
    defaults: Dict[str, Any],
    few_shot: Dict[str, Any],
    sweep: Optional[Dict[str, Any]],
    stage1_scores: bool,
) -> Dict[str, Any]:
    if not isinstance(given, dict):
        raise ConfigurationError(f"{path}: transfer must be an object or null, got {given!r}")
    transfer = copy.deepcopy(_with_defaults(path, "transfer", given, defaults))
    shots = transfer["shots"]
    if (
        not isinstance(shots, list)
        or not shots
        or not all(s is None or _is_positive_integer(s) for s in shots)
    ):
        raise ConfigurationError(
            f"{path}: transfer.shots must list positive numbers of training instances, or null "
            f"for all of the held-out domain; got {shots!r}"
        )
    if len(set(shots)) != len(shots):
        raise ConfigurationError(f"{path}: transfer.shots lists a value twice: {shots}")
    epochs = transfer["epochs"]
    if not isinstance(epochs, dict):
        raise ConfigurationError(f"{path}: transfer.epochs must be an object, got {epochs!r}")
    keys = [shots_key(s) for s in shots]
    stray = sorted(set(epochs) - set(keys))
    if stray:
        raise ConfigurationError(
            f"{path}: transfer.epochs has key(s) {stray} that are no value of transfer.shots; "
            f"its keys are {keys} ('all' for null)"
        )
    bad = {k: v for k, v in epochs.items() if not _is_positive_integer(v)}
    if bad:
        raise ConfigurationError(f"{path}: transfer.epochs must be positive integers, got {bad}")
    domains = list(raw["domains"])
    held_out = transfer["held_out"] if transfer["held_out"] is not None else domains
    if not isinstance(held_out, list) or not held_out or not set(held_out) <= set(domains):
        raise ConfigurationError(
            f"{path}: transfer.held_out must list some of the domains {domains}, got {held_out!r}"
        )
    if len(set(held_out)) != len(held_out):
        raise ConfigurationError(f"{path}: transfer.held_out lists a domain twice: {held_out}")
    transfer["held_out"] = list(held_out)
    if len(domains) < 2:
        raise ConfigurationError(
            f"{path}: transfer holds out one domain and trains on the others, but domains "
            f"lists only {domains}"
        )
    if "bert_mix_ft" in raw["methods"]:
        raise ConfigurationError(
            f"{path}: transfer: method bert_mix_ft is BERT (Mix) in a transfer experiment (pooled "
            "training on the other domains, then fine-tuning on the held-out one); use bert_mix"
        )
    needs_two = _methods_needing_two_domains(raw["methods"])
    if needs_two and len(domains) < 3:
        raise ConfigurationError(
            f"{path}: transfer: the methods {needs_two} tell domains apart in stage 1 and need "
            f"two domains besides the held-out one, but domains lists {domains}"
        )
    if few_shot:
        raise ConfigurationError(
            f"{path}: transfer and few_shot do not combine: transfer.shots samples the held-out "
            "domain, and stage 1 trains on all of the other domains"
        )
    if sweep is not None and sweep["parameter"] == "sample_fraction":
        raise ConfigurationError(
            f"{path}: transfer and a sample_fraction sweep do not combine: transfer.shots sets "
            "the held-out domain's training data"
        )
    if stage1_scores:
        raise ConfigurationError(
            f"{path}: transfer and stage1_scores do not combine: a transfer experiment scores "
            "its stage-1 models on the held-out domain (the zero-shot rows)"
        )
    return transfer


def _is_positive_integer(value: Any) -> bool:
    # JSON's true is a Python int (1): a count of instances or epochs must be a number
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def sweep_label(parameter: str, value: Any) -> str:
    """A value of a sweep as text: `0.05`, `2-4-6`, `null`, or an `mft_model` value's name."""
    if parameter == "mft_model":
        return value["name"]
    if isinstance(value, (list, tuple)):
        return "-".join(str(v) for v in value)
    return "null" if value is None else str(value)
