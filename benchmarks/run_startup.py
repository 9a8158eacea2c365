"""
What the experiment runner saves a run by forking its training processes from a server that
has imported AllenNLP (`mft_plugin.experiments.training_process`) instead of starting
`python -m allennlp train` for each, measured in one script on the same run.

The run is a short real one: BERT (S) on one taxonomy domain (`training_configs/taxonomy/
bert_s.jsonnet`, vehicle: 848 training pairs, 106 dev pairs; 1 epoch by default), the size of
the few-shot and per-domain runs that make up most of an experiment. Each repetition trains it
once each way, alternating; the first forked run also starts the fork server, which an
experiment pays once, so it is reported apart and left out of the means. Both ways must give
the same metrics (same seed).

Prints, for each way, seconds a run (wall) and seconds until the run's first log line (process
start and imports), and the ratios forked / command line with their targets:
- start-up (to the first log line)              (target <= 0.20)
- whole run                                     (target <= 0.80 for this run size)

    python benchmarks/run_startup.py --repetitions 3

With `--venv VENV`, it measures instead the start-up of two plain commands of that virtual
environment's `allennlp` (any stack, a clone's or a pip install's), each run `--repetitions`
times (default 5 in this mode) one after the other, and prints three lines: the stack, then the
median (min-max) wall time of `allennlp --help` and of `allennlp predict` on a tiny archive (two
taxonomy pairs; the archive, a one-epoch BERT (Mix) on the tiny test encoder, is trained first
with the same `allennlp` and not timed, or given with `--archive`). Run on an idle machine:

    python benchmarks/run_startup.py --venv .venv
    python benchmarks/run_startup.py --venv .venv-classic
"""
import argparse
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from datetime import datetime, timezone
from pathlib import Path
from statistics import mean, median
from typing import Optional

sys.path.insert(0, str(Path(__file__).resolve().parent))
from common import PROJECT_ROOT, verdict  # noqa: E402

sys.path.insert(0, str(PROJECT_ROOT))

TARGETS = {"startup": 0.20, "run": 0.80}
CONFIG = PROJECT_ROOT / "training_configs" / "taxonomy" / "bert_s.jsonnet"
LOG_TIME = re.compile(r"^(\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d+) - ", re.M)


def first_log_time(log: Path) -> float:
    """When the run's first AllenNLP log line was written (seconds since the epoch)."""
    stamp = LOG_TIME.search(log.read_text(errors="replace")).group(1)
    moment = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S,%f")
    return moment.replace(tzinfo=timezone.utc).timestamp()


def train_once(way: str, directory: Path, overrides: str) -> dict:
    args = ["train", str(CONFIG), "-s", str(directory), "-o", overrides]
    log = directory.with_suffix(".log")
    start = time.time()
    from mft_plugin.experiments.training_process import run_allennlp, run_allennlp_in_new_process

    run = run_allennlp if way == "forked" else run_allennlp_in_new_process
    exit_code = run(args, log)
    seconds = time.time() - start
    if exit_code != 0:
        raise SystemExit(f"{way} run failed (exit code {exit_code}); see {log}")
    metrics = json.loads((directory / "metrics.json").read_text())
    return {
        "seconds": seconds,
        "startup": first_log_time(log) - start,
        "metrics": {
            k: v for k, v in metrics.items() if k.startswith(("validation_", "training_l"))
        },
    }


PREDICT_INPUT = (
    '{"hyponym": "puppy", "hypernym": "dog"}\n'
    '{"hyponym": "car", "hypernym": "vehicle", "domain": "vehicle"}\n'
)
TINY_ENVIRONMENT = {
    "MFT_ENCODER": str(PROJECT_ROOT / "tests" / "fixtures" / "tiny_bert"),
    "MFT_DATA_DIR": str(PROJECT_ROOT / "tests" / "fixtures" / "data"),
    "MFT_SEED": "13",
}


def timed(command, cwd: Path, env: dict) -> float:
    start = time.perf_counter()
    result = subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True)
    seconds = time.perf_counter() - start
    if result.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{result.stderr[-3000:]}")
    return seconds


def command_startup(venv: Path, repetitions: int, archive: Optional[Path]) -> None:
    """`allennlp --help` and `allennlp predict` of `venv`: median of `repetitions`, 3 lines."""
    allennlp = str(venv / "bin" / "allennlp")
    python = str(venv / "bin" / "python")
    env = dict(os.environ, **TINY_ENVIRONMENT)
    # Away from the clone (no .allennlp_plugins), as a pip install is used.
    env.pop("PYTHONPATH", None)
    stack = subprocess.run(
        [
            python,
            "-c",
            "import sys, torch, torchvision, transformers; print(f'Python {sys.version.split()[0]},"
            " torch {torch.__version__}, torchvision {torchvision.__version__}, transformers "
            "{transformers.__version__}')",
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        if archive is None:
            config = PROJECT_ROOT / "training_configs" / "taxonomy" / "bert_mix.jsonnet"
            timed(
                [allennlp, "train", str(config), "-s", str(scratch / "run")]
                + ["--include-package", "mft_plugin", "-o", '{"trainer": {"num_epochs": 1}}'],
                scratch,
                env,
            )
            archive = scratch / "run" / "model.tar.gz"
        (scratch / "input.jsonl").write_text(PREDICT_INPUT)
        commands = {
            "allennlp --help": [allennlp, "--help"],
            "allennlp predict": [allennlp, "predict", str(archive), str(scratch / "input.jsonl")]
            + ["--include-package", "mft_plugin", "--silent"]
            + ["--output-file", str(scratch / "predictions.jsonl")],
        }
        seconds = {name: [] for name in commands}
        for _ in range(repetitions):
            for name, command in commands.items():
                seconds[name].append(timed(command, scratch, env))
    print(f"{venv}: {stack}; median of {repetitions} runs, wall seconds")
    for name, runs in seconds.items():
        print(f"{name:>17}: {median(runs):.1f} s (min {min(runs):.1f}, max {max(runs):.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repetitions", type=int, default=None)
    parser.add_argument("--domain", default="vehicle")
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument(
        "--venv", type=Path, default=None, help="time allennlp --help and predict of this venv"
    )
    parser.add_argument("--archive", type=Path, default=None, help="with --venv: the archive")
    args = parser.parse_args()
    if args.venv is not None:
        command_startup(args.venv.resolve(), args.repetitions or 5, args.archive)
        return
    args.repetitions = args.repetitions or 3
    # the logs' timestamps are local time to `logging`; compare in UTC
    os.environ["TZ"] = "UTC"
    time.tzset()
    os.environ["MFT_DOMAIN"] = args.domain
    os.environ.setdefault("MFT_SEED", "13")
    overrides = json.dumps({"trainer.num_epochs": args.epochs})
    results = {"command line": [], "forked": []}
    with tempfile.TemporaryDirectory() as scratch:
        for repetition in range(args.repetitions):
            for way in ("forked", "command line"):
                directory = Path(scratch) / f"{way.replace(' ', '_')}-{repetition}"
                results[way].append(train_once(way, directory, overrides))
                print(
                    f"{way:>12} #{repetition}: {results[way][-1]['seconds']:.1f} s, "
                    f"first log line after {results[way][-1]['startup']:.1f} s",
                    flush=True,
                )
    reference = results["command line"][0]["metrics"]
    for way, runs in results.items():
        for run in runs:
            if run["metrics"] != reference:
                raise SystemExit(f"{way} gave other metrics: {run['metrics']} vs {reference}")
    server_start = results["forked"][0]
    steady = results["forked"][1:] or results["forked"]
    command_line = results["command line"]
    print(f"\nBERT (S), taxonomy/{args.domain}, {args.epochs} epoch(s); same metrics every run")
    print(f"first forked run (starts the fork server): {server_start['seconds']:.1f} s")
    for name, key in (("start-up", "startup"), ("whole run", "seconds")):
        forked = mean(run[key] for run in steady)
        baseline = mean(run[key] for run in command_line)
        ratio = forked / baseline
        target = TARGETS["startup" if key == "startup" else "run"]
        print(
            f"{name:>10}: forked {forked:.1f} s, command line {baseline:.1f} s, "
            f"ratio {ratio:.2f} {verdict(ratio, target, at_least=False)}"
        )


if __name__ == "__main__":
    main()
