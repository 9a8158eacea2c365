#!/usr/bin/env bash
# Run (or resume) one paper experiment with `allennlp mft-experiment` and publish its results
# under benchmarks/results/<name>/ with the exact command, the wall time and the machine.
#
#   benchmarks/run_experiment.sh NAME EXPERIMENT_FILE [OVERRIDES_JSON]
#   benchmarks/run_experiment.sh table4_taxonomy training_configs/experiments/table4_taxonomy.jsonnet '{"bf16": true}'
#
# Training output goes to runs/<name>/ (not committed); started again, the experiment resumes.
# The scores of its finished runs are kept under benchmarks/results/<name>/runs/ (see
# benchmarks/run_scores.sh) and restored from there when runs/<name>/ lacks them, so that a new
# checkout resumes it too.
set -euo pipefail
cd "$(dirname "$0")/.."
name=$1
experiment=$2
overrides=${3:-}
output=runs/$name
published=benchmarks/results/$name
mkdir -p "$output" "$published"

command=(.venv/bin/allennlp mft-experiment "$experiment" -s "$output")
shown="${command[*]}"  # as it would be typed into a shell
[ -n "$overrides" ] && command+=(-o "$overrides") && shown+=" -o '$overrides'"

benchmarks/run_scores.sh restore "$name"
start=$(date +%s)
log_start=$(stat -c %s "$output/experiment.log" 2>/dev/null || echo 0)
set +e
"${command[@]}" 2>&1 | tee -a "$output/experiment.log" | grep -E "mft_plugin.experiments|Error|error:" --line-buffered
status=${PIPESTATUS[0]}
set -e
seconds=$(( $(date +%s) - start ))
# The runner's count of this invocation's runs ("N runs planned, M already finished, K to
# train", from this invocation's part of the log): tells a resumed or re-scoring invocation
# from a full one.
planned=$(tail -c +$((log_start + 1)) "$output/experiment.log" \
    | grep -o '[0-9]* runs planned, [0-9]* already finished, [0-9]* to train' | tail -n 1 || true)

benchmarks/run_scores.sh save "$name"
cp "$output"/results.md "$output"/results.json "$published"/ 2>/dev/null || true
cp "$output"/results.png "$published"/ 2>/dev/null || true
# the results index lists every published experiment (tests/experiments/test_results_pages.py)
.venv/bin/python -m mft_plugin.experiments.pages benchmarks/results docs/results.md --no-plots >/dev/null \
    || echo "run_experiment: docs/results.md not rebuilt; run 'make results'" >&2
{
    echo "- $(date -u '+%Y-%m-%d %H:%M UTC'): \`$shown\`"
    echo "  exit status $status, wall time ${seconds}s ($(awk "BEGIN {printf \"%.1f\", $seconds/3600}") h)${planned:+; $planned}"
    echo "  machine: $(nproc) cores of $(lscpu | sed -n 's/^Model name: *//p'), $(free -g | awk '/^Mem:/ {print $2}') GiB;" \
        "torch $(.venv/bin/python -c 'import torch; print(torch.__version__)'), $(.venv/bin/python -c 'import torch; print(torch.get_num_threads())') threads"
} >> "$published/RUNS.md"
exit "$status"
