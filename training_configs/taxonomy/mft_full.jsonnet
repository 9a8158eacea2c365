// Stage 1, MFT (Full): typicality-weighted label loss and skip-layer domain corruption.
// Train: allennlp train training_configs/taxonomy/mft_full.jsonnet -s runs/taxonomy-mft_full
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.mft_stage1(task, 'full')
