// Transfer to a new domain, Taxonomy: for each of animal, plant and vehicle in turn, every
// stage-1 method (BERT (Mix), BERT (MTL), BERT (Adv), MFT (Full)) trains on the other two
// domains only, is scored on the held-out one without training on it (zero-shot), and is
// fine-tuned on 32 and 128 of its training instances and on all of them, against BERT (S) from
// the pretrained encoder on the same instances. Three seeds.
// Every stage-1 method trains 3 epochs, as many as BERT (Mix) trains pooled (stage2.epochs), so
// that no method has more steps on the other domains; the settings of Table 4 otherwise.
// allennlp mft-experiment training_configs/experiments/transfer_taxonomy.jsonnet -s runs/transfer-taxonomy
local tasks = import 'tasks.libsonnet';

tasks.taxonomy + {
  name: 'Transfer to a new domain: Taxonomy',
  methods: ['bert_s', 'bert_mix', 'bert_mtl', 'bert_adv', 'mft_full'],
  seeds: tasks.seeds,
  bf16: true,
  stage1: { epochs: 3, lr: 2e-5, batch_size: 32, lambda: 0.1, alpha: 0.5 },
  stage2: { epochs: 3, lr: 2e-5, batch_size: 32 },
  // a few shots make a few steps an epoch: more epochs for fewer instances
  transfer: { shots: [32, 128, null], epochs: { '32': 20, '128': 10, all: 3 } },
}
