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
- MFT epoch / plain epoch                       (target <= 1.03)
- prototype pass / plain epoch                  (target <= 0.30)
- MFT peak RSS / plain peak RSS                 (target <= 1.10)

    python benchmarks/stage1_overhead.py --task taxonomy --sample-count 1000
"""
import argparse
import json
import os
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    PROJECT_ROOT,
    batch_digest,
    epoch_seconds,
    measure_in_subprocess,
    peak_rss_mb,
    register_epoch_timer,
    verdict,
)

TARGETS = {"epoch": 1.03, "prototypes": 0.30, "rss": 1.10}


def worker(result_file: str, config: str, overrides: str) -> None:
    """Train `config` in this process and write the measurements."""
    import mft_plugin.plugin  # noqa: F401  (registers the components and the MFT_* defaults)
    from allennlp.commands.train import train_model_from_file

    measurements: dict = {}
    timer = register_epoch_timer(measurements)
    overrides_dict = json.loads(overrides)
    callbacks = [{"type": "mft_prototypes"}] if "mft" in Path(config).name else []
    overrides_dict["trainer.callbacks"] = callbacks + [{"type": timer}]
    with tempfile.TemporaryDirectory() as serialization_dir:
        train_model_from_file(config, serialization_dir, overrides=json.dumps(overrides_dict))
        summary_file = Path(serialization_dir) / "prototypes.json"
        prototype_seconds = (
            json.loads(summary_file.read_text())["seconds"] if summary_file.exists() else None
        )
    Path(result_file).write_text(
        json.dumps(
            {
                "epoch_seconds": epoch_seconds(measurements),
                "prototype_seconds": prototype_seconds,
                "peak_rss_mb": peak_rss_mb(),
                "batches": len(measurements["batch_hashes"]),
                "batch_digest": batch_digest(measurements),
            }
        )
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="taxonomy", choices=["taxonomy", "reviews", "nli"])
    parser.add_argument("--sample-count", type=int, default=None, help="instances per domain")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(*args.worker)
        return

    from mft_plugin.settings import environment_defaults

    overrides = {"trainer.num_epochs": 2}
    if args.sample_count:
        overrides["dataset_reader.sample_count"] = args.sample_count
    configs = PROJECT_ROOT / "training_configs" / args.task
    plain, mft = (
        measure_in_subprocess(__file__, str(configs / name), json.dumps(overrides))
        for name in ("bert_mix.jsonnet", "mft_full.jsonnet")
    )
    ratios = {
        "epoch": mft["epoch_seconds"][1] / plain["epoch_seconds"][1],
        "prototypes": mft["prototype_seconds"] / plain["epoch_seconds"][1],
        "rss": mft["peak_rss_mb"] / plain["peak_rss_mb"],
    }
    encoder = os.environ.get("MFT_ENCODER") or environment_defaults()["MFT_ENCODER"]
    precision = "bf16" if os.environ.get("MFT_BF16", "").lower() == "true" else "fp32"
    print(
        f"task {args.task}, {plain['batches'] // 2} batches of 32 an epoch, {precision}, encoder {encoder}"
    )
    print(f"same batches in both runs: {plain['batch_digest'] == mft['batch_digest']}")
    for name, run in (("plain fine-tuning", plain), ("MFT stage 1", mft)):
        first, second = run["epoch_seconds"]
        print(
            f"{name + ' epoch 2:':24s} {second:.1f}s (epoch 1: {first:.1f}s), peak RSS {run['peak_rss_mb']:.0f} MB"
        )
    print(f"{'prototype pass:':24s} {mft['prototype_seconds']:.1f}s")
    for name, label in (
        ("epoch", "MFT epoch / plain epoch"),
        ("prototypes", "prototype pass / plain epoch"),
        ("rss", "MFT peak RSS / plain peak RSS"),
    ):
        print(
            f"{label:32s} {ratios[name]:.3f}  {verdict(ratios[name], TARGETS[name], at_least=False)}"
        )


if __name__ == "__main__":
    main()
