// Stage 1, MFT (DC): domain corruption only, every typicality weight 1.
// Train: allennlp train training_configs/nli/mft_dc.jsonnet -s runs/nli-mft_dc
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.mft_stage1(task, 'dc')
