// BERT (MTL), stage 1: shared encoder, one classifier per domain, single-domain batches.
// Then fine-tune per domain with stage2.jsonnet.
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.multi_task(task)
