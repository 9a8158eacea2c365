// Pieces shared by every experiment of the plugin.
//
// Settings come from the MFT_* environment variables (the table of them, with their defaults and
// meanings, is ENVIRONMENT in mft_plugin/settings.py, shown in docs/configuration.md; importing
// the plugin fills in the default of every unset one), and every key can be overridden with
// `allennlp train -o '{...}'`. The stage settings (learning rate, epochs, batch size, λ, α) are
// in defaults.libsonnet.
local skip_layers_setting = std.extVar('MFT_SKIP_LAYERS');

{
  encoder:: std.extVar('MFT_ENCODER'),
  data_dir:: std.extVar('MFT_DATA_DIR'),
  seed:: std.parseInt(std.extVar('MFT_SEED')),
  bf16:: std.asciiLower(std.extVar('MFT_BF16')) == 'true',
  domain:: std.extVar('MFT_DOMAIN'),
  stage1_archive:: std.extVar('MFT_STAGE1'),
  keep_epoch:: std.extVar('MFT_KEEP_EPOCH'),
  skip_layers:: if skip_layers_setting == 'auto' then null
                else std.map(std.parseInt, std.split(skip_layers_setting, ',')),

  // The stage settings (§4.1 of the paper), shared with `allennlp mft-experiment`.
  defaults:: import 'defaults.libsonnet',

  text_field_embedder:: {
    token_embedders: {
      tokens: { type: 'pretrained_transformer', model_name: $.encoder },
    },
  },

  // Batches of similar length ("bucket"): less padding, the same instances per epoch.
  // `mft_transformer` collation: AllenNLP's batches, padded a key at a time for the whole batch
  // rather than instance by instance (mft_plugin/data/collate.py; several ms a step).
  data_loaders(batch_size):: {
    data_loader: {
      batch_sampler: { type: 'bucket', batch_size: batch_size, sorting_keys: ['tokens'] },
      collate_fn: { type: 'mft_transformer' },
    },
    validation_data_loader: {
      batch_sampler: { type: 'bucket', batch_size: 2 * batch_size, sorting_keys: ['tokens'], shuffle: false },
      collate_fn: { type: 'mft_transformer' },
    },
  },

  // BERT's fine-tuning recipe: AdamW (torch's, fused where torch has the kernel: see
  // mft_plugin/optimizers.py) with weight decay 0.01 except on biases and LayerNorm,
  // linear warm-up over the first 10% of the steps, then linear decay.
  // The model a run keeps: its last epoch (Algorithm 1 stops after a fixed number of
  // iterations, and every method is scored alike, at its last epoch), or with keep='best' the
  // epoch of the best validation accuracy.
  trainer(num_epochs, lr, callbacks=[], keep=$.keep_epoch)::
    assert std.member(['last', 'best'], keep) : 'keep (MFT_KEEP_EPOCH) must be last or best, not ' + keep;
    {
      num_epochs: num_epochs,
      validation_metric: '+accuracy',
      optimizer: {
        type: 'mft_adamw',
        lr: lr,
        weight_decay: 0.01,
        // No weight decay for biases and norm weights: `LayerNorm` in BERT and MiniLM, `layer_norm`
        // in DistilBERT-style names. One alternation, since AllenNLP warns about every regex of the
        // list that matches no parameter (each encoder has only one of the two spellings).
        parameter_groups: [[['bias', '(LayerNorm|layer_norm)\\.weight'], { weight_decay: 0.0 }]],
      },
      learning_rate_scheduler: { type: 'slanted_triangular', cut_frac: 0.1 },
      grad_norm: 1.0,
      // Mid-epoch checkpoints, so that an interrupted run resumes with --recover (counted in
      // batches: AllenNLP refuses time-based checkpoints in distributed training), written
      // atomically and skipped on --recover when broken (mft_plugin/checkpointer.py).
      checkpointer: { type: 'mft_checkpointer', save_every_num_batches: 200 },
      // AllenNLP's console logger, which the trainer adds last by default, without its dump of
      // the first batch's tensors (token ids, masks, labels) into the log.
      callbacks: callbacks + (if keep == 'last' then [{ type: 'mft_keep_last_epoch' }] else [])
                 + [{ type: 'console_logger', should_log_inputs: false }],
    },

  seeds:: { random_seed: $.seed, numpy_seed: $.seed, pytorch_seed: $.seed },

  // Plain fine-tuning of one model on every domain of `task` pooled: BERT (Mix) of the paper.
  mixed_finetune(task, num_epochs=$.defaults.stage2.epochs, lr=$.defaults.stage2.lr,
                 batch_size=$.defaults.stage2.batch_size)::
    $.seeds + task + $.data_loaders(batch_size) + {
      model: { type: 'mft_transformer_classifier', text_field_embedder: $.text_field_embedder, bf16: $.bf16 },
      trainer: $.trainer(num_epochs, lr),
    },

  // Fine-tuning on one domain only: BERT (S) from the pretrained encoder, or stage 2 of MFT,
  // MTL and Adv from a stage-1 archive, whose encoder (with its seq2vec_encoder and
  // feedforward, where the model section has them) and label classifier (for MTL: the
  // domain's own head) are loaded by the `mft_stage1` initializer; its other heads stay behind.
  // The initializer matches the classifier's rows to labels by name; the stage-1 vocabulary
  // (`mft_stage1`: checked against the stage-2 data) keeps the label order too, and the labels
  // of stage-1 classes the stage-2 data lacks. With stage1_label_classifier=false only the
  // encoder is loaded and the label classifier starts afresh: a BERT (MTL) archive on a domain
  // it has no head for (a new domain).
  single_domain(task, domain, stage1_archive=null, num_epochs=$.defaults.stage2.epochs,
                lr=$.defaults.stage2.lr, batch_size=$.defaults.stage2.batch_size, stage1_label_classifier=true)::
    assert domain != '' : 'single-domain fine-tuning needs a domain (MFT_DOMAIN)';
    local from_stage1 = stage1_archive != null && stage1_archive != '';
    // The encoder: the transformer and whatever a basic_classifier-shaped model section puts
    // on top of it (seq2seq_encoder, seq2vec_encoder, feedforward), all shared by the domains.
    local encoder =
      '_text_field_embedder\\..*|_seq2seq_encoder\\..*|_seq2vec_encoder\\..*|_feedforward\\..*';
    local loaded =
      if stage1_label_classifier then encoder + '|_label_classifier\\..*'
      else encoder;
    $.seeds + task + $.data_loaders(batch_size) + {
      dataset_reader+: { domains: [domain] },
      model: {
        type: 'mft_transformer_classifier',
        text_field_embedder: $.text_field_embedder,
        bf16: $.bf16,
        [if from_stage1 then 'initializer']: {
          regexes: [[
            loaded,
            { type: 'mft_stage1', weights_file_path: stage1_archive, domain: domain },
          ]],
        },
      },
      [if from_stage1 then 'vocabulary']: { type: 'mft_stage1', archive: stage1_archive },
      trainer: $.trainer(num_epochs, lr),
    },

  // BERT (MTL), stage 1: shared encoder, one classifier a domain, single-domain batches.
  multi_task(task, num_epochs=$.defaults.stage1.epochs, lr=$.defaults.stage1.lr,
             batch_size=$.defaults.stage1.batch_size)::
    $.seeds + task + $.data_loaders(batch_size) + {
      data_loader: {
        batch_sampler: { type: 'mft_single_domain_bucket', batch_size: batch_size, sorting_keys: ['tokens'] },
        collate_fn: { type: 'mft_transformer' },
      },
      model: { type: 'mft_multi_task', text_field_embedder: $.text_field_embedder, bf16: $.bf16 },
      trainer: $.trainer(num_epochs, lr),
    },

  // BERT (Adv), stage 1: Mix plus a domain classifier behind a gradient-reversal layer.
  adversarial(task, reversal_weight=$.defaults.stage1.reversal_weight,
              reversal_schedule=$.defaults.stage1.reversal_schedule, num_epochs=$.defaults.stage1.epochs,
              lr=$.defaults.stage1.lr, batch_size=$.defaults.stage1.batch_size)::
    $.seeds + task + $.data_loaders(batch_size) + {
      model: {
        type: 'mft_adversarial',
        text_field_embedder: $.text_field_embedder,
        bf16: $.bf16,
        reversal_weight: reversal_weight,
        reversal_schedule: reversal_schedule,
      },
      trainer: $.trainer(num_epochs, lr, callbacks=[{ type: 'mft_training_progress' }]),
    },

  // Stage 1 of MFT on every domain of `task` (a task's base.libsonnet), one of the paper's
  // three variants: full, dc (no typicality weights) or tw (no domain corruption).
  mft_stage1(task, variant, lambda=$.defaults.stage1.lambda, alpha=$.defaults.stage1.alpha,
             num_epochs=$.defaults.stage1.epochs, lr=$.defaults.stage1.lr,
             batch_size=$.defaults.stage1.batch_size)::
    assert std.member(['full', 'dc', 'tw'], variant) : 'variant must be full, dc or tw';
    $.seeds + task + $.data_loaders(batch_size) + {
      model: {
        type: 'meta_fine_tuning',
        text_field_embedder: $.text_field_embedder,
        bf16: $.bf16,
        skip_layers: $.skip_layers,
        domain_corruption_weight: if variant == 'tw' then 0.0 else lambda,
        typicality: if variant == 'dc' then null else { alpha: alpha },
      },
      trainer: $.trainer(num_epochs, lr, callbacks=[{ type: 'mft_prototypes' }]),
    },
}
