from mft_plugin.commands.experiment import MftExperiment
