from mft_plugin.experiments.plan import METHODS, Experiment, Run, load_experiment, plan_runs
from mft_plugin.experiments.runner import ExperimentRunner
