"""
Shared pieces of the benchmark scripts: each measurement runs in a fresh Python process, so
that its peak RSS is its own, and reports back through a JSON file.
"""
import hashlib
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Dict, List, Optional

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def peak_rss_mb() -> float:
    """This process's peak resident set size (Linux reports kilobytes)."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def measure_in_subprocess(
    script: str, *arguments: str, python: Optional[str] = None
) -> Dict[str, Any]:
    """
    Run `script --worker RESULT_FILE ARGUMENTS...` with `python` (default: this interpreter,
    e.g. another stack's virtual environment) and return what it wrote to RESULT_FILE.
    """
    with tempfile.NamedTemporaryFile(suffix=".json") as result_file:
        subprocess.run(
            [python or sys.executable, script, "--worker", result_file.name, *arguments],
            cwd=PROJECT_ROOT,
            check=True,
        )
        return json.loads(Path(result_file.name).read_text())


def register_epoch_timer(measurements: Dict[str, Any]) -> str:
    """
    Register and return the name of a trainer callback that records, per epoch, when
    training started (after every earlier callback's `on_start`, e.g. the prototype pass, or
    after the previous epoch's validation) and when its last training batch ended, plus a hash
    of each training batch's instance ids.
    """
    from allennlp.training.callbacks.callback import TrainerCallback

    name = "benchmark_epoch_timer"
    measurements.update({"batch_hashes": [], "epoch_start": {}, "epoch_end": {}, "instances": 0})

    @TrainerCallback.register(name, exist_ok=True)
    class EpochTimer(TrainerCallback):
        def on_start(self, trainer, is_primary=True, **kwargs):
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
            measurements["instances"] += len(ids)
            measurements["batch_hashes"].append(hashlib.sha1("|".join(ids).encode()).hexdigest())
            measurements["epoch_end"][epoch] = time.perf_counter()

        def on_epoch(self, trainer, metrics, epoch, is_primary=True, **kwargs):
            measurements["epoch_start"][epoch + 1] = time.perf_counter()

    return name


def epoch_seconds(measurements: Dict[str, Any]) -> List[float]:
    """Training time of each epoch, validation excluded."""
    return [
        measurements["epoch_end"][epoch] - measurements["epoch_start"][epoch]
        for epoch in sorted(measurements["epoch_end"])
    ]


def batch_digest(measurements: Dict[str, Any]) -> str:
    return hashlib.sha1("".join(measurements["batch_hashes"]).encode()).hexdigest()


def verdict(ratio: float, target: float, at_least: bool) -> str:
    met = ratio >= target if at_least else ratio <= target
    return f"(target {'>=' if at_least else '<='} {target:.2f}: {'met' if met else 'MISSED'})"
