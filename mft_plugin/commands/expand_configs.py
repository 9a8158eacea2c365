"""
Every shipped config written out whole, for reading: `make configs`, or
`python -m mft_plugin.commands.expand_configs [CONFIGS_DIR] [OUTPUT_DIR]`.

Each `*.jsonnet` under `training_configs/` is evaluated as `allennlp train` evaluates it, with
the `MFT_*` variables the plugin fills in (`mft_plugin.settings`: the user's values, else the
defaults), and written as JSON to `OUTPUT_DIR/<same relative path>.json` (`build/configs/` by
default), e.g. `taxonomy/mft_full.jsonnet` to `taxonomy/mft_full.json`. `OUTPUT_DIR/README.md`
lists the values used. The single-domain configs (`bert_s`, `stage2`) refuse an empty
`MFT_DOMAIN` or `MFT_STAGE1`, so where these are unset a placeholder (`<MFT_DOMAIN>`) stands in.

An experiment file (`training_configs/experiments/`) expands to the experiment itself; the
AllenNLP config of each of its runs is what `allennlp mft-experiment EXP -s OUT
--export-commands` writes to `OUT/configs/`.
"""
import argparse
import json
import os
import sys
from pathlib import Path
from typing import Dict, List, Mapping, Optional

from mft_plugin.settings import environment_values, training_configs_dir

DEFAULT_OUTPUT_DIR = Path("build") / "configs"
# Variables without a default that some configs refuse to be empty.
PLACEHOLDERS = {"MFT_DOMAIN": "<MFT_DOMAIN>", "MFT_STAGE1": "<MFT_STAGE1>"}


def expansion_environment(environ: Optional[Mapping[str, str]] = None) -> Dict[str, str]:
    """The `MFT_*` values the configs are expanded with: the plugin's, placeholders for empty ones."""
    values = environment_values(environ)
    for name, placeholder in PLACEHOLDERS.items():
        values[name] = values[name] or placeholder
    return values


def expand_config(path: Path, environment: Mapping[str, str]) -> Dict:
    """The config at `path` evaluated whole, as `Params.from_file` reads it."""
    # Imported here: `--help` should not wait for AllenNLP (and torch) to load.
    from allennlp.common import Params

    return Params.from_file(str(path), ext_vars=dict(environment)).as_dict(quiet=True)


def output_path(config: Path, configs_dir: Path, output_dir: Path) -> Path:
    return output_dir / config.relative_to(configs_dir).with_suffix(".json")


def expand_configs(
    configs_dir: Path, output_dir: Path, environment: Mapping[str, str]
) -> List[Path]:
    """Write every `*.jsonnet` under `configs_dir` expanded under `output_dir`; the files written."""
    configs = sorted(configs_dir.rglob("*.jsonnet"))
    if not configs:
        raise FileNotFoundError(f"No *.jsonnet files under {configs_dir}")
    written = []
    for config in configs:
        target = output_path(config, configs_dir, output_dir)
        try:
            expanded = expand_config(config, environment)
        except RuntimeError as error:  # jsonnet's; an error in a library names that library only
            raise RuntimeError(f"{config}: {error}") from error
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(json.dumps(expanded, indent=2) + "\n")
        written.append(target)
    write_readme(output_dir, configs_dir, environment, len(written))
    return written


def write_readme(
    output_dir: Path, configs_dir: Path, environment: Mapping[str, str], count: int
) -> None:
    lines = [
        "# The shipped configs, expanded",
        "",
        f"The {count} `*.jsonnet` files of `{configs_dir}`, each evaluated whole (as `allennlp "
        "train` reads it) and written as JSON under the same relative path, by "
        "`make configs` (`python -m mft_plugin.commands.expand_configs`). Generated: edit the "
        "jsonnet, not these files.",
        "",
        "The `MFT_*` values used (set a variable before `make configs` to change one; "
        "`<...>` marks a value the config needs and no default gives):",
        "",
        "| variable | value |",
        "|---|---|",
    ]
    lines += [f"| `{name}` | `{value}` |" for name, value in sorted(environment.items())]
    lines += [
        "",
        "An experiment file expands to the experiment itself; the AllenNLP config of each of its "
        "runs is what `allennlp mft-experiment EXP -s OUT --export-commands` writes to "
        "`OUT/configs/`.",
    ]
    (output_dir / "README.md").write_text("\n".join(lines) + "\n")


def main(argv: Optional[List[str]] = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m mft_plugin.commands.expand_configs",
        description="Write every shipped jsonnet config fully expanded to JSON, with the MFT_* "
        "environment defaults of the plugin filled in (the user's values win), and a README.md "
        "listing the values used.",
    )
    parser.add_argument(
        "configs_dir",
        nargs="?",
        type=Path,
        default=None,
        help="the folder of the configs (default: the shipped training_configs)",
    )
    parser.add_argument(
        "output_dir",
        nargs="?",
        type=Path,
        default=DEFAULT_OUTPUT_DIR,
        help=f"where the JSON files go (default: {DEFAULT_OUTPUT_DIR})",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    configs_dir = args.configs_dir or training_configs_dir()
    environment = expansion_environment(os.environ)
    try:
        written = expand_configs(configs_dir, args.output_dir, environment)
    except (RuntimeError, FileNotFoundError) as error:
        sys.exit(f"expand_configs: {error}")
    print(f"{len(written)} configs expanded into {args.output_dir}")


if __name__ == "__main__":
    main()
