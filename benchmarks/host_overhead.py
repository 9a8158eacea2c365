"""
What the host (Python, AllenNLP's trainer, the plugin's metrics and callbacks) adds to every
training and prediction step, measured on the CPU with the tiny test encoder
(tests/fixtures/tiny_bert: 4 layers of width 32, so the matrix products cost next to nothing and
what is left is what a GPU user pays per step whatever the GPU).

In one run, in this process:
- plain fine-tuning (`training_configs/<task>/bert_mix.jsonnet`) and MFT stage 1
  (`mft_full.jsonnet`) trained through AllenNLP's trainer with the shipped configs (the
  `mft_prototypes` callback for MFT), `--epochs` epochs: the first is a warm-up, the next
  `--epochs - 2` are timed (training only, validation excluded; each epoch's seconds per step is
  one repetition) and the last runs under cProfile for the breakdown;
- after every trainer epoch, one epoch of a bare PyTorch loop on the same model, the same
  batches (the tensors the trainer's data loader made, recorded in its first epoch) and the
  same optimizer object: forward, loss, backward, optimizer step, nothing else (no metrics, no
  gradient clipping, no learning-rate schedule; MFT's loss is L_TLC + λ·L_SDC with the
  typicality weights gathered before timing). The two sides alternate, so that both see the
  same load on a shared machine;
- prediction: `allennlp predict`'s path, `Predictor.predict_batch_instance` on the plain run's
  archive (256 inputs at a time, as `allennlp predict --batch-size 256`), against a bare forward
  loop (the same forward batches of 32, collated before timing, under `torch.inference_mode`).

Prints the ratios (the median over the repetitions of each trainer epoch or predict run against
the bare one next to it, and the ratio of the two sides' medians) with their targets (plain <= 1.3, MFT stage
1 <= 1.5, prediction <= 1.3) and, per step, where the time goes by component under cProfile
(which inflates Python-heavy parts, so read its shares, not its absolute times).

    python benchmarks/host_overhead.py                          # taxonomy, 200 pairs a domain
    python benchmarks/host_overhead.py --task nli --sample-count 100
    python benchmarks/host_overhead.py --only prediction        # its archive: one untimed epoch

What AllenNLP 2.10.1's trainer itself does per step (gradient_descent_trainer.py, `_train_epoch`),
which no plugin setting removes: three host-device synchronisations, `if torch.isnan(loss)` and
`loss.item()` right after the forward (so the host cannot queue the backward ahead of the GPU)
and `.item()` of the gradient norm (whenever `grad_norm` is set, as the configs' BERT recipe
does), plus `model.get_metrics()` after every batch for the progress bar. The plugin's metrics
accumulate on the device, so its forward has no synchronisation of its own (MFT (DC) keeps one:
its check of each batch's domains, which the other MFT variants do once in the prototype
callback); their reads can be thinned with the model's `metrics_read_interval`.

Options a GPU user expects (what the plugin offers, and how it interacts with MFT):
- Collation: the configs' data loaders use the plugin's `mft_transformer` collator
  (`collate_fn`), the same tensors as AllenNLP's, padded a key at a time. With the instances in
  memory (the default) AllenNLP collates in the main process whatever `num_workers` is; with
  `max_instances_in_memory` and `num_workers` the workers read, tokenise and collate, but the
  bucket sampler then sorts within each chunk of that many instances, so the batches (and the
  numbers) change.
- `metrics_read_interval` (model key, default 1): with N > 1 the trainer's per-batch metric reads
  copy from the device every Nth batch only (the progress bar lags up to N - 1 batches; the epoch
  metrics are exact), so the host can prepare the next batch while the optimizer step runs:
  `-o '{"model.metrics_read_interval": 50}'`.
- Gradient accumulation: `-o '{"trainer.num_gradient_accumulation_steps": 4}'` (AllenNLP
  divides each micro-batch's loss by the group size and steps once per group; it still reads
  `loss.item()` per micro-batch). MFT's `shuffle` corruption permutes the domain labels within
  each micro-batch (the trainer calls the model's forward once per micro-batch, and
  `corrupt_domain_labels` permutes the batch it is given), so with accumulation z is a shuffle of
  each micro-batch's domains, not of the whole effective batch: what a run with the micro-batch
  size draws. The typicality weights are per instance and unaffected; L_TLC and L_SDC are means
  over each micro-batch, averaged over the group. A larger batch instead
  (`-o '{"data_loader.batch_sampler.batch_size": 128}'`) shuffles over the whole batch and
  pays the trainer's per-step cost once per 128 instances; the learning rate is not scaled
  for you (the paper's is 2e-5 at batch 32).
- `torch.compile`: the models' `compile_encoder: true` (and `compile_options`, e.g.
  `{"mode": "reduce-overhead"}`, which is CUDA graphs on a GPU). The bucket sampler gives
  batches of many lengths, so use `{"dynamic": true}` or expect a recompilation per new length
  (and, with CUDA graphs, a graph per length). CUDA graphs need static shapes and no host
  synchronisation inside the graph: they apply to the encoder's forward (what
  `compile_encoder` wraps), not to AllenNLP's step, whose synchronisations are listed above.
- Pinned memory / non-blocking copies: AllenNLP 2.10's data loader has no `pin_memory` option,
  and it moves each batch with `nn.util.move_to_device`, `tensor.to(device)` without
  `non_blocking`, so pinning alone would change nothing. A short-text batch is a few KB (five
  small tensors), so the copies are microseconds next to the synchronisations above.
"""
import argparse
import cProfile
import json
import os
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Dict, List

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, epoch_seconds, register_epoch_timer, verdict  # noqa: E402

TARGETS = {"plain": 1.3, "mft": 1.5, "predict": 1.3}
TINY_BERT = PROJECT_ROOT / "tests" / "fixtures" / "tiny_bert"
SHARED_DATA = PROJECT_ROOT.parent / "shared" / "data"
PREDICT_CHUNK = 256  # inputs handed to the predictor at a time (`allennlp predict --batch-size`)


# --------------------------------------------------------------------------------------------
# Profile grouping: cumulative time of entry points, matched by (file suffix, function name).
def _cumulative(stats: pstats.Stats, file_part: str, name: str, largest: bool = False) -> float:
    """Seconds spent in (and under) every function `name` of a file containing `file_part`."""
    times = [
        value[3]
        for (filename, _, function), value in stats.stats.items()  # type: ignore[attr-defined]
        if function == name and file_part in filename.replace(os.sep, "/")
    ]
    if not times:
        return 0.0
    return max(times) if largest else sum(times)


TRAINER_COMPONENTS = [
    # (label, [(file part, function), ...], indent); indented rows are part of the row above.
    ("data loading + collation", [("allennlp/common/util.py", "lazy_groups_of")], 0),
    ("forward (trainer.batch_outputs)", [("gradient_descent_trainer.py", "batch_outputs")], 0),
    (
        "of which metric updates",
        [("allennlp/training/metrics/", "__call__"), ("mft_plugin/metrics.py", "__call__")],
        1,
    ),
    ("of which typicality weights", [("meta_fine_tuning.py", "typicality_weights")], 1),
    ("of which known-domain check", [("models/classifier.py", "require_known_domains")], 1),
    ("backward", [("torch/_tensor.py", "backward")], 0),
    ("zero_grad", [("torch/optim/optimizer.py", "zero_grad")], 0),
    ("optimizer step", [("torch/optim/optimizer.py", "wrapper")], 0),
    ("grad norm clipping (configured)", [("gradient_descent_trainer.py", "rescale_gradients")], 0),
    ("learning-rate schedule", [("learning_rate_schedulers/", "step_batch")], 0),
    ("metrics read (model.get_metrics)", [("allennlp/training/util.py", "get_metrics")], 0),
    ("callbacks on_batch", [("/callbacks/", "on_batch")], 0),
    ("progress bar description", [("allennlp/training/util.py", "description_from_metrics")], 0),
    ("checkpointer", [("checkpointer.py", "maybe_save_checkpoint")], 0),
]


def trainer_breakdown(stats: pstats.Stats, steps: int) -> List[tuple]:
    rows = []
    top_level = 0.0
    for label, entries, indent in TRAINER_COMPONENTS:
        seconds = sum(
            _cumulative(stats, file_part, name, largest=name == "wrapper")
            for file_part, name in entries
        )
        rows.append((label, seconds, indent))
        if indent == 0:
            top_level += seconds
    epoch = _cumulative(stats, "gradient_descent_trainer.py", "_train_epoch")
    tqdm_own = _cumulative(stats, "tqdm/std.py", "__iter__") - rows[0][1]
    tqdm_own += _cumulative(stats, "tqdm/std.py", "set_description")
    rows.append(("tqdm (own time)", tqdm_own, 0))
    rows.append(("rest of the trainer loop", epoch - top_level - tqdm_own, 0))
    return [(label, seconds / steps, indent) for label, seconds, indent in rows] + [
        ("total (profiled)", epoch / steps, 0)
    ]


# --------------------------------------------------------------------------------------------
# Training
def register_recorder(record: Dict[str, Any], epochs: int) -> str:
    """
    A callback that keeps the first epoch's batches (the tensors the model received), then,
    after every later epoch, runs one epoch of the bare loop on the trainer's model and
    optimizer, so that the trainer's and the bare loop's repetitions alternate (the same
    machine load for both); the last epoch of each runs under cProfile.
    """
    from allennlp.training.callbacks.callback import TrainerCallback

    name = "benchmark_host_recorder"
    record.update(batches=[], bare_seconds=[], profile=cProfile.Profile())
    last = epochs - 1

    @TrainerCallback.register(name, exist_ok=True)
    class Recorder(TrainerCallback):
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
            if epoch == 0:
                record["batches"].extend(batch_inputs)
            if epoch == last and batch_number == len(trainer.data_loader):
                record["profile"].disable()

        def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs):
            steps = len(record["batches"])
            if epoch == 0:
                record["bare_epoch"] = bare_step_function(
                    trainer.model, trainer.optimizer, record["batches"]
                )
                record["bare_epoch"]()  # warm-up
            elif epoch < last:
                start = time.perf_counter()
                record["bare_epoch"]()
                record["bare_seconds"].append((time.perf_counter() - start) / steps)
            else:
                record["bare_breakdown"] = bare_breakdown(profile_of(record["bare_epoch"]), steps)
            if epoch + 1 == last:
                record["profile"].enable()

    return name


def train(config: str, overrides: Dict[str, Any], epochs: int, directory: str) -> Dict[str, Any]:
    from allennlp.commands.train import train_model_from_file
    from allennlp.common import Params

    measurements: Dict[str, Any] = {}
    record: Dict[str, Any] = {}
    # The shipped callbacks (the prototype pass, the console logger, ...), then the recorder,
    # whose bare epoch after a trainer epoch must end before the timer's `on_epoch` starts the
    # clock of the next one.
    callbacks = Params.from_file(config).as_dict()["trainer"].get("callbacks", [])
    callbacks += [
        {"type": register_recorder(record, epochs)},
        {"type": register_epoch_timer(measurements)},
    ]
    overrides = dict(overrides, **{"trainer.num_epochs": epochs, "trainer.callbacks": callbacks})
    train_model_from_file(config, directory, overrides=json.dumps(overrides))
    steps = len(record["batches"])
    seconds = epoch_seconds(measurements)
    return {
        "steps": steps,
        "step_seconds": [s / steps for s in seconds[1:-1]],  # warm-up and profiled epochs out
        "bare_seconds": record["bare_seconds"],
        "breakdown": trainer_breakdown(pstats.Stats(record["profile"]), steps),
        "bare_breakdown": record["bare_breakdown"],
    }


def bare_step_function(model, optimizer, batches: List[Dict[str, Any]]) -> Callable:
    """forward, loss, backward, optimizer step: the model's own modules and the plugin's losses."""
    import torch.nn.functional as F

    from mft_plugin.losses import (
        corrupt_domain_labels,
        skip_layer_domain_corruption_loss,
        typicality_weighted_label_loss,
    )

    if type(model).__name__ != "MetaFineTuning":

        def loss_of(batch, _):
            logits = model.classify(model.encode(batch["tokens"]))
            return F.cross_entropy(logits, batch["label"].long())

        weights = [None] * len(batches)
    else:
        # t_i gathered before timing, through the model's own lookup, as the trainer's run had it.
        weights = [
            model.typicality_weights(batch["metadata"], len(batch["metadata"])) for batch in batches
        ]
        num_domains = len(model.domain_names)

        def loss_of(batch, typicality):
            encoded = model.encode(batch["tokens"], all_layers=True)
            logits = model.classify(encoded)
            loss = typicality_weighted_label_loss(logits, batch["label"], typicality)
            domain = batch["domain"].long()
            corrupted = corrupt_domain_labels(
                domain, model.corruption, num_domains, model._domain_prior
            )
            domain_loss = skip_layer_domain_corruption_loss(
                model.domain_corruption_logits(encoded, domain), corrupted, typicality
            )
            return loss + model.domain_corruption_weight * domain_loss

    def bare_forward(batch, typicality):
        return loss_of(batch, typicality)

    def bare_backward(loss):
        loss.backward()

    def bare_optimizer_step():
        optimizer.step()

    def epoch():
        model.train()
        for batch, typicality in zip(batches, weights):
            optimizer.zero_grad()
            bare_backward(bare_forward(batch, typicality))
            bare_optimizer_step()

    return epoch


def time_epochs(run_epoch: Callable, repeats: int, steps: int) -> List[float]:
    run_epoch()  # warm-up
    seconds = []
    for _ in range(repeats):
        start = time.perf_counter()
        run_epoch()
        seconds.append((time.perf_counter() - start) / steps)
    return seconds


def profile_of(run: Callable) -> pstats.Stats:
    profile = cProfile.Profile()
    profile.enable()
    run()
    profile.disable()
    return pstats.Stats(profile)


def bare_breakdown(stats: pstats.Stats, steps: int) -> List[tuple]:
    rows = [
        ("forward + loss", _cumulative(stats, "host_overhead.py", "bare_forward"), 0),
        ("backward", _cumulative(stats, "host_overhead.py", "bare_backward"), 0),
        ("zero_grad", _cumulative(stats, "torch/optim/optimizer.py", "zero_grad"), 0),
        ("optimizer step", _cumulative(stats, "host_overhead.py", "bare_optimizer_step"), 0),
    ]
    total = _cumulative(stats, "host_overhead.py", "epoch")
    return [(label, seconds / steps, indent) for label, seconds, indent in rows] + [
        ("total (profiled)", total / steps, 0)
    ]


# --------------------------------------------------------------------------------------------
# Prediction
def predict_comparison(task: str, archive: str, count: int, repeats: int) -> Dict[str, Any]:
    import torch
    from allennlp.data.batch import Batch
    from allennlp.predictors import Predictor

    from speed_vs_transformers import prediction_inputs

    predictor = Predictor.from_path(archive)
    model = predictor._model
    with tempfile.TemporaryDirectory() as scratch:
        inputs = Path(scratch) / "inputs.jsonl"
        prediction_inputs(task, count, inputs)
        lines = [json.loads(line) for line in inputs.read_text().splitlines()]
    instances = [predictor._json_to_instance(line) for line in lines]
    for instance in instances:
        predictor._dataset_reader.apply_token_indexers(instance)
    chunks = [instances[i : i + PREDICT_CHUNK] for i in range(0, len(instances), PREDICT_CHUNK)]

    def predict_epoch():
        for chunk in chunks:
            predictor.predict_batch_instance(chunk)

    # The predictor's forward batches: each chunk sorted by length, 32 at a time.
    forward_batches = []
    for chunk in chunks:
        ordered = sorted(chunk, key=lambda instance: len(instance["tokens"]))
        for start in range(0, len(ordered), predictor.forward_batch_size):
            batch = Batch(ordered[start : start + predictor.forward_batch_size])
            batch.index_instances(model.vocab)
            forward_batches.append(batch.as_tensor_dict()["tokens"])

    def bare_predict_epoch():
        with torch.inference_mode():
            for tokens in forward_batches:
                torch.softmax(model.classify(model.encode(tokens)), dim=-1)

    model.eval()
    steps = len(forward_batches)
    ours, bare = [], []
    predict_epoch(), bare_predict_epoch()  # warm-up
    for _ in range(repeats):  # alternating, so that both sides see the same machine load
        ours += time_epochs(predict_epoch, 1, steps)[-1:]
        bare += time_epochs(bare_predict_epoch, 1, steps)[-1:]
    stats = profile_of(predict_epoch)
    rows = [
        (label, sum(_cumulative(stats, part, name) for part, name in entries) / steps, 0)
        for label, entries in (
            ("indexing (Batch.index_instances)", [("allennlp/data/batch.py", "index_instances")]),
            (
                "collation",
                [("allennlp/data/batch.py", "as_tensor_dict"), ("collate.py", "_fast_collate")],
            ),
            ("model forward", [("mft_plugin/models/classifier.py", "forward")]),
            ("make_output_human_readable", [("classifier.py", "make_output_human_readable")]),
            ("JSON values (the predictor's json_ready)", [("json_outputs.py", "json_ready")]),
            ("sanitize (AllenNLP's)", [("allennlp/common/util.py", "sanitize")]),
        )
    ]
    total = stats.total_tt / steps  # type: ignore[attr-defined]  (all of the profiled run)
    rows.append(("total (profiled)", total, 0))
    return {"ours": ours, "bare": bare, "breakdown": rows, "steps": steps, "inputs": len(lines)}


# --------------------------------------------------------------------------------------------
def print_breakdown(title: str, rows: List[tuple]) -> None:
    print(f"  {title}, ms per step under cProfile:")
    for label, seconds, indent in rows:
        print(f"    {'  ' * indent}{label:40s} {seconds * 1000:8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--task", default="taxonomy", choices=["taxonomy", "reviews", "nli"])
    parser.add_argument("--sample-count", type=int, default=200, help="instances per domain")
    parser.add_argument(
        "--data-dir",
        default=str(SHARED_DATA if SHARED_DATA.is_dir() else PROJECT_ROOT / "tests/fixtures/data"),
    )
    parser.add_argument("--encoder", default=str(TINY_BERT))
    parser.add_argument(
        "--epochs", type=int, default=7, help="training epochs: warm-up, timed ones, profiled"
    )
    parser.add_argument("--repeats", type=int, default=5, help="timed runs of each predict side")
    parser.add_argument("--predict", type=int, default=1024, help="dev inputs to predict")
    parser.add_argument("--threads", type=int, default=1, help="torch threads (1: least noise)")
    parser.add_argument(
        "--only",
        choices=["training", "prediction"],
        help="measure one side only; `prediction` trains its archive for one untimed epoch",
    )
    parser.add_argument(
        "-o",
        "--overrides",
        default="{}",
        help="JSON overrides of both training configs, e.g. a batch size or compile_encoder",
    )
    args = parser.parse_args()
    os.environ.update(MFT_ENCODER=args.encoder, MFT_DATA_DIR=args.data_dir, MFT_BF16="false")
    import torch

    torch.set_num_threads(args.threads)
    import mft_plugin.plugin  # noqa: F401
    import logging

    logging.disable(logging.WARNING)  # the trainer's INFO lines would drown the report

    overrides = {"dataset_reader.sample_count": args.sample_count} if args.sample_count else {}
    overrides.update(json.loads(args.overrides))
    configs = PROJECT_ROOT / "training_configs" / args.task
    results: Dict[str, Any] = {}
    with tempfile.TemporaryDirectory() as scratch:
        if args.only == "prediction":  # an archive to predict with; its weights do not matter
            from allennlp.commands.train import train_model_from_file

            train_model_from_file(
                str(configs / "bert_mix.jsonnet"),
                f"{scratch}/plain",
                overrides=json.dumps(dict(overrides, **{"trainer.num_epochs": 1})),
            )
        else:
            for key, config in (("plain", "bert_mix.jsonnet"), ("mft", "mft_full.jsonnet")):
                results[key] = train(
                    str(configs / config), overrides, args.epochs, f"{scratch}/{key}"
                )
        if args.only != "training":
            results["predict"] = predict_comparison(
                args.task, f"{scratch}/plain/model.tar.gz", args.predict, args.repeats
            )

    load = os.getloadavg()
    batches = f"{results['plain']['steps']} training batches " if "plain" in results else ""
    print(
        f"task {args.task}, {batches}"
        f"({args.sample_count} instances per domain, overrides {args.overrides}), encoder "
        f"{Path(args.encoder).name}, torch {torch.__version__}, {args.threads} thread(s), load "
        f"average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}"
    )
    for key, label in (("plain", "plain fine-tuning"), ("mft", "MFT stage 1")):
        if key not in results:
            continue
        run = results[key]
        ours, bare = (statistics.median(run[name]) for name in ("step_seconds", "bare_seconds"))
        print(
            f"{label}: trainer {ours * 1000:.2f} ms/step (epochs: "
            f"{', '.join(f'{s * 1000:.2f}' for s in run['step_seconds'])}), bare loop "
            f"{bare * 1000:.2f} ms/step (epochs: "
            f"{', '.join(f'{s * 1000:.2f}' for s in run['bare_seconds'])})"
        )
        # Each trainer epoch against the bare epoch right after it (the same machine load).
        pairs = [t / b for t, b in zip(run["step_seconds"], run["bare_seconds"])]
        ratio = statistics.median(pairs)
        print(
            f"  {label} / bare loop: {ratio:.2f}  {verdict(ratio, TARGETS[key], False)}  "
            f"(median of the epoch pairs {', '.join(f'{p:.2f}' for p in pairs)}; "
            f"of the medians {ours / bare:.2f})"
        )
        print_breakdown("trainer", run["breakdown"])
        print_breakdown("bare loop", run["bare_breakdown"])
    if "predict" not in results:
        return
    run = results["predict"]
    ours, bare = statistics.median(run["ours"]), statistics.median(run["bare"])
    print(
        f"prediction of {run['inputs']} dev inputs, {run['steps']} forward batches: "
        f"predict_batch_instance {ours * 1000:.2f} ms/batch, "
        f"bare forward {bare * 1000:.2f} ms/batch"
    )
    pairs = [o / b for o, b in zip(run["ours"], run["bare"])]  # alternating runs
    ratio = statistics.median(pairs)
    print(
        f"  predict / bare forward: {ratio:.2f}  {verdict(ratio, TARGETS['predict'], False)}  "
        f"(median of the run pairs {', '.join(f'{p:.2f}' for p in pairs)}; "
        f"of the medians {ours / bare:.2f})"
    )
    print_breakdown("predict_batch_instance", run["breakdown"])


if __name__ == "__main__":
    main()
