// Stage 1, MFT (TW): typicality weighting only, no domain corruption (λ = 0).
// Train: allennlp train training_configs/taxonomy/mft_tw.jsonnet -s runs/taxonomy-mft_tw
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.mft_stage1(task, 'tw')
