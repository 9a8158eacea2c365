// The one home of the stage settings: the paper's (§4.1) and the defaults of an experiment file.
//
// Read by common.libsonnet (the `allennlp train` configs under nli/, reviews/, taxonomy/) and by
// `allennlp mft-experiment` (mft_plugin/settings.py `stage_defaults`, for every key an experiment
// file leaves out), so a change here changes both. docs/configuration.md shows them as a table
// (`make docs` writes it; a test checks it is current).
{
  // Word pieces per instance; longer pairs are truncated longest first (§4.1: 128).
  max_length: 128,

  // Stage 1: MFT (Algorithm 1), BERT (MTL), BERT (Adv), and BERT (Mix+FT)'s pooled stage.
  stage1: {
    epochs: 1,  // the paper does not give it; one pass over the pooled domains
    lr: 2e-5,
    batch_size: 32,
    lambda: 0.1,  // λ: weight of the domain corruption losses (eq. 5)
    alpha: 0.5,  // α: weight of the instance's own domain in its typicality (eq. 2)
    skip_layers: null,  // Ls; null: thirds of the encoder's depth
    reversal_weight: 0.1,  // BERT (Adv): strength of the reversed domain gradient
    reversal_schedule: 'fixed',  // BERT (Adv): 'fixed' or 'dann' (ramped up over training)
    prototypes_per_class: 1,  // J: prototypes per class and domain (k-means when J > 1)
    mft_model: {},  // more options of the meta_fine_tuning model
  },

  // Fine-tuning: BERT (S), BERT (Mix), and every stage 2 (one domain, from a stage-1 archive).
  stage2: {
    epochs: 3,
    lr: 2e-5,
    batch_size: 32,
  },

  // Transfer experiments (not in the paper): each domain held out in turn.
  transfer: {
    shots: [32, 128, null],  // training instances of the held-out domain; null: all of them
    epochs: {},  // stage-2 epochs per shots value, e.g. { '32': 20 }; default stage2.epochs
    held_out: null,  // domains to hold out; null: every domain in turn
  },
}
