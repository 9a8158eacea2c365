// Transfer to a new domain, Amazon reviews: for each of books, dvd, electronics and kitchen in
// turn, every stage-1 method (BERT (Mix), BERT (MTL), BERT (Adv), MFT (Full)) trains on the
// other three domains only, is scored on the held-out one without training on it (zero-shot),
// and is fine-tuned on 32 and 128 of its training instances and on all of them, against BERT (S)
// from the pretrained encoder on the same instances. Three seeds.
// Every stage-1 method trains 3 epochs, as many as BERT (Mix) trains pooled (stage2.epochs), so
// that no method has more steps on the other domains; the settings of Table 3 otherwise.
// allennlp mft-experiment training_configs/experiments/transfer_amazon.jsonnet -s runs/transfer-amazon
local tasks = import 'tasks.libsonnet';

tasks.reviews + {
  name: 'Transfer to a new domain: Amazon reviews',
  methods: ['bert_s', 'bert_mix', 'bert_mtl', 'bert_adv', 'mft_full'],
  seeds: tasks.seeds,
  bf16: true,
  stage1: { epochs: 3, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  // a few shots make a few steps an epoch: more epochs for fewer instances
  transfer: { shots: [32, 128, null], epochs: { '32': 20, '128': 10, all: 3 } },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
