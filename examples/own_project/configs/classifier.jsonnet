// The project's classifier before MFT: AllenNLP's basic_classifier on a pretrained transformer,
// trained on one product category.
//   allennlp train configs/classifier.jsonnet -s runs/classifier --include-package my_project
local transformer_model = std.extVar('MFT_ENCODER');

{
  dataset_reader: {
    type: 'csv_reviews',
    tokenizer: { type: 'pretrained_transformer', model_name: transformer_model, max_length: 128 },
    token_indexers: { tokens: { type: 'pretrained_transformer', model_name: transformer_model } },
  },
  train_data_path: 'data/train/books.csv',
  validation_data_path: 'data/dev/books.csv',
  model: {
    type: 'basic_classifier',
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
  },
}
