#!/usr/bin/env bash
# Run a list of experiments one after the other with benchmarks/run_experiment.sh, each
# published when it ends. Started again (after a stop or a restart) it goes through the list
# again: finished experiments only re-score, an interrupted one resumes where it stopped.
#
#   benchmarks/run_queue.sh [QUEUE_FILE]        # default benchmarks/queue.txt
#   nohup nice -n 10 benchmarks/run_queue.sh > runs/queue.log 2>&1 &
#
# A queue line is `NAME EXPERIMENT_FILE [OVERRIDES_JSON]`; blank lines and # comments are
# skipped. Only one queue runs at a time (a lock in runs/); a failed experiment is reported and
# the queue goes on with the next.
set -uo pipefail
cd "$(dirname "$0")/.."
queue=${1:-benchmarks/queue.txt}
mkdir -p runs
exec 9> runs/.queue.lock
if ! flock -n 9; then
    echo "run_queue: another queue is running (runs/.queue.lock)" >&2
    exit 1
fi
failed=()
while read -r name experiment overrides; do
    case "$name" in ""|\#*) continue ;; esac
    echo "$(date -u '+%F %T UTC') run_queue: $name ($experiment)"
    if ! benchmarks/run_experiment.sh "$name" "$experiment" ${overrides:+"$overrides"} < /dev/null; then
        echo "$(date -u '+%F %T UTC') run_queue: $name failed; see runs/$name/experiment.log"
        failed+=("$name")
    fi
done < "$queue"
echo "$(date -u '+%F %T UTC') run_queue: done${failed[*]:+; failed: ${failed[*]}}"
[ ${#failed[@]} -eq 0 ]
