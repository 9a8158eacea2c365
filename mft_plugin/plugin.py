"""
The plugin's entry point: importing this module registers every component with AllenNLP.

`allennlp` imports it through `.allennlp_plugins` (or `~/.allennlp/plugins`), which name
`mft_plugin.plugin`; `--include-package mft_plugin` imports it too. On import it
- fills in the documented defaults of the `MFT_*` environment variables that the training
  configs read (see `mft_plugin.settings`);
- applies the patches AllenNLP needs on the default stack's newer libraries (`mft_plugin.compat`);
- imports every module that registers a reader, model, initializer, callback, predictor or
  subcommand.
"""
from mft_plugin import compat
from mft_plugin.settings import apply_environment_defaults

apply_environment_defaults()
compat.apply()

# Each import below registers components by name; keep one line per registering package.
from mft_plugin import data  # noqa: E402,F401
from mft_plugin import metrics  # noqa: E402,F401
from mft_plugin import models  # noqa: E402,F401
from mft_plugin import optimizers  # noqa: E402,F401
from mft_plugin import callbacks  # noqa: E402,F401
from mft_plugin import checkpointer  # noqa: E402,F401
from mft_plugin import predictors  # noqa: E402,F401
from mft_plugin.commands import experiment, typicality_report  # noqa: E402,F401
