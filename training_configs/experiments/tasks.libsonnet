// The three tasks of the paper as `allennlp mft-experiment` sees them: domains and data paths.
// Data paths come from MFT_DATA_DIR (default ../shared/data); a held-out test set is given with
// `--test-data PATH` (or `-o '{"data": {"test": PATH}}'`).
local data_dir = std.extVar('MFT_DATA_DIR');

{
  all_methods:: ['bert_s', 'bert_mix', 'bert_mtl', 'bert_adv', 'mft_dc', 'mft_tw', 'mft_full'],
  // Not in the paper: BERT (Mix+FT), MFT's two stages without its losses (see spec.py's METHODS).
  controls:: ['bert_mix_ft'],
  seeds:: [13, 14, 15],  // "All the experiments are conducted three times" (§4.1)

  nli:: {
    task: 'nli',
    domains: ['telephone', 'government', 'slate', 'travel', 'fiction'],
    data: { train: data_dir + '/mnli/train.jsonl', dev: data_dir + '/mnli/dev.jsonl', test: null },
  },
  reviews:: {
    task: 'reviews',
    domains: ['books', 'dvd', 'electronics', 'kitchen'],
    data: { train: data_dir + '/amazon/train', dev: data_dir + '/amazon/dev', test: null },
  },
  taxonomy:: {
    task: 'taxonomy',
    domains: ['animal', 'plant', 'vehicle'],
    data: { train: data_dir + '/taxonomy/train', dev: data_dir + '/taxonomy/dev', test: null },
  },
}
