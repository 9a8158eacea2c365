"""
This plugin against what a user would otherwise run, side by side in one run: the same encoder,
data, max length (128), batch size (32), learning rate and epochs, each in a fresh process.

Training throughput (instances per second of training, validation excluded) and peak RSS:
- HuggingFace `transformers.Trainer` with `AutoModelForSequenceClassification` and
  `DataCollatorWithPadding`: random batches padded to their longest member (the default), with
  `group_by_length=True` (batches of similar length: the baseline of the target), and that with
  `optim="adamw_torch_fused"` as well (for reference: what a tuned Trainer gets);
- this plugin's plain fine-tuning, `allennlp train training_configs/<task>/bert_mix.jsonnet`
  (length-bucketed batches);
- this plugin's stage-1 MFT, `mft_full.jsonnet`, its prototype pass counted in its time;
- with `--classic-python` (default: `.venv-classic/bin/python` when it exists), the plugin's
  plain fine-tuning again on the classic stack (AllenNLP's own pins), for the stack ratio.
Prediction throughput over the same inputs (`--predict` of them, in file order), the sides
alternating `--predict-repeats` times, each side's median run reported:
- `allennlp predict --batch-size 256` (its `_PredictManager`) on the plain model's archive: the
  predictor sorts each 256 inputs by length and runs the model 32 at a time;
- a plain HuggingFace loop: tokenizer, padded batch of 32 in file order, forward without
  gradients, softmax, a JSON line out;
- the same `allennlp predict` on the classic stack (its own archive of the same training run).

Targets: plain fine-tuning >= 1.1x the Trainer with `group_by_length`, predict >= 1.1x the
HuggingFace loop, and the default stack >= 1.2x the classic stack in training and in predict.

    python benchmarks/speed_vs_transformers.py --task nli            # float32, as both default
    python benchmarks/speed_vs_transformers.py --task nli --bf16     # both under bf16 autocast
"""
import argparse
import inspect
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

TARGETS = {"train": 1.1, "predict": 1.1, "stack_train": 1.2, "stack_predict": 1.2}
PREDICT_BATCH = 256  # inputs handed to the predictor at a time; it runs the model 32 at a time
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
def hf_train(result_file, task, sample_count, epochs, bf16, group_by_length, optimizer):
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
    # Keyword names that changed between transformers 4.20 and 4.49.
    accepted = inspect.signature(TrainingArguments).parameters
    cpu_only = {"use_cpu": True} if "use_cpu" in accepted else {"no_cuda": True}
    no_evaluation = (
        {"eval_strategy": "no"} if "eval_strategy" in accepted else {"evaluation_strategy": "no"}
    )
    with tempfile.TemporaryDirectory() as output_dir:
        arguments = TrainingArguments(
            output_dir=output_dir,
            per_device_train_batch_size=32,
            num_train_epochs=int(epochs),
            learning_rate=2e-5,
            weight_decay=0.01,
            warmup_ratio=0.1,
            max_grad_norm=1.0,
            bf16=bf16 == "true",
            group_by_length=group_by_length == "true",
            optim=optimizer,
            save_strategy="no",
            logging_strategy="no",
            report_to=[],
            disable_tqdm=True,
            seed=13,
            **cpu_only,
            **no_evaluation,
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
        stack=stack_description(),
    )


def ours_predict(result_file, archive, inputs, bf16):
    os.environ["MFT_BF16"] = bf16
    import mft_plugin.plugin  # noqa: F401
    from allennlp.commands.predict import _PredictManager
    from allennlp.predictors import Predictor

    predictor = Predictor.from_path(archive, overrides=json.dumps({"model.bf16": bf16 == "true"}))
    with tempfile.NamedTemporaryFile(suffix=".jsonl") as output:
        manager = _PredictManager(predictor, inputs, output.name, PREDICT_BATCH, False, False)
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


def stack_description() -> str:
    import platform

    import torch
    import transformers

    return (
        f"Python {platform.python_version()}, torch {torch.__version__}, "
        f"transformers {transformers.__version__}"
    )


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
    default_classic = PROJECT_ROOT / ".venv-classic" / "bin" / "python"
    parser.add_argument(
        "--classic-python",
        default=str(default_classic) if default_classic.exists() else None,
        help="the classic stack's Python (`make install STACK=classic`); '' to skip",
    )
    parser.add_argument("--worker", nargs="+", help=argparse.SUPPRESS)
    args = parser.parse_args()
    import mft_plugin.plugin  # noqa: F401  (fills in MFT_ENCODER and MFT_DATA_DIR)

    if args.worker:
        result_file, name, *rest = args.worker
        WORKERS[name](result_file, *rest)
        return

    bf16 = "true" if args.bf16 else "false"
    common = (args.task, str(args.sample_count or 0), str(args.epochs), bf16)
    classic = args.classic_python or None
    results = {}
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        for key, grouped, optimizer in (
            ("trainer", "false", "adamw_torch"),
            ("trainer_grouped", "true", "adamw_torch"),
            ("trainer_grouped_fused", "true", "adamw_torch_fused"),
        ):
            results[key] = measure_in_subprocess(__file__, "hf_train", *common, grouped, optimizer)
        results["plain"] = measure_in_subprocess(
            __file__, "ours_train", *common, "bert_mix.jsonnet", str(scratch / "plain")
        )
        results["mft"] = measure_in_subprocess(
            __file__, "ours_train", *common, "mft_full.jsonnet", str(scratch / "mft")
        )
        if classic:
            results["classic_plain"] = measure_in_subprocess(
                __file__,
                "ours_train",
                *common,
                "bert_mix.jsonnet",
                str(scratch / "classic"),
                python=classic,
            )
        inputs = scratch / "inputs.jsonl"
        labels = prediction_inputs(args.task, args.predict, inputs)
        # Prediction takes seconds, so one run of each is at the mercy of the machine's noise:
        # alternate them and keep each side's median run.
        predict_sides = {  # side -> (worker, its arguments, python)
            "hf_predict": ("hf_predict", (args.task, str(inputs), bf16, json.dumps(labels)), None),
            "ours_predict": (
                "ours_predict",
                (str(scratch / "plain" / "model.tar.gz"), str(inputs), bf16),
                None,
            ),
        }
        if classic:
            predict_sides["classic_predict"] = (
                "ours_predict",
                (str(scratch / "classic" / "model.tar.gz"), str(inputs), bf16),
                classic,
            )
        predict_runs = {side: [] for side in predict_sides}
        for _ in range(args.predict_repeats):
            for side, (worker, arguments, python) in predict_sides.items():
                predict_runs[side].append(
                    measure_in_subprocess(__file__, worker, *arguments, python=python)
                )
        for side, runs in predict_runs.items():
            results[side] = median_run(runs)

    print(
        f"task {args.task}, {results['plain']['instances']} training instances x {args.epochs} "
        f"epoch(s), batch 32, max length 128, {'bf16 autocast' if args.bf16 else 'float32'}, "
        f"encoder {os.environ['MFT_ENCODER']}, torch threads "
        f"{os.environ.get('OMP_NUM_THREADS', 'default')}"
    )
    for side in ("plain", "classic_plain"):
        if side in results:
            print(f"{side}: {results[side]['stack']}")
    rows = [
        ("transformers.Trainer", "trainer"),
        ("transformers.Trainer, group_by_length", "trainer_grouped"),
        ("  the same with adamw_torch_fused", "trainer_grouped_fused"),
        ("mft-plugin plain fine-tuning", "plain"),
        ("mft-plugin MFT stage 1 (with prototypes)", "mft"),
        ("mft-plugin plain fine-tuning, classic stack", "classic_plain"),
        ("HuggingFace forward loop (predict)", "hf_predict"),
        ("allennlp predict", "ours_predict"),
        ("allennlp predict, classic stack", "classic_predict"),
    ]
    print(f"{'':46s} {'inst/s':>8s} {'seconds':>8s} {'peak RSS MB':>12s}")
    for label, key in rows:
        if key in results:
            r = results[key]
            print(
                f"{label:46s} {r['per_second']:8.1f} {r['seconds']:8.1f} {r['peak_rss_mb']:12.0f}"
            )
    speed = {key: result["per_second"] for key, result in results.items()}
    ratios = [
        ("plain fine-tuning / Trainer, group_by_length", "plain", "trainer_grouped", "train"),
        ("allennlp predict / HuggingFace loop", "ours_predict", "hf_predict", "predict"),
        ("training, default / classic stack", "plain", "classic_plain", "stack_train"),
        ("predict, default / classic stack", "ours_predict", "classic_predict", "stack_predict"),
        ("plain fine-tuning / Trainer", "plain", "trainer", None),
        ("plain fine-tuning / Trainer, grouped, fused", "plain", "trainer_grouped_fused", None),
        ("MFT stage 1 / Trainer, group_by_length", "mft", "trainer_grouped", None),
    ]
    for label, numerator, denominator, target in ratios:
        if numerator in speed and denominator in speed:
            ratio = speed[numerator] / speed[denominator]
            judged = verdict(ratio, TARGETS[target], True) if target else "(for reference)"
            print(f"{label:46s} {ratio:.2f}x  {judged}")
    for side, runs in predict_runs.items():
        speeds = ", ".join(f"{r['per_second']:.1f}" for r in runs)
        print(f"{side} inst/s over {args.predict_repeats} alternating runs: {speeds}")
    rss = results["plain"]["peak_rss_mb"] / results["trainer_grouped"]["peak_rss_mb"]
    print(f"peak RSS, plain fine-tuning / Trainer with group_by_length: {rss:.2f}x")


if __name__ == "__main__":
    main()
