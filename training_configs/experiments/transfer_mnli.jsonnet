// Transfer to a new domain, MNLI genres: for each of telephone, government, slate, travel and
// fiction in turn, every stage-1 method (BERT (Mix), BERT (MTL), BERT (Adv), MFT (Full)) trains
// on the other four genres only, is scored on the held-out one without training on it
// (zero-shot), and is fine-tuned on 32 and 128 of its training pairs and on all of them (~470),
// against BERT (S) from the pretrained encoder on the same pairs. Three seeds.
// Every stage-1 method trains 5 epochs, as many as BERT (Mix) trains pooled (stage2.epochs), so
// that no method has more steps on the other genres; the settings of Table 2 otherwise, under
// bf16 autocast as the MNLI probes.
// allennlp mft-experiment training_configs/experiments/transfer_mnli.jsonnet -s runs/transfer-mnli
local tasks = import 'tasks.libsonnet';

tasks.nli + {
  name: 'Transfer to a new domain: MNLI genres',
  methods: ['bert_s', 'bert_mix', 'bert_mtl', 'bert_adv', 'mft_full'],
  seeds: tasks.seeds,
  bf16: true,
  stage1: { epochs: 5, lr: 1e-4, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 5, lr: 1e-4, batch_size: 32 },
  // a few shots make a few steps an epoch: more epochs for fewer instances
  transfer: { shots: [32, 128, null], epochs: { '32': 20, '128': 10, all: 5 } },
  // dev scored after the kept (last) epoch only: the same models in less time (spec.py)
  validate: 'last_epoch',
}
