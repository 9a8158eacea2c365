// Natural language inference over MultiNLI genres (paper Table 2): domain = genre.
// Data: $MFT_DATA_DIR/mnli/{train,dev}.jsonl (official jsonl; GLUE's TSV also reads).
local common = import '../common.libsonnet';

{
  dataset_reader: {
    type: 'mft_nli',
    model_name: common.encoder,
    max_length: common.defaults.max_length,
  },
  train_data_path: common.data_dir + '/mnli/train.jsonl',
  validation_data_path: common.data_dir + '/mnli/dev.jsonl',
}
