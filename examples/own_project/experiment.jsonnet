// The paper's comparison on this project's own data: BERT (S), BERT (Mix) and MFT (Full),
// through the project's reader, wrapped by mft_multi_domain.
//   mft-experiment experiment.jsonnet -s runs/experiment
local transformer_model = std.extVar('MFT_ENCODER');
local paths(split) = {
  [domain]: 'data/' + split + '/' + domain + '.csv'
  for domain in ['books', 'electronics', 'kitchen']
};

{
  name: 'Reviews of three product categories',
  include_package: ['my_project'],
  dataset_reader: {
    type: 'mft_multi_domain',
    base_reader: {
      type: 'csv_reviews',
      tokenizer: { type: 'pretrained_transformer', model_name: transformer_model, max_length: 128 },
      token_indexers: { tokens: { type: 'pretrained_transformer', model_name: transformer_model } },
    },
  },
  encoder: transformer_model,
  // keys of every run's model section, as in configs/classifier.jsonnet
  model: {
    seq2vec_encoder: { type: 'bert_pooler', pretrained_model: transformer_model },
    dropout: 0.1,
    namespace: 'tags',
  },
  domains: ['books', 'electronics', 'kitchen'],
  data: { train: paths('train'), dev: paths('dev') },
  methods: ['bert_s', 'bert_mix', 'mft_full'],
  seeds: [13],
  stage1: { epochs: 2, batch_size: 8 },
  stage2: { epochs: 2, batch_size: 8 },
}
