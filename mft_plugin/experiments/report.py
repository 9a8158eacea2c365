"""
An experiment's results the way the paper shows them: methods × domains plus the average, the
mean over seeds (± their standard deviation), the best of each column in bold (Tables 2–4, 6,
7), grouped bars, and line plots over a swept setting (Figures 3 and 4).
"""
import json
import statistics
from pathlib import Path
from typing import Any, Dict, List, Optional

from mft_plugin.experiments.plan import METHODS, Experiment, sweep_slug

SPLITS = ("dev", "test")
SCORING_RULES = {
    "last": (
        "Scoring rule: every run, pooled (BERT (Mix)) or per domain (BERT (S), every stage 2), "
        "is scored at its last epoch, and stage 1 hands its last epoch to stage 2; no method "
        "selects an epoch on dev. Test figures are those of the same (last-epoch) model."
    ),
    "best": (
        "Scoring rule: each run at the epoch of its best dev accuracy (pooled accuracy for BERT "
        "(Mix), the domain's own for per-domain runs), as AllenNLP keeps it."
    ),
}


def summarise(experiment: Experiment, rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """
    `{split: {sweep value: {method: {column: {mean, std, n}}}}}`, columns being the domains and
    "Average". The average of a seed is the mean over the domains of that seed; the Average
    column is the mean (± std) of those per-seed averages, over seeds with every domain scored.
    Scores are percentages.
    """
    summary: Dict[str, Any] = {}
    for split in SPLITS:
        per_value: Dict[str, Any] = {}
        for value in experiment.sweep_values:
            per_method: Dict[str, Any] = {}
            for method in experiment.methods:
                selected = [
                    r
                    for r in rows
                    if r["method"] == method and r["sweep_value"] == value and r[split] is not None
                ]
                if not selected:
                    continue
                columns: Dict[str, Any] = {}
                for domain in experiment.domains:
                    columns[domain] = _stats(
                        [100 * r[split] for r in selected if r["domain"] == domain]
                    )
                averages = []
                for seed in experiment.seeds:
                    seed_scores = {r["domain"]: r[split] for r in selected if r["seed"] == seed}
                    if len(seed_scores) == len(experiment.domains):
                        averages.append(100 * statistics.mean(seed_scores.values()))
                columns["Average"] = _stats(averages)
                per_method[method] = columns
            if per_method:
                per_value[_value_key(value)] = per_method
        if per_value:
            summary[split] = per_value
    return summary


def _stats(values: List[float]) -> Optional[Dict[str, float]]:
    if not values:
        return None
    return {
        "mean": statistics.mean(values),
        "std": statistics.stdev(values) if len(values) > 1 else 0.0,
        "n": len(values),
    }


def _value_key(value: Any) -> str:
    return json.dumps(value)


def markdown(
    experiment: Experiment, summary: Dict[str, Any], missing: Optional[List[str]] = None
) -> str:
    """
    One table per split (and per swept value), the best mean of every column in bold; the runs
    in `missing` (planned, not finished) are listed under the header.
    """
    columns = experiment.domains + ["Average"]
    lines = [f"# {experiment.name}", ""]
    if len(experiment.seeds) == 1:
        over = f"of seed {experiment.seeds[0]}"
    else:
        over = (
            f"mean ± standard deviation over {len(experiment.seeds)} seeds {experiment.seeds} "
            "(a cell scored by fewer seeds says how many)"
        )
    lines.append(
        f"Task `{experiment.task}`, {experiment.metric} (%) {over}; "
        "best mean of each column in bold."
    )
    lines += ["", SCORING_RULES[experiment.checkpoint]]
    if missing:
        listed = ", ".join(f"`{run_id}`" for run_id in missing)
        lines += ["", f"Runs not finished ({len(missing)}): {listed}"]
    for split, per_value in summary.items():
        for value_key, per_method in per_value.items():
            value = json.loads(value_key)
            title = f"## {split}"
            if experiment.sweep is not None:
                title += f", {sweep_slug(experiment.sweep['parameter'], value)}"
            lines += ["", title, ""]
            lines.append("| Method | " + " | ".join(columns) + " |")
            lines.append("|---|" + "---:|" * len(columns))
            best = {
                column: max(
                    (cells[column]["mean"] for cells in per_method.values() if cells[column]),
                    default=None,
                )
                for column in columns
            }
            for method, cells in per_method.items():
                row = [METHODS[method]["display"]]
                for column in columns:
                    cell = cells[column]
                    if cell is None:
                        row.append("–")
                        continue
                    text = _cell_text(cell, len(experiment.seeds))
                    row.append(f"**{text}**" if cell["mean"] == best[column] else text)
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def _cell_text(cell: Dict[str, float], planned_seeds: int) -> str:
    """`mean ± std`; one seed has no spread to show, so its score stands alone."""
    if cell["n"] == 1:
        text = f"{cell['mean']:.1f}"
    else:
        text = f"{cell['mean']:.1f} ± {cell['std']:.1f}"
    if cell["n"] < planned_seeds:
        text += f" (n={cell['n']})"
    return text


def plot(experiment: Experiment, summary: Dict[str, Any], path: Path) -> None:
    """Grouped bars per column; with a sweep, one line a method over the swept values per column."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    split = "test" if "test" in summary else "dev"
    per_value = summary.get(split, {})
    columns = experiment.domains + ["Average"]
    if experiment.sweep is None:
        per_method = next(iter(per_value.values()), {})
        figure, axes = plt.subplots(figsize=(3.2 + 1.4 * len(columns), 4))
        width = 0.8 / max(1, len(per_method))
        for index, (method, cells) in enumerate(per_method.items()):
            positions = [
                c + (index - (len(per_method) - 1) / 2) * width for c in range(len(columns))
            ]
            means = [cells[c]["mean"] if cells[c] else 0.0 for c in columns]
            errors = [cells[c]["std"] if cells[c] else 0.0 for c in columns]
            axes.bar(
                positions, means, width, yerr=errors, capsize=2, label=METHODS[method]["display"]
            )
        axes.set_xticks(range(len(columns)))
        axes.set_xticklabels(columns)
        axes.set_ylabel(f"{experiment.metric} (%), {split}")
        _zoom(
            axes, [cells[c]["mean"] for cells in per_method.values() for c in columns if cells[c]]
        )
        # beside the axes: inside, it hides the bars of the first column
        axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        parameter = experiment.sweep["parameter"]
        values = [json.loads(key) for key in per_value]
        labels = ["-".join(map(str, v)) if isinstance(v, list) else str(v) for v in values]
        figure, all_axes = plt.subplots(
            1, len(columns), figsize=(3.2 * len(columns), 3.4), squeeze=False
        )
        for axes, column in zip(all_axes[0], columns):
            for method in experiment.methods:
                points = [per_value[key].get(method, {}).get(column) for key in per_value]
                means = [p["mean"] if p else float("nan") for p in points]
                axes.plot(range(len(values)), means, marker="o", label=METHODS[method]["display"])
            axes.set_title(column)
            axes.set_xticks(range(len(values)))
            axes.set_xticklabels(labels, fontsize="small")
            axes.set_xlabel(parameter)
        all_axes[0][0].set_ylabel(f"{experiment.metric} (%), {split}")
        all_axes[0][-1].legend(fontsize="small")
    figure.suptitle(experiment.name)
    figure.tight_layout()
    figure.savefig(path, dpi=120)
    plt.close(figure)


def _zoom(axes, means: List[float]) -> None:
    if means:
        low, high = min(means), max(means)
        axes.set_ylim(max(0.0, low - 10), min(100.0, high + 5))


def write_results(
    experiment: Experiment,
    rows: List[Dict[str, Any]],
    output_dir: Path,
    missing: Optional[List[str]] = None,
) -> Dict[str, Any]:
    """
    Write results.json, results.md and results.png; returns the summary. `missing` names the
    planned runs that have not finished (their scores are absent).
    """
    summary = summarise(experiment, rows)
    content = {
        "experiment": {
            "name": experiment.name,
            "task": experiment.task,
            "domains": experiment.domains,
            "methods": experiment.methods,
            "seeds": experiment.seeds,
            "metric": experiment.metric,
            "checkpoint": experiment.checkpoint,
            "scoring_rule": SCORING_RULES[experiment.checkpoint],
            "bf16": experiment.bf16,
            "data": experiment.data,
            "encoder": experiment.encoder,
            "stage1": experiment.stage1,
            "stage2": experiment.stage2,
            "few_shot": experiment.few_shot,
            "sweep": experiment.sweep,
        },
        "runs": rows,
        "missing_runs": list(missing or []),
        "summary": summary,
    }
    (output_dir / "results.json").write_text(json.dumps(content, indent=2))
    (output_dir / "results.md").write_text(markdown(experiment, summary, missing))
    if summary:
        plot(experiment, summary, output_dir / "results.png")
    return summary
