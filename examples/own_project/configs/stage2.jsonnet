// Stage 2 of MFT: fine-tune on one category from the stage-1 archive. classifier.jsonnet with
// the model type mft_transformer_classifier and an initializer and vocabulary that load the
// stage-1 encoder, pooler and label classifier; the reader wrapped by mft_multi_domain.
//   MFT_STAGE1=runs/stage1/model.tar.gz MFT_DOMAIN=books \
//   allennlp train configs/stage2.jsonnet -s runs/stage2-books \
//     --include-package mft_plugin --include-package my_project
local transformer_model = std.extVar('MFT_ENCODER');
local stage1 = std.extVar('MFT_STAGE1');
local domain = std.extVar('MFT_DOMAIN');

{
  dataset_reader: {
    type: 'mft_multi_domain',
    base_reader: {
      type: 'csv_reviews',
      tokenizer: { type: 'pretrained_transformer', model_name: transformer_model, max_length: 128 },
      token_indexers: { tokens: { type: 'pretrained_transformer', model_name: transformer_model } },
    },
  },
  train_data_path: { [domain]: 'data/train/' + domain + '.csv' },
  validation_data_path: { [domain]: 'data/dev/' + domain + '.csv' },
  model: {
    type: 'mft_transformer_classifier',
    text_field_embedder: {
      token_embedders: { tokens: { type: 'pretrained_transformer', model_name: transformer_model } },
    },
    seq2vec_encoder: { type: 'bert_pooler', pretrained_model: transformer_model },
    dropout: 0.1,
    namespace: 'tags',
    initializer: {
      regexes: [[
        '_text_field_embedder\\..*|_seq2vec_encoder\\..*|_label_classifier\\..*',
        { type: 'mft_stage1', weights_file_path: stage1, domain: domain },
      ]],
    },
  },
  vocabulary: { type: 'mft_stage1', archive: stage1 },
  data_loader: { batch_sampler: { type: 'bucket', batch_size: 8, sorting_keys: ['tokens'] } },
  trainer: {
    num_epochs: 2,
    optimizer: { type: 'adamw', lr: 2e-5, weight_decay: 0.01 },
  },
}
