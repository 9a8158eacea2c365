// Figure 3: the number of MFT epochs before fine-tuning; "then run fine-tuning for 2 epochs
// for all domains" (§4.3). BERT (S) is the line without MFT; BERT (Mix), trained once, is the
// pooled baseline to set each budget against, and every stage-1 model is also scored on its own.
// allennlp mft-experiment training_configs/experiments/figure3_mft_epochs_taxonomy.jsonnet -s runs/figure3-taxonomy
local tasks = import 'tasks.libsonnet';

tasks.taxonomy + {
  name: 'Figure 3: MFT epochs, Taxonomy',
  methods: ['bert_s', 'bert_mix', 'mft_full'],
  seeds: [13],
  stage1: { lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 2, lr: 2e-5, batch_size: 32 },
  stage1_scores: true,
  sweep: { parameter: 'mft_epochs', values: [1, 2, 3, 4, 5] },
}
