// Which of MFT's options matter on Amazon reviews: the paper's model against one change at a
// time (see mft_variants.libsonnet), each against BERT (Mix), with every stage-1 model also scored
// on its own. Table 3's settings, seed 13.
// allennlp mft-experiment training_configs/experiments/mft_variants_amazon.jsonnet -s runs/mft-variants-amazon
local tasks = import 'tasks.libsonnet';
local variants = import 'mft_variants.libsonnet';

tasks.reviews + variants + {
  name: 'MFT options on Amazon reviews',
  methods: ['bert_mix', 'mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 3, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  stage1_scores: true,
}
