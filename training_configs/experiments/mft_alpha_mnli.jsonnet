// MFT (Full) on MNLI under other values of α, the weight of eq. 2's own-domain cosine against
// the other domains' (typicality), with the settings of mft_variants_mnli.jsonnet (5 stage-1
// epochs, seed 13, dev), whose "paper" row is the model at α = 0.5 and whose BERT (Mix) row is
// the baseline to compare with (not trained again here). Typicality takes α in (0, 1), so the
// ends are probed at 0.1 and 0.9.
// allennlp mft-experiment training_configs/experiments/mft_alpha_mnli.jsonnet -s runs/mft-alpha-mnli
local tasks = import 'tasks.libsonnet';

tasks.nli + {
  name: 'MFT on MNLI: α of typicality (eq. 2)',
  methods: ['mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 5, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  stage1_scores: true,
  sweep: { parameter: 'alpha', values: [0.1, 0.25, 0.75, 0.9] },
}
