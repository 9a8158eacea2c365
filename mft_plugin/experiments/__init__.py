"""
Reproduction tooling: experiment files (spec.py), the runs they plan (plan.py), running and
scoring them (runner.py, scoring.py), their reports (report.py, pages.py) and exports for a
scheduler (export.py). See docs/experiments.md.

The names below are imported on first use, so that a module of this package that needs no
AllenNLP (`training_process`, which a fork server and a script's children import) loads without
it.
"""
import importlib
from typing import Any

# name -> the module of this package that defines it
_EXPORTS = {
    "METHODS": "spec",
    "Experiment": "spec",
    "load_experiment": "spec",
    "Run": "plan",
    "plan_runs": "plan",
    "ExperimentRunner": "runner",
}
__all__ = list(_EXPORTS)


def __getattr__(name: str) -> Any:
    if name not in _EXPORTS:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(importlib.import_module(f"{__name__}.{_EXPORTS[name]}"), name)
