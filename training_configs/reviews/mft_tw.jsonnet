// Stage 1, MFT (TW): typicality weighting only, no domain corruption (λ = 0).
// Train: allennlp train training_configs/reviews/mft_tw.jsonnet -s runs/reviews-mft_tw
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.mft_stage1(task, 'tw')
