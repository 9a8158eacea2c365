// Table 6: few-shot NLI, fine-tuning with and without MFT on shares of each genre's training
// pairs. The paper samples 5/10/20% of full MNLI; our training data is already under 1% of it,
// so the shares are 100%, 50% and 25% of our pairs. Dev is always read whole. "We run MFT for
// only one epoch" (§4.4); learning rate and epochs as in Table 2.
// allennlp mft-experiment training_configs/experiments/table6_mnli_few_shot.jsonnet -s runs/table6
local tasks = import 'tasks.libsonnet';

tasks.nli + {
  name: 'Table 6: few-shot MNLI',
  methods: ['bert_s', 'mft_full'],
  seeds: tasks.seeds,
  stage1: { epochs: 1, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  sweep: { parameter: 'sample_fraction', values: [1.0, 0.5, 0.25] },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
