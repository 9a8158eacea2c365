// Stage 1 of MFT on every category: classifier.jsonnet with the model type meta_fine_tuning,
// the prototype callback, and the reader wrapped by mft_multi_domain (one path per domain).
//   allennlp train configs/mft_stage1.jsonnet -s runs/stage1 \
//     --include-package mft_plugin --include-package my_project
local transformer_model = std.extVar('MFT_ENCODER');

{
  dataset_reader: {
    type: 'mft_multi_domain',
    base_reader: {
      type: 'csv_reviews',
      tokenizer: { type: 'pretrained_transformer', model_name: transformer_model, max_length: 128 },
      token_indexers: { tokens: { type: 'pretrained_transformer', model_name: transformer_model } },
    },
  },
  train_data_path: {
    books: 'data/train/books.csv',
    electronics: 'data/train/electronics.csv',
    kitchen: 'data/train/kitchen.csv',
  },
  validation_data_path: {
    books: 'data/dev/books.csv',
    electronics: 'data/dev/electronics.csv',
    kitchen: 'data/dev/kitchen.csv',
  },
  model: {
    type: 'meta_fine_tuning',
    text_field_embedder: {
      token_embedders: { tokens: { type: 'pretrained_transformer', model_name: transformer_model } },
    },
    seq2vec_encoder: { type: 'bert_pooler', pretrained_model: transformer_model },
    dropout: 0.1,
    namespace: 'tags',
  },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 8, sorting_keys: ['tokens'] } },
  trainer: {
    num_epochs: 2,
    optimizer: { type: 'adamw', lr: 2e-5, weight_decay: 0.01 },
    callbacks: [{ type: 'mft_prototypes' }],
  },
}
