"""
mft-plugin: Meta Fine-Tuning (Wang et al., EMNLP 2020) as an AllenNLP plugin.

Importing the package registers every component with AllenNLP (`allennlp` imports it through
`.allennlp_plugins`) and fills in the documented defaults of the `MFT_*` environment variables
that the training configs read (see `mft_plugin.settings`).
"""
from mft_plugin.settings import apply_environment_defaults

apply_environment_defaults()

from mft_plugin import compat  # noqa: E402

compat.apply()

# Each import below registers components by name; keep one line per registering module.
from mft_plugin import data  # noqa: E402,F401
from mft_plugin import metrics  # noqa: E402,F401
from mft_plugin import models  # noqa: E402,F401
from mft_plugin import callbacks  # noqa: E402,F401
from mft_plugin import predictors  # noqa: E402,F401
from mft_plugin import commands  # noqa: E402,F401
