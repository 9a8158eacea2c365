// One training run of `allennlp mft-experiment`, built from the same pieces as the task configs.
// The runner evaluates `run(spec)` with a spec such as
//   { task: 'taxonomy', kind: 'mft', variant: 'full', seed: 13, train: ..., dev: ...,
//     reader: { max_length: 128 }, train_sample: { sample_fraction: 0.1 }, domain: null,
//     stage1_archive: null, stage1: { epochs, lr, batch_size, lambda, alpha, skip_layers,
//     reversal_weight, reversal_schedule, prototypes_per_class, mft_model },
//     stage2: { epochs, lr, batch_size } }
// and writes the result as the run's config file. The run's seed also seeds the few-shot sample
// (plan.py puts it into train_sample as sample_seed) and, with more than one prototype per
// class, the k-means of typicality; see mft_plugin/experiments/plan.py.
// With the experiment's own `dataset_reader` (task 'custom') the spec also holds that section,
// and `model` the keys added to every run's model section.
// stage1.mft_model holds more options of MFT's model, merged into its section (plan.py leaves
// the typicality ones out for MFT (DC)); a stage-2 spec with stage1_label_classifier: false
// loads the stage-1 encoder only (BERT (MTL) on a domain it has no head for).
// validate: 'last_epoch' scores dev after the last (kept) epoch only; 'every_epoch' (the default)
// leaves the config as it was.
local common = import 'common.libsonnet';
local merge_nested = import 'merge.libsonnet';

local tasks = {
  nli: import 'nli/base.libsonnet',
  reviews: import 'reviews/base.libsonnet',
  taxonomy: import 'taxonomy/base.libsonnet',
};

{
  run(spec)::
    // Your own data (task 'custom'): the experiment's dataset_reader section instead of a task's.
    local custom = std.objectHas(spec, 'dataset_reader');
    assert custom || std.objectHas(tasks, spec.task) : 'unknown task ' + spec.task;
    local task_reader = if custom then { dataset_reader: spec.dataset_reader } else tasks[spec.task];
    local task = task_reader + {
      dataset_reader+: spec.reader + spec.train_sample,
      train_data_path: spec.train,
      validation_data_path: spec.dev,
    };
    local s1 = spec.stage1;
    local s2 = spec.stage2;
    // J > 1 prototypes are found by k-means, seeded like the rest of the run; with J = 1 the
    // section stays as it was, so finished single-prototype runs keep their configs.
    local prototypes =
      if s1.prototypes_per_class > 1 then
        { typicality+: { prototypes_per_class: s1.prototypes_per_class, seed: spec.seed } }
      else {};
    local config =
      if spec.kind == 'mix' then
        common.mixed_finetune(task, s2.epochs, s2.lr, s2.batch_size)
      else if spec.kind == 'mix_stage1' then  // BERT (Mix+FT)'s stage 1: pooled, as long as MFT's
        common.mixed_finetune(task, s1.epochs, s1.lr, s1.batch_size)
      else if spec.kind == 'single_domain' then
        common.single_domain(task, spec.domain, spec.stage1_archive, s2.epochs, s2.lr, s2.batch_size,
                             stage1_label_classifier=std.get(spec, 'stage1_label_classifier', true))
      else if spec.kind == 'mtl' then
        common.multi_task(task, s1.epochs, s1.lr, s1.batch_size)
      else if spec.kind == 'adv' then
        common.adversarial(task, s1.reversal_weight, s1.reversal_schedule, s1.epochs, s1.lr, s1.batch_size)
      else if spec.kind == 'mft' then
        local stage1 =
          common.mft_stage1(task, spec.variant, s1.lambda, s1.alpha, s1.epochs, s1.lr, s1.batch_size)
          + { model+: { skip_layers: s1.skip_layers } + (if spec.variant == 'dc' then {} else prototypes) };
        local options = std.get(s1, 'mft_model', {});
        if std.length(options) == 0 then stage1
        else stage1 + { model: merge_nested(stage1.model, options) }
      else error 'unknown run kind ' + spec.kind;
    // Few-shot samples are drawn from the training data only; dev and test are read whole.
    local validation_reader =
      if std.length(std.objectFields(spec.train_sample)) == 0 then {}
      else { validation_dataset_reader: config.dataset_reader + { sample_fraction: null, sample_count: null } };
    local validation =
      if std.get(spec, 'validate', 'every_epoch') == 'every_epoch' then {}
      else {
        trainer+: {
          callbacks: [
            if callback.type == 'mft_keep_last_epoch' then callback + { validate_every_epoch: false }
            else callback
            for callback in super.callbacks
          ],
        },
      };
    // The experiment's `model` keys (e.g. a basic_classifier's seq2vec_encoder and feedforward)
    // on top of every run's model section.
    local model =
      if std.objectHas(spec, 'model') then { model: merge_nested(config.model, spec.model) } else {};
    config + validation_reader + validation + model
    + { random_seed: spec.seed, numpy_seed: spec.seed, pytorch_seed: spec.seed },
}
