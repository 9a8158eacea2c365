// Figure 3: the number of MFT epochs before fine-tuning; "then run fine-tuning for 2 epochs
// for all domains" (§4.3). BERT (S) is the line without MFT.
// allennlp mft-experiment training_configs/experiments/figure3_mft_epochs_amazon.jsonnet -s runs/figure3-amazon
local tasks = import 'tasks.libsonnet';

tasks.reviews + {
  name: 'Figure 3: MFT epochs, Amazon',
  methods: ['bert_s', 'mft_full'],
  seeds: [13],
  stage1: { lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 2, lr: 2e-5, batch_size: 32 },
  sweep: { parameter: 'mft_epochs', values: [1, 2, 3, 4, 5] },
}
