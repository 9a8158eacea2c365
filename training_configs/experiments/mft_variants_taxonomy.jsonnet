// Which of MFT's options matter on taxonomy: the paper's model against one change at a time (see
// mft_variants.libsonnet), each against BERT (Mix), with every stage-1 model also scored on its
// own. Stage 1 runs 3 epochs, as many as Mix trains pooled (on MNLI one stage-1 epoch against
// Mix's five explained most of Mix's lead: mix_margin_mnli_budget); Table 4's settings otherwise,
// seed 13.
// allennlp mft-experiment training_configs/experiments/mft_variants_taxonomy.jsonnet -s runs/mft-variants-taxonomy
local tasks = import 'tasks.libsonnet';
local variants = import 'mft_variants.libsonnet';

tasks.taxonomy + variants + {
  name: 'MFT options on Taxonomy',
  methods: ['bert_mix', 'mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 3, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  stage1_scores: true,
}
