// Table 7: MFT (Full) with different skip layers Ls. The paper's sets for 12-layer BERT,
// {12}, {6, 12}, {4, 8, 12} and {3, 6, 9, 12}, scaled to a 6-layer encoder such as the offline
// MiniLM; with bert-base-uncased use the paper's values.
// allennlp mft-experiment training_configs/experiments/table7_skip_layers_taxonomy.jsonnet -s runs/table7-taxonomy
local tasks = import 'tasks.libsonnet';

tasks.taxonomy + {
  name: 'Table 7: skip layers, Taxonomy',
  methods: ['mft_full'],
  seeds: tasks.seeds,
  stage1: { epochs: 1, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  sweep: { parameter: 'skip_layers', values: [[6], [3, 6], [2, 4, 6], [2, 3, 5, 6]] },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
