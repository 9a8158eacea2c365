"""
The plugin's commands. `experiment` (`allennlp mft-experiment`) and `typicality_report`
(`allennlp mft-typicality`) are AllenNLP subcommands, registered by `mft_plugin.plugin`;
`scripts` offers them as console scripts as well; `wordnet_pairs` (`mft-wordnet-pairs`) builds
term-pair data sets from WordNet; `prepare_encoder` (`mft-prepare-encoder`) prepares the
offline MiniLM; `expand_configs` (`make configs`) writes the shipped configs
expanded to JSON. Importing this package imports none of them, so a console script loads only
what it uses.
"""
