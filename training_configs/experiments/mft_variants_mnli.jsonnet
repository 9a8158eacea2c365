// Which of MFT's options matter on MNLI: the paper's model against one change at a time (see
// mft_variants.libsonnet), each against BERT (Mix). Stage 1 runs 5 epochs, as many as Mix trains
// pooled, and every stage-1 model is also scored on its own ("MFT (Full), stage 1"), to see what
// stage 2 adds. Table 2's settings otherwise, seed 13.
// allennlp mft-experiment training_configs/experiments/mft_variants_mnli.jsonnet -s runs/mft-variants-mnli
local tasks = import 'tasks.libsonnet';
local variants = import 'mft_variants.libsonnet';

tasks.nli + variants + {
  name: 'MFT options on MNLI',
  methods: ['bert_mix', 'mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 5, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  stage1_scores: true,
}
