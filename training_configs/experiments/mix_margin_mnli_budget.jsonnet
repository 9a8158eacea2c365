// Why MFT does not beat BERT (Mix) on MNLI, first probe: the budget. Mix trains 5 pooled epochs;
// MFT's stage 1 runs 1 epoch ("we run MFT for only one epoch", §4.4), then 5 per genre. Stage 1
// for 1 and for 5 epochs against Mix, Table 2's settings otherwise, seed 13, dev only.
// allennlp mft-experiment training_configs/experiments/mix_margin_mnli_budget.jsonnet -s runs/mix-margin-mnli-budget
local tasks = import 'tasks.libsonnet';

tasks.nli + {
  name: 'MFT against Mix on MNLI: stage-1 epochs',
  methods: ['bert_mix', 'mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 1, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  sweep: { parameter: 'mft_epochs', values: [1, 5] },
}
