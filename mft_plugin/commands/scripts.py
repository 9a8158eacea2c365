"""
The plugin's AllenNLP subcommands as console scripts: `mft-experiment` is
`allennlp mft-experiment`, `mft-typicality` is `allennlp mft-typicality`, with the same
arguments.

AllenNLP adds a plugin's subcommands to its command line only when the plugin is named in a
plugins file (`.allennlp_plugins` in the current folder, or `~/.allennlp/plugins`): it builds
the parser before it reads `--include-package`, so `allennlp mft-experiment --include-package
mft_plugin` is an "invalid choice" anywhere else. The console scripts work from any folder.

Start-up: `mft-configs` imports nothing of AllenNLP (`import allennlp.commands` alone takes
seconds: it imports every AllenNLP command, and through them torch and torchvision).
"""
import argparse
import logging
import os
import sys
from typing import TYPE_CHECKING, List, Optional, Type

if TYPE_CHECKING:  # the import costs AllenNLP's whole command line; only the scripts need it
    from allennlp.commands.subcommand import Subcommand


def run_subcommand(
    subcommand: "Type[Subcommand]", name: str, argv: Optional[List[str]] = None
) -> None:
    """Parse `argv` with the subcommand's own parser and run it, as `allennlp NAME` would."""
    import mft_plugin.plugin  # noqa: F401  (the components and the MFT_* defaults)

    # AllenNLP's own logging set-up (allennlp/__main__.py), so both entry points log alike.
    level = logging.DEBUG if os.environ.get("ALLENNLP_DEBUG") else logging.INFO
    logging.basicConfig(format="%(asctime)s - %(levelname)s - %(name)s - %(message)s", level=level)
    container = argparse.ArgumentParser(prog=name).add_subparsers()
    parser = subcommand().add_subparser(container)
    parser.prog = name
    # What `allennlp` adds to every subcommand: modules to import, such as the user's package
    # that registers their reader.
    parser.add_argument(
        "--include-package",
        type=str,
        action="append",
        default=[],
        help="additional packages to include",
    )
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    from allennlp.common.util import import_module_and_submodules

    for package_name in args.include_package:
        import_module_and_submodules(package_name)
    args.func(args)


def experiment_main(argv: Optional[List[str]] = None) -> None:
    """`mft-experiment`: the paper's protocol for an experiment file (`allennlp mft-experiment`)."""
    from mft_plugin.commands.experiment import MftExperiment

    run_subcommand(MftExperiment, "mft-experiment", argv)


def typicality_main(argv: Optional[List[str]] = None) -> None:
    """`mft-typicality`: Table 5 and the histogram of a stage-1 run (`allennlp mft-typicality`)."""
    from mft_plugin.commands.typicality_report import MftTypicality

    run_subcommand(MftTypicality, "mft-typicality", argv)


def configs_main(argv: Optional[List[str]] = None) -> None:
    """`mft-configs`: print the folder of the shipped training configs."""
    from mft_plugin.settings import training_configs_dir

    parser = argparse.ArgumentParser(
        prog="mft-configs",
        description="Print the folder holding the shipped training configs, e.g. "
        'allennlp train "$(mft-configs)/taxonomy/mft_full.jsonnet" -s runs/x --include-package '
        "mft_plugin",
    )
    parser.parse_args(sys.argv[1:] if argv is None else argv)
    print(training_configs_dir())
