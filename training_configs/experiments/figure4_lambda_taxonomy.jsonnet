// Figure 4: λ, the weight of the domain corruption loss, from 0 to 0.5 (λ = 0 is MFT (TW)).
// allennlp mft-experiment training_configs/experiments/figure4_lambda_taxonomy.jsonnet -s runs/figure4-taxonomy
local tasks = import 'tasks.libsonnet';

tasks.taxonomy + {
  name: 'Figure 4: lambda, Taxonomy',
  methods: ['mft_full'],
  seeds: [13],
  stage1: { epochs: 1, lr: 2e-5, batch_size: 32, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  sweep: { parameter: 'lambda', values: [0, 0.05, 0.1, 0.2, 0.3, 0.5] },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
