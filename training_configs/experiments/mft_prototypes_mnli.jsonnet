// MFT (Full) on MNLI under other values of J, prototypes per class (k-means), with the settings
// of mft_variants_mnli.jsonnet (5 stage-1 epochs, seed 13, dev), whose "paper" row is the model at
// J = 1 and whose BERT (Mix) row is the baseline to compare with (not trained again here).
// allennlp mft-experiment training_configs/experiments/mft_prototypes_mnli.jsonnet -s runs/mft-prototypes-mnli
local tasks = import 'tasks.libsonnet';

tasks.nli + {
  name: 'MFT on MNLI: J, prototypes per class (k-means)',
  methods: ['mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 5, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  stage1_scores: true,
  sweep: { parameter: 'prototypes_per_class', values: [2, 4] },
}
