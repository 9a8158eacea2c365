"""
Environment variables that configure the plugin, and their documented defaults.

The jsonnet files in `training_configs/` read these with `std.extVar`. AllenNLP hands every
environment variable to jsonnet, but jsonnet fails on an unset one, so importing the plugin
(which `allennlp` does through `.allennlp_plugins`) fills in the defaults below for every
variable the user has not set. Setting a variable, or overriding the config key with `-o`,
always wins.

| variable           | default                                  | meaning                                  |
|--------------------|------------------------------------------|------------------------------------------|
| `MFT_HOME`         | `~/.cache/mft_plugin`                    | where prepared encoders are stored       |
| `MFT_ENCODER`      | `$MFT_HOME/all-MiniLM-L6-v2`             | encoder name (hub) or local directory    |
| `MFT_DATA_DIR`     | `../shared/data`                         | root of the task data                    |
| `MFT_SEED`         | `13`                                     | random seed of a training run            |
| `MFT_SKIP_LAYERS`  | `auto`                                   | Ls, e.g. `4,8,12`; `auto` = depth thirds |
| `MFT_BF16`         | `false`                                  | `true`: encoder in bfloat16 autocast     |
| `MFT_DOMAIN`       | (empty)                                  | domain of a single-domain run            |
| `MFT_STAGE1`       | (empty)                                  | stage-1 `model.tar.gz` of a stage-2 run  |
| `MFT_KEEP_EPOCH`   | `last`                                   | epoch a run keeps: `last` or `best`      |
"""
import os
from pathlib import Path
from typing import Dict, Mapping, Optional

PACKAGED_ENCODER_NAME = "all-MiniLM-L6-v2"


def mft_home() -> Path:
    """The folder that holds prepared encoders (`MFT_HOME`, default `~/.cache/mft_plugin`)."""
    return Path(os.environ.get("MFT_HOME") or "~/.cache/mft_plugin").expanduser()


def default_encoder_dir() -> Path:
    """Where `mft-prepare-encoder` writes the offline MiniLM unless told otherwise."""
    return mft_home() / PACKAGED_ENCODER_NAME


def training_configs_dir() -> Path:
    """
    The folder of the shipped training configs (`training_configs/`): the project's own in a
    clone or an editable install, the copy inside the package in an installed wheel (setup.py
    copies it there at build time).
    """
    package = Path(__file__).resolve().parent
    for candidate in (package.parent / "training_configs", package / "training_configs"):
        if (candidate / "experiment.libsonnet").is_file():
            return candidate
    raise FileNotFoundError(
        f"No training configs found beside or inside the package at {package}; reinstall "
        "mft-plugin (its wheel ships them as mft_plugin/training_configs)."
    )


def environment_defaults() -> Dict[str, str]:
    return {
        "MFT_ENCODER": str(default_encoder_dir()),
        "MFT_DATA_DIR": "../shared/data",
        "MFT_SEED": "13",
        "MFT_SKIP_LAYERS": "auto",
        "MFT_BF16": "false",
        # Single-domain runs (bert_s.jsonnet, stage2.jsonnet) name their domain and archive here.
        "MFT_DOMAIN": "",
        "MFT_STAGE1": "",
        # The model a run keeps: its last epoch (the scoring rule), or the best on dev.
        "MFT_KEEP_EPOCH": "last",
    }


def environment_values(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """
    Every `MFT_*` variable as the configs see it once the plugin is loaded: the value set in
    `environ` (default `os.environ`), else the default; an empty value counts as unset for a
    variable whose default is not empty.
    """
    environ = os.environ if environ is None else environ
    return {
        name: default if name not in environ or (default and not environ[name]) else environ[name]
        for name, default in environment_defaults().items()
    }


def apply_environment_defaults() -> None:
    """Set every `MFT_*` variable that the user left unset to its documented default."""
    os.environ.update(environment_values())
