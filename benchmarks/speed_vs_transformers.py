"""
This plugin against what a user would otherwise run, side by side in one run: the same encoder,
data, max length (128), batch size (32), learning rate and epochs, each in a fresh process.

Training throughput (instances per second of training, validation excluded) and peak RSS:
- HuggingFace `transformers.Trainer` with `AutoModelForSequenceClassification` and
  `DataCollatorWithPadding` (random batches padded to their longest member; the default), and
  the same with `group_by_length=True`;
- this plugin's plain fine-tuning, `allennlp train training_configs/<task>/bert_mix.jsonnet`
  (length-bucketed batches);
- this plugin's stage-1 MFT, `mft_full.jsonnet`, its prototype pass counted in its time.
Prediction throughput over the same inputs (`--predict` of them, in file order), the two
alternating `--predict-repeats` times, each side's median run reported:
- `allennlp predict` (its `_PredictManager`, batch 32) on the plain model's archive;
- a plain HuggingFace loop: tokenizer, padded batch of 32, forward without gradients, softmax,
  a JSON line out.

Targets: plain fine-tuning >= 1.2x the Trainer's throughput, MFT >= 1.15x, predict >= 1.0x.

    python benchmarks/speed_vs_transformers.py --task nli            # float32, as both default
    python benchmarks/speed_vs_transformers.py --task nli --bf16     # both under bf16 autocast
"""
import argparse
import json
import os
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import (  # noqa: E402
    PROJECT_ROOT,
    epoch_seconds,
    measure_in_subprocess,
    peak_rss_mb,
    register_epoch_timer,
    verdict,
)

TARGETS = {"train": 1.2, "mft": 1.15, "predict": 1.0}
TASK_FILES = {
    "nli": ("mnli/train.jsonl", "mnli/dev.jsonl"),
    "reviews": ("amazon/train", "amazon/dev"),
    "taxonomy": ("taxonomy/train", "taxonomy/dev"),
}
READERS = {"nli": "mft_nli", "reviews": "mft_reviews", "taxonomy": "mft_term_pairs"}


def _reader(task: str, sample_count):
    import mft_plugin.plugin  # noqa: F401
    from allennlp.data import DatasetReader

    return DatasetReader.by_name(READERS[task])(
        os.environ["MFT_ENCODER"], max_length=128, sample_count=sample_count
    )


def _data_path(task: str, split: int) -> str:
    return str(Path(os.environ["MFT_DATA_DIR"]) / TASK_FILES[task][split])


# --------------------------------------------------------------------------------------------
# Workers (each in its own process)
def hf_train(result_file, task, sample_count, epochs, bf16, group_by_length):
    import torch
    from transformers import (
        AutoModelForSequenceClassification,
        AutoTokenizer,
        DataCollatorWithPadding,
        Trainer,
        TrainingArguments,
    )

    records = _reader(task, _int(sample_count)).select_records(_data_path(task, 0))
    encoder = os.environ["MFT_ENCODER"]
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    labels = sorted({r.label for r in records})
    features = [
        dict(tokenizer(*r.texts, truncation=True, max_length=128), labels=labels.index(r.label))
        for r in records
    ]
    torch.manual_seed(13)
    model = AutoModelForSequenceClassification.from_pretrained(encoder, num_labels=len(labels))
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=32,
            num_train_epochs=int(epochs),
            learning_rate=2e-5,
            weight_decay=0.01,
            warmup_ratio=0.1,
            max_grad_norm=1.0,
            no_cuda=True,
            bf16=bf16 == "true",
            group_by_length=group_by_length == "true",
            evaluation_strategy="no",
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            seed=13,
        )
        trainer = Trainer(
            model=model,
            args=arguments,
            train_dataset=features,
            data_collator=DataCollatorWithPadding(tokenizer),
        )
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
    _write(result_file, instances=len(features) * int(epochs), seconds=seconds)


def ours_train(result_file, task, sample_count, epochs, bf16, config, archive_dir):
    os.environ["MFT_BF16"] = bf16
    import mft_plugin.plugin  # noqa: F401
    from allennlp.commands.train import train_model_from_file

    measurements: dict = {}
    timer = register_epoch_timer(measurements)
    overrides = {
        "trainer.num_epochs": int(epochs),
        "train_data_path": _data_path(task, 0),
        "validation_data_path": _data_path(task, 1),
        "trainer.callbacks": ([{"type": "mft_prototypes"}] if "mft" in config else [])
        + [{"type": timer}],
    }
    if _int(sample_count):
        overrides["dataset_reader.sample_count"] = int(sample_count)
    config_path = PROJECT_ROOT / "training_configs" / task / config
    train_model_from_file(config_path, archive_dir, overrides=json.dumps(overrides))
    summary = Path(archive_dir) / "prototypes.json"
    prototype_seconds = json.loads(summary.read_text())["seconds"] if summary.exists() else 0.0
    _write(
        result_file,
        instances=measurements["instances"],
        seconds=sum(epoch_seconds(measurements)) + prototype_seconds,
        prototype_seconds=prototype_seconds,
    )


def ours_predict(result_file, archive, inputs, bf16):
    os.environ["MFT_BF16"] = bf16
    import mft_plugin.plugin  # noqa: F401
    from allennlp.commands.predict import _PredictManager
    from allennlp.predictors import Predictor

    predictor = Predictor.from_path(archive, overrides=json.dumps({"model.bf16": bf16 == "true"}))
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as output:
        manager = _PredictManager(predictor, inputs, output.name, 32, False, False)
        start = time.perf_counter()
        manager.run()
        seconds = time.perf_counter() - start
        count = sum(1 for _ in open(output.name))
    _write(result_file, instances=count, seconds=seconds)


def hf_predict(result_file, task, inputs, bf16, labels_json):
    import torch
    from transformers import AutoModelForSequenceClassification, AutoTokenizer

    encoder = os.environ["MFT_ENCODER"]
    labels = json.loads(labels_json)
    tokenizer = AutoTokenizer.from_pretrained(encoder)
    model = AutoModelForSequenceClassification.from_pretrained(
        encoder, num_labels=len(labels)
    ).eval()
    keys = {
        "nli": ("premise", "hypothesis"),
        "reviews": ("text",),
        "taxonomy": ("hyponym", "hypernym"),
    }[task]
    lines = [json.loads(line) for line in open(inputs)]
    start = time.perf_counter()
    with tempfile.NamedTemporaryFile("w", suffix=".jsonl") as output, torch.no_grad():
        for begin in range(0, len(lines), 32):
            batch = lines[begin : begin + 32]
            texts = [[example[key] for example in batch] for key in keys]
            encoded = tokenizer(
                *texts, padding=True, truncation=True, max_length=128, return_tensors="pt"
            )
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16 == "true"):
                logits = model(**encoded).logits
            probs = torch.softmax(logits.float(), dim=-1)
            for example, row in zip(batch, probs.tolist()):
                label = labels[max(range(len(row)), key=row.__getitem__)]
                output.write(json.dumps({**example, "label": label, "probs": row}) + "\n")
    _write(result_file, instances=len(lines), seconds=time.perf_counter() - start)


def _int(value):
    return int(value) if value not in (None, "", "None", "0") else None


def _write(result_file, **values):
    values["peak_rss_mb"] = peak_rss_mb()
    values["per_second"] = values["instances"] / values["seconds"]
    Path(result_file).write_text(json.dumps(values))


WORKERS = {
    "hf_train": hf_train,
    "ours_train": ours_train,
    "ours_predict": ours_predict,
    "hf_predict": hf_predict,
}


# --------------------------------------------------------------------------------------------
def median_run(runs: list) -> dict:
    """The run with the median throughput (the upper middle one of an even count)."""
    return sorted(runs, key=lambda run: run["per_second"])[len(runs) // 2]


def prediction_inputs(task: str, count: int, path: Path) -> list:
    """The first `count` dev examples as predictor JSON lines; returns the label set."""
    keys = {
        "nli": ("premise", "hypothesis"),
        "reviews": ("text",),
        "taxonomy": ("hyponym", "hypernym"),
    }[task]
    records = _reader(task, None).select_records(_data_path(task, 1))[:count]
    with open(path, "w") as handle:
        for record in records:
            handle.write(
                json.dumps({**dict(zip(keys, record.texts)), "domain": record.domain}) + "\n"
            )
    return sorted({r.label for r in records})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="nli", choices=list(TASK_FILES))
    parser.add_argument(
        "--sample-count", type=int, default=None, help="training instances per domain"
    )
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--predict", type=int, default=1000, help="dev instances to predict")
    parser.add_argument(
        "--predict-repeats",
        type=int,
        default=5,
        help="alternating runs of each predict side; the median run is reported",
    )
    parser.add_argument("--bf16", action="store_true", help="both sides under bfloat16 autocast")
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import mft_plugin.plugin  # noqa: F401  (fills in MFT_ENCODER and MFT_DATA_DIR)

    if args.worker:
        result_file, name, *rest = args.worker
        WORKERS[name](result_file, *rest)
        return

    bf16 = "true" if args.bf16 else "false"
    common = (args.task, str(args.sample_count or 0), str(args.epochs), bf16)
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        results["trainer"] = measure_in_subprocess(__file__, "hf_train", *common, "false")
        results["trainer_grouped"] = measure_in_subprocess(__file__, "hf_train", *common, "true")
        results["plain"] = measure_in_subprocess(
            __file__, "ours_train", *common, "bert_mix.jsonnet", str(scratch / "plain")
        )
        results["mft"] = measure_in_subprocess(
            __file__, "ours_train", *common, "mft_full.jsonnet", str(scratch / "mft")
        )
        inputs = scratch / "inputs.jsonl"
        labels = prediction_inputs(args.task, args.predict, inputs)
        # Prediction takes seconds, so one run of each is at the mercy of the machine's noise:
        # alternate them and keep each side's median run.
        predict_arguments = {  # worker name -> its arguments
            "hf_predict": (args.task, str(inputs), bf16, json.dumps(labels)),
            "ours_predict": (str(scratch / "plain" / "model.tar.gz"), str(inputs), bf16),
        }
        predict_runs = {worker: [] for worker in predict_arguments}
        for _ in range(args.predict_repeats):
            for worker, arguments in predict_arguments.items():
                predict_runs[worker].append(measure_in_subprocess(__file__, worker, *arguments))
        for key, runs in predict_runs.items():
            results[key] = median_run(runs)

    print(
        f"task {args.task}, {results['plain']['instances']} training instances x {args.epochs} epoch(s), "
        f"batch 32, max length 128, {'bf16 autocast' if args.bf16 else 'float32'}, "
        f"encoder {os.environ['MFT_ENCODER']}, torch threads {os.environ.get('OMP_NUM_THREADS', 'default')}"
    )
    rows = [
        ("transformers.Trainer", "trainer"),
        ("transformers.Trainer, group_by_length", "trainer_grouped"),
        ("mft-plugin plain fine-tuning", "plain"),
        ("mft-plugin MFT stage 1 (with prototypes)", "mft"),
        ("HuggingFace forward loop (predict)", "hf_predict"),
        ("allennlp predict", "ours_predict"),
    ]
    print(f"{'':44s} {'inst/s':>8s} {'seconds':>8s} {'peak RSS MB':>12s}")
    for label, key in rows:
        r = results[key]
        print(f"{label:44s} {r['per_second']:8.1f} {r['seconds']:8.1f} {r['peak_rss_mb']:12.0f}")
    base = results["trainer"]["per_second"]
    ratios = {
        "train": results["plain"]["per_second"] / base,
        "mft": results["mft"]["per_second"] / base,
        "predict": results["ours_predict"]["per_second"] / results["hf_predict"]["per_second"],
    }
    for key, label in (
        ("train", "plain fine-tuning / Trainer"),
        ("mft", "MFT stage 1 / Trainer"),
        ("predict", "allennlp predict / HuggingFace loop"),
    ):
        print(f"{label:37s} {ratios[key]:.2f}x  {verdict(ratios[key], TARGETS[key], True)}")
    for key, label in (("hf_predict", "HuggingFace loop"), ("ours_predict", "allennlp predict")):
        speeds = ", ".join(f"{r['per_second']:.1f}" for r in predict_runs[key])
        print(f"{label} inst/s over {args.predict_repeats} alternating runs: {speeds}")
    grouped = results["plain"]["per_second"] / results["trainer_grouped"]["per_second"]
    print(f"plain fine-tuning / Trainer with group_by_length: {grouped:.2f}x")
    rss = results["plain"]["peak_rss_mb"] / results["trainer"]["peak_rss_mb"]
    print(f"peak RSS, plain fine-tuning / Trainer: {rss:.2f}x")


if __name__ == "__main__":
    main()
