"""
mft-plugin: Meta Fine-Tuning (Wang et al., EMNLP 2020) as an AllenNLP plugin.

Importing this package does nothing but name it: the math of the method
(`mft_plugin.typicality`, `mft_plugin.losses`) is usable without AllenNLP. AllenNLP loads the
plugin through `mft_plugin.plugin` (named in `.allennlp_plugins`), which registers every
component and fills in the defaults of the `MFT_*` variables the training configs read.
"""

__version__ = "0.1.0"
