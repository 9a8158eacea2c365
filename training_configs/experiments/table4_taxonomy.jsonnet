// Table 4: taxonomy construction (term-pair hypernymy) over animal, plant and vehicle,
// every method and the BERT (Mix+FT) control, three seeds.
// allennlp mft-experiment training_configs/experiments/table4_taxonomy.jsonnet -s runs/table4
local tasks = import 'tasks.libsonnet';

tasks.taxonomy + {
  name: 'Table 4: Taxonomy',
  methods: tasks.all_methods + tasks.controls,
  seeds: tasks.seeds,
  stage1: { epochs: 1, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
