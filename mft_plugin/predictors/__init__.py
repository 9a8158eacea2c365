from mft_plugin.predictors.classifier import (
    MultiDomainClassifierPredictor,
    NliPredictor,
    ReviewPredictor,
    TermPairPredictor,
)
from mft_plugin.predictors.input_lines import number_predict_input_lines

# `allennlp predict` names the input file and its physical line in errors (see input_lines).
number_predict_input_lines()
