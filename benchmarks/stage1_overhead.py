"""
What stage 1 of MFT costs over plain fine-tuning, measured in one run on the same data and the
same batches.

Each configuration trains for two epochs through AllenNLP's trainer in a fresh process (so that
its peak RSS is its own); the second epoch is timed, so that neither run pays PyTorch's first
calls on new tensor shapes (the prototype pass would otherwise warm MFT's run up for free):
- plain: `training_configs/<task>/bert_mix.jsonnet` (plain fine-tuning on all domains);
- mft:   `training_configs/<task>/mft_full.jsonnet` (stage 1 of MFT, Full variant).
A timing callback records the training time of each epoch (validation excluded) and a hash of
every batch's instance ids, so the script can check that both runs saw the same batches.

Prints three ratios with their targets:
- MFT epoch ÷ plain epoch                       (target ≤ 1.03)
- prototype pass ÷ plain epoch                  (target ≤ 0.30)
- MFT peak RSS ÷ plain peak RSS                 (target ≤ 1.10)

    python benchmarks/stage1_overhead.py --task taxonomy --sample-count 1000
"""
import argparse
import hashlib
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from mft_plugin.settings import environment_defaults

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TARGETS = {"epoch": 1.03, "prototypes": 0.30, "rss": 1.10}


def worker(config: str, overrides: str, result_file: str) -> None:
    """Train one epoch of `config` in this process and write the measurements."""
    import mft_plugin  # noqa: F401  (registers the components and the MFT_* defaults)
    from allennlp.commands.train import train_model_from_file
    from allennlp.training.callbacks.callback import TrainerCallback

    measurements = {"batch_hashes": [], "epoch_start": {}, "epoch_end": {}}

    @TrainerCallback.register("benchmark_timer")
    class Timer(TrainerCallback):
        def on_start(self, trainer, is_primary=True, **kwargs):
            # Callbacks start in order: this one runs after the prototype pass.
            measurements["epoch_start"][0] = time.perf_counter()

        def on_batch(
            self,
            trainer,
            batch_inputs,
            batch_outputs,
            batch_metrics,
            epoch,
            batch_number,
            is_training,
            is_primary=True,
            **kwargs,
        ):
            if not is_training:
                return
            ids = [m["instance_id"] for batch in batch_inputs for m in batch["metadata"]]
            measurements["batch_hashes"].append(hashlib.sha1("|".join(ids).encode()).hexdigest())
            measurements["epoch_end"][epoch] = time.perf_counter()

        def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs):
            # the next epoch starts after this one's validation
            measurements["epoch_start"][epoch + 1] = time.perf_counter()

    with tempfile.TemporaryDirectory() as serialization_dir:
        train_model_from_file(config, serialization_dir, overrides=overrides)
        summary_file = Path(serialization_dir) / "prototypes.json"
        prototype_seconds = (
            json.loads(summary_file.read_text())["seconds"] if summary_file.exists() else None
        )
    result = {
        "epoch_seconds": measurements["epoch_end"][1] - measurements["epoch_start"][1],
        "first_epoch_seconds": measurements["epoch_end"][0] - measurements["epoch_start"][0],
        "prototype_seconds": prototype_seconds,
        "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
        "batches": len(measurements["batch_hashes"]),
        "batch_digest": hashlib.sha1("".join(measurements["batch_hashes"]).encode()).hexdigest(),
    }
    Path(result_file).write_text(json.dumps(result))


def measure(config: Path, overrides: dict) -> dict:
    with tempfile.NamedTemporaryFile(suffix=".json") as result_file:
        subprocess.run(
            [
                sys.executable,
                __file__,
                "--worker",
                str(config),
                json.dumps(overrides),
                result_file.name,
            ],
            cwd=PROJECT_ROOT,
            check=True,
        )
        return json.loads(Path(result_file.name).read_text())


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="taxonomy", choices=["taxonomy", "reviews", "nli"])
    parser.add_argument("--sample-count", type=int, default=None, help="instances per domain")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    overrides = {"trainer.num_epochs": 2}
    if args.sample_count:
        overrides["dataset_reader.sample_count"] = args.sample_count
    configs = PROJECT_ROOT / "training_configs" / args.task
    plain = measure(
        configs / "bert_mix.jsonnet",
        dict(overrides, **{"trainer.callbacks": [{"type": "benchmark_timer"}]}),
    )
    mft = measure(
        configs / "mft_full.jsonnet",
        dict(
            overrides,
            **{"trainer.callbacks": [{"type": "mft_prototypes"}, {"type": "benchmark_timer"}]},
        ),
    )
    same_batches = plain["batch_digest"] == mft["batch_digest"]
    ratios = {
        "epoch": mft["epoch_seconds"] / plain["epoch_seconds"],
        "prototypes": mft["prototype_seconds"] / plain["epoch_seconds"],
        "rss": mft["peak_rss_mb"] / plain["peak_rss_mb"],
    }
    encoder = os.environ.get("MFT_ENCODER") or environment_defaults()["MFT_ENCODER"]
    print(f"task {args.task}, {plain['batches'] // 2} batches of 32 an epoch, encoder {encoder}")
    print(f"same batches in both runs: {same_batches}")
    for name, run in (("plain fine-tuning", plain), ("MFT stage 1", mft)):
        print(
            f"{name + ' epoch 2:':24s} {run['epoch_seconds']:.1f}s (epoch 1: "
            f"{run['first_epoch_seconds']:.1f}s), peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    print(f"prototype pass:          {mft['prototype_seconds']:.1f}s")
    for name, label in (
        ("epoch", "MFT epoch / plain epoch"),
        ("prototypes", "prototype pass / plain epoch"),
        ("rss", "MFT peak RSS / plain peak RSS"),
    ):
        verdict = "met" if ratios[name] <= TARGETS[name] else "MISSED"
        print(f"{label:32s} {ratios[name]:.3f}  (target <= {TARGETS[name]:.2f}: {verdict})")


if __name__ == "__main__":
    main()
