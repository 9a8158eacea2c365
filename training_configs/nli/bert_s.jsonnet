// BERT (S): fine-tune on one domain from the pretrained encoder.
// Train: MFT_DOMAIN=<domain> allennlp train training_configs/nli/bert_s.jsonnet -s runs/nli-bert_s-<domain>
local common = import '../common.libsonnet';
local task = import 'base.libsonnet';

common.single_domain(task, common.domain)
