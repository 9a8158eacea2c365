// BERT (Mix): one model fine-tuned on all domains pooled, evaluated per domain.
// Train: allennlp train training_configs/reviews/bert_mix.jsonnet -s runs/reviews-bert_mix
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.mixed_finetune(task)
