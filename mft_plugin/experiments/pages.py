"""
The committed results pages, rebuilt from the data they show: every experiment's results.md and
results.png from its results.json, and the results index (docs/results.md) with one summary
table across the experiments and the scoring rule stated once. So no number of the docs is
typed by hand:

    python -m mft_plugin.experiments.pages            # or: make results
    python -m mft_plugin.experiments.pages benchmarks/results docs/results.md --no-plots

`tests/experiments/test_results_pages.py` rebuilds them into a temporary folder and compares.
"""
import json
import math
import os
from pathlib import Path
from typing import Any, Dict, List, Optional

from mft_plugin.experiments.spec import METHODS, Experiment, sweep_label
from mft_plugin.experiments.report import (
    SCORING_RULES,
    SPLITS,
    cell_text,
    markdown,
    parameter_label,
    plot,
    summarise,
)


# The fields of an `Experiment` that a results.json does not keep, none of which the pages
# read: `validate` is missing from the results of experiments run before it existed, which
# validated after every epoch.
_NOT_IN_RESULTS: Dict[str, Any] = {
    "validate": "every_epoch",
    "reader": {},
    "overrides": {},
}


def experiment_from_results(content: Dict[str, Any]) -> Experiment:
    """The `Experiment` of a results.json's content, as far as its pages need it."""
    fields = dict(_NOT_IN_RESULTS)
    fields.update({k: v for k, v in content["experiment"].items() if k != "scoring_rule"})
    return Experiment(**fields)


# The methods of the results index's summary table: the baselines MFT is measured against,
# MFT (Full), and the control that has MFT's two stages without its losses.
INDEX_METHODS = ("bert_s", "bert_mix", "mft_full", "bert_mix_ft")
TASK_NAMES = {"nli": "MNLI genres", "reviews": "Amazon reviews", "taxonomy": "Taxonomy"}


def experiment_folders(results_dir: Path) -> List[Path]:
    """The folders of `results_dir` that hold an experiment's results.json, by name."""
    return sorted(path.parent for path in Path(results_dir).glob("*/results.json"))


def rebuild_pages(folder: Path, output_dir: Path, plots: bool = True) -> Dict[str, Any]:
    """
    Writes `output_dir/results.md` (and results.png, with `plots`) from `folder/results.json`:
    from the summary it keeps, once that is checked to be the one its runs give (to rounding), or
    a ValueError names the file (the runs and the summary would tell different stories).
    Returns the content of the results.json.
    """
    path = Path(folder) / "results.json"
    content = json.loads(path.read_text())
    experiment = experiment_from_results(content)
    summary = content["summary"]
    if not _same(summarise(experiment, content["runs"]), summary):
        raise ValueError(
            f"{path}: its 'summary' is not the one its 'runs' give; write it again from the "
            "run folders with `allennlp mft-experiment <experiment file> -s <runs> --collect`"
        )
    output_dir = Path(output_dir)
    output_dir.mkdir(parents=True, exist_ok=True)
    missing = content.get("missing_runs") or []
    (output_dir / "results.md").write_text(markdown(experiment, summary, missing))
    if plots and summary:
        plot(experiment, summary, output_dir / "results.png")
    return content


def _same(computed: Any, kept: Any) -> bool:
    """Whether two summaries agree, their floats to rounding (Python's `statistics` differs in
    the last bits between versions)."""
    if isinstance(computed, dict) and isinstance(kept, dict):
        return computed.keys() == kept.keys() and all(_same(computed[k], kept[k]) for k in kept)
    if isinstance(computed, float) and isinstance(kept, (int, float)):
        return math.isclose(computed, kept, rel_tol=1e-9, abs_tol=1e-9)
    return computed == kept


def results_index(
    results: Dict[str, Dict[str, Any]], link_prefix: str, others: Optional[List[str]] = None
) -> str:
    """
    The results index: one summary table of the plain results (no sweep, no transfer) of every
    experiment, the Average column of `INDEX_METHODS`, the scoring rule(s) stated once, and a
    line per experiment linking its page. `results` maps a folder name to its results.json
    content, `link_prefix` is the path from the index to the folders; `others` names the
    folders beside them that are not experiments (benchmarks, Table 5), linked at the end.
    """
    experiments = {name: experiment_from_results(content) for name, content in results.items()}
    rules = sorted({experiment.checkpoint for experiment in experiments.values()})
    splits = [s for s in SPLITS if any(s in c["summary"] for c in results.values())]
    displays = [METHODS[method]["display"] for method in INDEX_METHODS]
    metrics = " or ".join(sorted({experiment.metric for experiment in experiments.values()}))

    def link(name: str) -> str:
        return f"[{name}]({link_prefix}/{name}/results.md)"

    lines = [
        "# Results",
        "",
        "Written by `python -m mft_plugin.experiments.pages` (`make results`) from each "
        "experiment's `results.json`; no number here is typed by hand. Every experiment's own "
        "page (linked below) has each domain, every method and, over several seeds, the spread.",
        "",
    ]
    for rule in rules:
        lines.append(SCORING_RULES[rule])
        using = [name for name, e in experiments.items() if e.checkpoint == rule]
        if len(rules) > 1:
            lines.append(f"It scores: {', '.join(using)}.")
        lines.append("")
    lines += [
        "## Summary",
        "",
        f"{' and '.join(splits).capitalize()} {metrics} (%) averaged over the domains of each seed, then the "
        "mean ± standard deviation of those averages over the seeds (one seed: its score "
        "alone); – where the experiment has no such method. The stage-1 and stage-2 epochs are "
        "the experiment's; BERT (S) and BERT (Mix) have no stage 1 and train for the stage-2 "
        "epochs.",
    ]
    for split in splits:
        lines += ["", f"### {split}", ""]
        lines.append(
            "| Task | Experiment | Seeds | Stage-1 epochs | Stage-2 epochs | "
            + " | ".join(displays)
            + " |"
        )
        lines.append("|---|---|---|---:|---:|" + "---:|" * len(displays))
        for name, experiment in experiments.items():
            if experiment.sweep is not None or experiment.transfer:
                continue
            per_row = next(iter(results[name]["summary"].get(split, {}).values()), None)
            if per_row is None:
                continue
            cells = []
            for method in INDEX_METHODS:
                cell = (per_row.get(method) or {}).get("Average")
                cells.append(cell_text(cell, len(experiment.seeds)) if cell else "–")
            task = TASK_NAMES.get(experiment.task, experiment.task)
            seeds = ", ".join(str(seed) for seed in experiment.seeds)
            lines.append(
                f"| {task} | {link(name)} | {seeds} | {experiment.stage1['epochs']} | "
                f"{experiment.stage2['epochs']} | " + " | ".join(cells) + " |"
            )
    lines += [
        "",
        "## Every experiment",
        "",
        "| Experiment | Title | Task | Seeds | Methods | Varies |",
        "|---|---|---|---|---|---|",
    ]
    for name, experiment in experiments.items():
        if experiment.transfer:
            varies = "held-out domain: " + ", ".join(experiment.columns)
        elif experiment.sweep is not None:
            parameter = experiment.sweep["parameter"]
            values = ", ".join(sweep_label(parameter, v) for v in experiment.sweep["values"])
            varies = f"{parameter_label(parameter)}: {values}"
        else:
            varies = "–"
        methods = ", ".join(METHODS[method]["display"] for method in experiment.methods)
        seeds = ", ".join(str(seed) for seed in experiment.seeds)
        task = TASK_NAMES.get(experiment.task, experiment.task)
        lines.append(
            f"| {link(name)} | {experiment.name} | {task} | {seeds} | {methods} | {varies} |"
        )
    if others:
        listed = ", ".join(f"[{name}]({link_prefix}/{name}/)" for name in others)
        lines += [
            "",
            f"Not experiments, with pages of their own (benchmarks, and Table 5's typicality by "
            f"`allennlp mft-typicality`): {listed}.",
        ]
    return "\n".join(lines) + "\n"


def rebuild_all(
    results_dir: Path, index_path: Path, output_dir: Optional[Path] = None, plots: bool = True
) -> List[Path]:
    """
    Rebuilds the pages of every experiment folder of `results_dir` (in place, or under
    `output_dir/<folder>`) and writes the results index to `index_path`, its links relative to
    it. Returns the paths written.
    """
    results_dir = Path(results_dir)
    index_path = Path(index_path)
    written: List[Path] = []
    results: Dict[str, Dict[str, Any]] = {}
    for folder in experiment_folders(results_dir):
        target = folder if output_dir is None else Path(output_dir) / folder.name
        results[folder.name] = rebuild_pages(folder, target, plots=plots)
        written.append(target / "results.md")
        if plots and results[folder.name]["summary"]:
            written.append(target / "results.png")
    if not results:
        raise ValueError(f"{results_dir}: no <experiment>/results.json in it")
    index_path.parent.mkdir(parents=True, exist_ok=True)
    # the index links the pages it was written with
    pages_dir = results_dir if output_dir is None else Path(output_dir)
    prefix = Path(os.path.relpath(pages_dir, index_path.parent)).as_posix()
    others = sorted(
        path.name
        for path in results_dir.iterdir()
        if path.is_dir() and path.name not in results and not path.name.startswith(".")
    )
    index_path.write_text(results_index(results, prefix, others))
    written.append(index_path)
    return written


def main(argv: Optional[List[str]] = None) -> None:
    """`python -m mft_plugin.experiments.pages [RESULTS_DIR] [INDEX]`: rebuild every page."""
    import argparse

    parser = argparse.ArgumentParser(
        prog="python -m mft_plugin.experiments.pages",
        description="Rewrite every experiment's results.md and results.png under RESULTS_DIR "
        "from its results.json, and the results index INDEX.",
    )
    parser.add_argument("results_dir", nargs="?", default="benchmarks/results")
    parser.add_argument("index", nargs="?", default="docs/results.md")
    parser.add_argument("--no-plots", action="store_true", help="leave the results.png alone")
    args = parser.parse_args(argv)
    for path in rebuild_all(Path(args.results_dir), Path(args.index), plots=not args.no_plots):
        print(path)


if __name__ == "__main__":
    main()
