// Table 3: review analysis over the four Amazon domains, every method and the BERT (Mix+FT)
// control, three seeds.
// allennlp mft-experiment training_configs/experiments/table3_amazon.jsonnet -s runs/table3
local tasks = import 'tasks.libsonnet';

tasks.reviews + {
  name: 'Table 3: Amazon reviews',
  methods: tasks.all_methods + tasks.controls,
  seeds: tasks.seeds,
  // the paper's settings (§4.1): 1-2 epochs of MFT, 2-4 of per-domain fine-tuning
  stage1: { epochs: 1, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
