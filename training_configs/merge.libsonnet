// `patch` merged into `target`: objects key by key, any other value (null too) replaces.
// Unlike std.mergePatch, a null in `patch` sets the key to null rather than removing it (an
// `mft_model` option such as `typicality: null` must reach the model).
// experiment.libsonnet merges an experiment's model options into a run's model section with it,
// and mft_plugin/experiments/plan.py's `merge_nested` (a sweep value's options on top of
// stage1.mft_model) evaluates this same function.
local merge_nested(target, patch) =
  if std.isObject(target) && std.isObject(patch) then
    std.foldl(
      function(merged, key)
        merged + {
          [key]:
            if std.objectHas(merged, key) then merge_nested(merged[key], patch[key])
            else patch[key],
        },
      std.objectFields(patch),
      target
    )
  else patch;

merge_nested
