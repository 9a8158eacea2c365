from mft_plugin.predictors.classifier import (
    MultiDomainClassifierPredictor,
    NliPredictor,
    ReviewPredictor,
    TermPairPredictor,
)
