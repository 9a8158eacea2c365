// Domain taxonomy construction as term-pair hypernymy (paper Table 4): domain = taxonomy.
// Data: $MFT_DATA_DIR/taxonomy/{train,dev}/<domain>.tsv, lines "hyponym<TAB>hypernym<TAB>label".
local common = import '../common.libsonnet';

{
  dataset_reader: {
    type: 'mft_term_pairs',
    model_name: common.encoder,
    max_length: common.defaults.max_length,
  },
  train_data_path: common.data_dir + '/taxonomy/train',
  validation_data_path: common.data_dir + '/taxonomy/dev',
}
