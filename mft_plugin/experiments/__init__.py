from mft_plugin.experiments.plan import Run, plan_runs
from mft_plugin.experiments.spec import METHODS, Experiment, load_experiment
from mft_plugin.experiments.runner import ExperimentRunner
