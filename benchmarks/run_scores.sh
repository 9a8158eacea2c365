#!/usr/bin/env bash
# Keep the scores of an experiment's finished runs beside its published results, so that the
# experiment resumes on a machine where runs/ is gone (a new checkout) without training them
# again: what the runner needs to score a run whose model.tar.gz is not there (config.json,
# metrics.json and its evaluations; a few KB a run, no weights).
#
#   benchmarks/run_scores.sh save NAME      # runs/NAME/<run>/ -> benchmarks/results/NAME/runs/<run>/
#   benchmarks/run_scores.sh restore NAME   # the other way, into run folders that do not exist
#
# `save` copies finished runs only (metrics.json and no checkpoint left to resume from, what
# ExperimentRunner.status calls `done` or `scored`; keep the two in step).
# `restore` leaves any existing run folder alone; a restored run is retrained only if a run still
# to train starts from it (a stage 1 whose stage 2 did not finish), see
# mft_plugin/experiments/runner.py. The configs hold absolute paths: restored into another
# checkout folder, the runner refuses them as trained with other settings.
set -euo pipefail
cd "$(dirname "$0")/.."
action=$1
name=$2
runs=runs/$name
kept=benchmarks/results/$name/runs
files=(config.json metrics.json 'zero-shot-*.json' 'test-metrics-*.json')

copy_scores() {  # copy_scores FROM_DIR TO_DIR
    mkdir -p "$2"
    for pattern in "${files[@]}"; do
        for file in "$1"/$pattern; do
            [ -f "$file" ] && cp -p "$file" "$2"/
        done
    done
    return 0
}

case "$action" in
    save)
        [ -d "$runs" ] || exit 0
        find "$runs" -name metrics.json | sort | while read -r metrics; do
            run=$(dirname "$metrics")
            compgen -G "$run/model_state_e*.th" > /dev/null && continue  # still to resume
            copy_scores "$run" "$kept/${run#"$runs"/}"
        done
        ;;
    restore)
        [ -d "$kept" ] || exit 0
        find "$kept" -name metrics.json | sort | while read -r metrics; do
            run=${metrics%/metrics.json}
            target=$runs/${run#"$kept"/}
            [ -e "$target" ] && continue
            copy_scores "$run" "$target"
        done
        ;;
    *)
        echo "usage: $0 save|restore NAME" >&2
        exit 2
        ;;
esac
