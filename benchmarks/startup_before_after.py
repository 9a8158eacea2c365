"""
Start-up of `allennlp --help` and `allennlp predict` (a tiny BERT (Mix) archive, one input), for
two checkouts of the plugin ("before" and "after") on both stacks, each command run from an empty
folder (no `.allennlp_plugins`) with the checkout first on PYTHONPATH. The runs alternate, so
that both sides see the same load; median of 5, wall seconds.

    python benchmarks/startup_before_after.py BEFORE_CHECKOUT AFTER_CHECKOUT
"""
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CODES = {"before": sys.argv[1], "after": sys.argv[2]}
VENVS = {"default": str(ROOT / ".venv"), "classic": str(ROOT / ".venv-classic")}
REPS = 5
scratch = Path(tempfile.mkdtemp())
(scratch / "input.jsonl").write_text('{"hyponym": "puppy", "hypernym": "dog"}\n')


def env(code):
    tiny = f"{code}/tests/fixtures"
    return dict(
        os.environ, PYTHONPATH=code, MFT_ENCODER=f"{tiny}/tiny_bert", MFT_DATA_DIR=f"{tiny}/data"
    )


def run(cmd, code):
    t = time.perf_counter()
    r = subprocess.run(cmd, cwd=scratch, env=env(code), capture_output=True, text=True)
    if r.returncode:
        sys.exit(f"{cmd} failed: {r.stderr[-2000:]}")
    return time.perf_counter() - t


archives = {}
for stack, venv in VENVS.items():
    for side, code in CODES.items():
        out = scratch / f"{stack}-{side}"
        run(
            [
                f"{venv}/bin/allennlp",
                "train",
                f"{code}/training_configs/taxonomy/bert_mix.jsonnet",
                "-s",
                str(out),
                "--include-package",
                "mft_plugin",
                "-o",
                '{"trainer.num_epochs": 1}',
            ],
            code,
        )
        archives[stack, side] = out / "model.tar.gz"
times = {}
for rep in range(REPS):
    for stack, venv in VENVS.items():
        for name in ("allennlp --help", "allennlp predict"):
            for side, code in CODES.items():
                cmd = (
                    [f"{venv}/bin/allennlp", "--help"]
                    if name.endswith("help")
                    else [
                        f"{venv}/bin/allennlp",
                        "predict",
                        str(archives[stack, side]),
                        str(scratch / "input.jsonl"),
                        "--include-package",
                        "mft_plugin",
                        "--silent",
                        "--output-file",
                        str(scratch / "p.jsonl"),
                    ]
                )
                times.setdefault((stack, name, side), []).append(run(cmd, code))


def runs(stack, name, side):
    return sorted(round(x, 1) for x in times[stack, name, side])


for stack in VENVS:
    print(f"{stack} stack ({VENVS[stack]}), median of {REPS}, wall seconds, before -> after:")
    for name in ("allennlp --help", "allennlp predict"):
        b, a = (statistics.median(times[stack, name, s]) for s in ("before", "after"))
        print(
            f"  {name:>16}: {b:5.1f} -> {a:5.1f} s   (before {runs(stack, name, 'before')}, "
            f"after {runs(stack, name, 'after')})"
        )
print(json.dumps({" | ".join(k): v for k, v in times.items()}))
