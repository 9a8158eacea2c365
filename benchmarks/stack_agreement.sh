#!/usr/bin/env bash
# Does the default stack (torch 2, transformers 4.4x) train the same model as AllenNLP's own
# pins? One config, one seed, trained on both stacks one after the other; prints each run's
# dev accuracy per epoch and the difference of the kept (last) epoch.
#
#   benchmarks/stack_agreement.sh [CONFIG] [OUTPUT_DIR]
#   MFT_BF16=true benchmarks/stack_agreement.sh training_configs/taxonomy/mft_full.jsonnet
#
# Needs both environments: `make install` and `make install STACK=classic`.
set -euo pipefail
cd "$(dirname "$0")/.."
config=${1:-training_configs/taxonomy/mft_full.jsonnet}
output=${2:-runs/stack-agreement}
export MFT_SEED=${MFT_SEED:-13}
for stack in default classic; do
    venv=.venv; [ "$stack" = classic ] && venv=.venv-classic
    rm -rf "$output/$stack"
    start=$(date +%s)
    "$venv/bin/allennlp" train "$config" -s "$output/$stack" > "$output-$stack.log" 2>&1
    echo "$stack: $("$venv/bin/python" -c 'import torch, transformers; print("torch", torch.__version__, "transformers", transformers.__version__)'), $(( $(date +%s) - start )) s"
done
.venv/bin/python - "$output" <<'PY'
import json, sys
from pathlib import Path

output = Path(sys.argv[1])
kept = {}
for stack in ("default", "classic"):
    epochs = sorted(output.glob(f"{stack}/metrics_epoch_*.json"), key=lambda p: int(p.stem.split("_")[-1]))
    accuracies = [json.loads(p.read_text())["validation_accuracy"] * 100 for p in epochs]
    kept[stack] = json.loads((output / stack / "metrics.json").read_text())["validation_accuracy"] * 100
    print(f"{stack:8s} dev accuracy by epoch: " + ", ".join(f"{a:.2f}" for a in accuracies) + f"; kept {kept[stack]:.2f}")
print(f"default - classic: {kept['default'] - kept['classic']:+.2f} points")
PY
