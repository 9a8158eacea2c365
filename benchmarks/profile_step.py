"""
Where a training step's time goes, by operator: the plain fine-tuning config's model and
optimizer on length-bucketed batches of real data, under torch.profiler, on whichever stack runs
this script. Run it with each stack's Python to compare them:

    .venv/bin/python benchmarks/profile_step.py --task nli --bf16
    .venv-classic/bin/python benchmarks/profile_step.py --task nli --bf16

Prints the seconds per step, the share of the step in each group of operators (matrix
products, attention, the optimizer, ...) and the top operators by their own CPU time.
"""
import argparse
import json
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT  # noqa: E402

TASK_TRAIN = {"nli": "mnli/train.jsonl", "reviews": "amazon/train", "taxonomy": "taxonomy/train"}
# Operator name fragments -> group (first match wins; matched against lower-cased names).
GROUPS = [
    ("optimizer", ("adam", "_foreach", "_fused")),
    ("attention", ("scaled_dot_product", "flash_attention", "softmax", "bmm", "baddbmm")),
    ("matrix products", ("addmm", "aten::mm", "matmul", "linear")),
    ("layer norm", ("layer_norm",)),
    ("activations", ("gelu", "tanh")),
    ("dropout", ("dropout", "bernoulli")),
    ("embeddings", ("embedding",)),
    ("dtype copies", ("aten::to", "_to_copy", "copy_")),
]


def group_of(name: str) -> str:
    lowered = name.lower()
    for group, fragments in GROUPS:
        if any(fragment in lowered for fragment in fragments):
            return group
    return "other"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="nli", choices=list(TASK_TRAIN))
    parser.add_argument("--bf16", action="store_true")
    parser.add_argument("--steps", type=int, default=12, help="profiled steps (after 3 warm-up)")
    parser.add_argument("--top", type=int, default=12)
    args = parser.parse_args()
    os.environ["MFT_BF16"] = "true" if args.bf16 else "false"
    import mft_plugin.plugin  # noqa: F401
    import torch
    import transformers
    from allennlp.common import Params
    from allennlp.data import DatasetReader, Vocabulary
    from allennlp.data.batch import Batch
    from allennlp.models import Model
    from allennlp.training.optimizers import Optimizer

    config = Params.from_file(
        str(PROJECT_ROOT / "training_configs" / args.task / "bert_mix.jsonnet")
    )
    reader = DatasetReader.from_params(config.pop("dataset_reader"))
    train = Path(os.environ["MFT_DATA_DIR"]) / TASK_TRAIN[args.task]
    instances = list(reader.read(train))
    vocab = Vocabulary.from_instances(instances)
    for instance in instances:
        instance.index_fields(vocab)
    model = Model.from_params(vocab=vocab, params=config.pop("model"))
    optimizer = Optimizer.from_params(
        model_parameters=list(model.named_parameters()),
        params=config.pop("trainer").pop("optimizer"),
    )
    # Length-bucketed batches of 32, as the configs' bucket sampler makes them.
    instances.sort(key=lambda instance: len(instance["tokens"]))
    batches = [Batch(instances[i : i + 32]).as_tensor_dict() for i in range(0, len(instances), 32)]
    step_batches = [batches[len(batches) * k // (args.steps + 3)] for k in range(args.steps + 3)]

    def step(batch):
        optimizer.zero_grad()
        model(**batch)["loss"].backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()

    model.train()
    for batch in step_batches[:3]:
        step(batch)
    with torch.profiler.profile(activities=[torch.profiler.ProfilerActivity.CPU]) as profile:
        start = time.perf_counter()
        for batch in step_batches[3:]:
            step(batch)
        seconds = (time.perf_counter() - start) / args.steps
    events = [event for event in profile.key_averages() if event.self_cpu_time_total > 0]
    total = sum(event.self_cpu_time_total for event in events)
    shares = defaultdict(float)
    for event in events:
        shares[group_of(event.key)] += event.self_cpu_time_total / total
    print(
        f"torch {torch.__version__}, transformers {transformers.__version__}, "
        f"{'bf16 autocast' if args.bf16 else 'float32'}, {args.steps} steps of 32 {args.task} "
        f"instances over the length range: {seconds:.3f} s a step (profiler on)"
    )
    print(
        json.dumps(
            {
                group: round(share, 3)
                for group, share in sorted(shares.items(), key=lambda kv: -kv[1])
            }
        )
    )
    for event in sorted(events, key=lambda e: -e.self_cpu_time_total)[: args.top]:
        print(
            f"  {event.key:45s} {event.self_cpu_time_total / 1e6 / args.steps:7.3f} s/step "
            f"{event.self_cpu_time_total / total:6.1%}  calls/step {event.count / args.steps:6.1f}"
        )


if __name__ == "__main__":
    main()
