"""
The plugin's settings and their defaults, each written once.

- `ENVIRONMENT`: the `MFT_*` environment variables. The jsonnet files in `training_configs/`
  read them with `std.extVar`; AllenNLP hands every environment variable to jsonnet, but
  jsonnet fails on an unset one, so importing the plugin (which `allennlp` does through
  `.allennlp_plugins`) fills in the default of every variable the user has not set. Setting a
  variable, or overriding the config key with `-o`, always wins.
- `stage_defaults()`: the stage settings (learning rate, epochs, batch size, λ, α, ...), read
  from `training_configs/defaults.libsonnet`, the file the configs import too.

docs/configuration.md shows both as tables written by `write_reference_tables` (`make docs`);
tests/test_settings.py fails when the page is out of date.
"""
import json
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

PACKAGED_ENCODER_NAME = "all-MiniLM-L6-v2"
STAGE_DEFAULTS_FILE = "defaults.libsonnet"


@dataclass(frozen=True)
class EnvironmentVariable:
    name: str
    default: str  # "" is the empty default: the variable is set to "" when unset
    shown_default: str  # the default as docs/configuration.md shows it
    meaning: str


ENVIRONMENT: Tuple[EnvironmentVariable, ...] = (
    EnvironmentVariable(
        "MFT_HOME",
        "~/.cache/mft_plugin",
        "`~/.cache/mft_plugin`",
        "where prepared encoders are stored (`mft-prepare-encoder` writes there)",
    ),
    EnvironmentVariable(
        "MFT_ENCODER",
        f"$MFT_HOME/{PACKAGED_ENCODER_NAME}",
        f"`$MFT_HOME/{PACKAGED_ENCODER_NAME}`",
        "encoder: a local directory or a hub name such as `bert-base-uncased` (the paper's)",
    ),
    EnvironmentVariable(
        "MFT_DATA_DIR",
        "../shared/data",
        "`../shared/data`",
        "root of the task data (relative to where you run `allennlp`)",
    ),
    EnvironmentVariable(
        "MFT_SEED",
        "13",
        "`13`",
        "random seed (AllenNLP's `random_seed`, `numpy_seed`, `pytorch_seed`)",
    ),
    EnvironmentVariable(
        "MFT_SKIP_LAYERS",
        "auto",
        "`auto`",
        "Ls, e.g. `4,8,12`; `auto` = thirds of the encoder's depth ({2,4,6} for MiniLM, "
        "{4,8,12} for BERT-base)",
    ),
    EnvironmentVariable(
        "MFT_BF16",
        "false",
        "`false`",
        "`true` runs the encoder under bfloat16 autocast, on the CPU or a GPU (several times "
        "faster training on CPUs with AVX512-BF16)",
    ),
    EnvironmentVariable(
        "MFT_DOMAIN",
        "",
        "(empty)",
        "the domain of a single-domain run (`bert_s.jsonnet`, `stage2.jsonnet`)",
    ),
    EnvironmentVariable(
        "MFT_STAGE1",
        "",
        "(empty)",
        "the stage-1 `model.tar.gz` a `stage2.jsonnet` run starts from",
    ),
    EnvironmentVariable(
        "MFT_KEEP_EPOCH",
        "last",
        "`last`",
        "the model a run keeps (`best.th`, `model.tar.gz`): its `last` epoch, or the `best` on "
        "dev (AllenNLP's default)",
    ),
)


def mft_home() -> Path:
    """The folder that holds prepared encoders (`MFT_HOME`, default `~/.cache/mft_plugin`)."""
    return Path(os.environ.get("MFT_HOME") or _default("MFT_HOME")).expanduser()


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
    """The default of every `MFT_*` variable the configs read (`MFT_HOME` is read in Python only)."""
    defaults = {v.name: v.default for v in ENVIRONMENT if v.name != "MFT_HOME"}
    # The encoder's default follows MFT_HOME as the user has set it.
    defaults["MFT_ENCODER"] = str(default_encoder_dir())
    return defaults


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


def _default(name: str) -> str:
    return next(variable.default for variable in ENVIRONMENT if variable.name == name)


def stage_defaults(configs_dir: Union[str, Path, None] = None) -> Dict[str, Any]:
    """
    The stage settings of `defaults.libsonnet` in `configs_dir` (default: the shipped
    `training_configs/`): `max_length`, `stage1`, `stage2` and `transfer`, as the configs and
    `allennlp mft-experiment` use them. Read afresh each call (a few milliseconds), so a caller
    may change what it gets.
    """
    from _jsonnet import evaluate_file  # jsonnet comes with AllenNLP

    path = Path(configs_dir or training_configs_dir()) / STAGE_DEFAULTS_FILE
    return json.loads(evaluate_file(str(path)))


# docs/configuration.md: the regions between these markers are written by
# `write_reference_tables`, the rest of the page by hand.
TABLE_BEGIN = "<!-- {name}: written by `make docs` from {source}; do not edit -->"
TABLE_END = "<!-- end of {name} -->"


def environment_table() -> str:
    """The `MFT_*` variables as a markdown table."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable in ENVIRONMENT:
        lines.append(f"| `{variable.name}` | {variable.shown_default} | {variable.meaning} |")
    return "\n".join(lines)


def stage_defaults_table() -> str:
    """The stage settings of `defaults.libsonnet` as a markdown table."""
    defaults = stage_defaults()
    lines = ["| setting | default |", "|---|---|"]
    lines.append(f"| `max_length` (every reader) | `{json.dumps(defaults['max_length'])}` |")
    for section in ("stage1", "stage2", "transfer"):
        for key, value in defaults[section].items():
            lines.append(f"| `{section}.{key}` | `{json.dumps(value)}` |")
    return "\n".join(lines)


def reference_tables() -> List[Tuple[str, str, str]]:
    """(name, source, markdown) of each generated table of docs/configuration.md."""
    return [
        ("environment table", "mft_plugin/settings.py ENVIRONMENT", environment_table()),
        (
            "stage settings table",
            f"training_configs/{STAGE_DEFAULTS_FILE}",
            stage_defaults_table(),
        ),
    ]


def write_reference_tables(page: str) -> str:
    """`page` (the text of docs/configuration.md) with every generated table brought up to date."""
    for name, source, table in reference_tables():
        begin, end = TABLE_BEGIN.format(name=name, source=source), TABLE_END.format(name=name)
        pattern = re.compile(re.escape(begin) + r"\n.*?\n" + re.escape(end), re.DOTALL)
        if not pattern.search(page):
            raise ValueError(f"docs/configuration.md has no region for the {name} ({begin!r})")
        page = pattern.sub(lambda _: f"{begin}\n{table}\n{end}", page)
    return page


def main(argv: Optional[List[str]] = None) -> None:
    import argparse

    parser = argparse.ArgumentParser(
        description="Write the generated tables of docs/configuration.md (the MFT_* variables "
        "and the stage settings) from their one definition."
    )
    parser.add_argument("page", help="the configuration page, e.g. docs/configuration.md")
    args = parser.parse_args(argv)
    page = Path(args.page)
    page.write_text(write_reference_tables(page.read_text(encoding="utf-8")), encoding="utf-8")


if __name__ == "__main__":
    main()
