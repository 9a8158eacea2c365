// Which of MFT's options matter on MNLI: the paper's model against one change at a time
// (typicality scores rescaled to mean one, typicality from BERT's pooler, the cosine to the mean
// of the other domains' prototypes, one domain head shared by the skip layers, an unweighted
// domain loss, uniform instead of shuffled domain corruption), each against BERT (Mix). Stage 1
// runs 5 epochs, as many as Mix trains pooled, and every stage-1 model is also scored on its
// own ("MFT (Full), stage 1"), to see what stage 2 adds. Table 2's settings otherwise, seed 13.
// allennlp mft-experiment training_configs/experiments/mft_variants_mnli.jsonnet -s runs/mft-variants-mnli
local tasks = import 'tasks.libsonnet';

tasks.nli + {
  name: 'MFT options on MNLI',
  methods: ['bert_mix', 'mft_full'],
  seeds: [13],
  bf16: true,
  stage1: { epochs: 5, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  stage1_scores: true,
  sweep: {
    parameter: 'mft_model',
    values: [
      { name: 'paper' },
      { name: 'mean_one', typicality: { rescale: 'mean_one' } },
      { name: 'pooler', typicality: { embedding: 'pooler' } },
      { name: 'cosine_to_mean', typicality: { other_domains: 'cosine_to_mean' } },
      { name: 'shared_domain_head', shared_domain_head: true },
      { name: 'unweighted_domain_loss', weight_domain_loss: false },
      { name: 'uniform_corruption', corruption: 'uniform' },
    ],
  },
}
