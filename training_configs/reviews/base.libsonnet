// Review sentiment over Amazon product domains (paper Table 3): domain = product category.
// Data: $MFT_DATA_DIR/amazon/{train,dev}/<domain>/{positive,negative}.review (Blitzer's layout).
local common = import '../common.libsonnet';

{
  dataset_reader: {
    type: 'mft_reviews',
    model_name: common.encoder,
    max_length: common.defaults.max_length,
  },
  train_data_path: common.data_dir + '/amazon/train',
  validation_data_path: common.data_dir + '/amazon/dev',
}
