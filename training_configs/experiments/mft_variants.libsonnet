// The options of MFT's model that the mft_variants_* experiments try, one at a time against the
// paper's model: typicality scores clipped at 0 and rescaled to mean one, typicality from BERT's
// pooler, the cosine to the mean of the other domains' prototypes, one domain head shared by the
// skip layers, an unweighted domain loss, uniform instead of in-batch shuffled domain corruption.
{
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
