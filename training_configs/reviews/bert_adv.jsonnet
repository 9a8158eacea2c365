// BERT (Adv), stage 1: Mix plus an adversarial domain classifier behind gradient reversal.
// Then fine-tune per domain with stage2.jsonnet.
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.adversarial(task)
