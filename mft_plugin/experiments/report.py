"""
An experiment's results the way the paper shows them: methods × domains plus the average, the
mean over seeds (± their standard deviation), the best of each column in bold (Tables 2–4, 6,
7), grouped bars, and line plots over a swept setting (Figures 3 and 4).

Besides a method's plain result a table may have rows of a setting (see `table_rows`): a
stage-1 model scored on its own ("MFT (Full), stage 1", `stage1_scores`), and in a transfer
experiment, whose columns are the held-out domains, each method scored on the held-out domain
zero-shot and after training on some or all of its instances ("BERT (Mix), 32 shots").

The plots are drawn to be read at a glance without misleading: bars on a y axis from 0 with
their values written on them; line plots zoomed to their data, their y axes marked as cut and
saying so; a numeric sweep spaced by value; legends outside the axes; parameters by name
("λ (domain corruption weight)"), not by key. `mft_plugin.experiments.pages` rebuilds the
committed pages and the results index from the results.json this module writes.
"""
import json
import math
import statistics
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, Iterator, List, Optional, Tuple

from mft_plugin.experiments.plan import sweep_slug
from mft_plugin.experiments.spec import (
    METHODS,
    STAGE1_SETTING,
    ZERO_SHOT,
    Experiment,
    has_zero_shot,
    shots_of_setting,
    sweep_label,
)

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
STAGE1_NOTE = (
    'A row "…, stage 1" is that method\'s stage-1 model (trained on every domain) scored per '
    "domain from its own run, before any stage 2."
)
TRANSFER_NOTE = (
    "Transfer to a new domain: for each column's domain d, every method but BERT (S) is trained "
    "on the other domains only (BERT (Mix) pooled), then scored on d without training on it "
    '("zero-shot") and after fine-tuning on d ("N shots": N training instances of d, the same '
    'for every method of a seed; "all data": all of them). BERT (S) fine-tunes the pretrained '
    "encoder on the same instances. BERT (MTL) has a classifier per training domain and none "
    "for d: no zero-shot score (–), and its fine-tuning starts a new classifier on its encoder."
)

Row = Tuple[str, Optional[str]]  # (method, setting)


def table_rows(experiment: Experiment) -> List[Row]:
    """
    `(method, setting)` of every row the results may have, in table order: each method, followed
    by its stage-1 row with `stage1_scores`; in a transfer experiment the zero-shot rows (the
    methods with a stage 1), then those of each shots value.
    """
    if experiment.transfer:
        return [
            (method, setting)
            for setting in experiment.transfer_settings
            for method in experiment.methods
            if setting != ZERO_SHOT or method != "bert_s"
        ]
    rows: List[Row] = []
    for method in experiment.methods:
        rows.append((method, None))
        if experiment.stage1_scores and METHODS[method]["stage1"] is not None:
            rows.append((method, STAGE1_SETTING))
    return rows


def row_key(method: str, setting: Optional[str]) -> str:
    """A row's key in the summary: the method, or `method/setting` (`mft_full/stage1`)."""
    return method if setting is None else f"{method}/{setting}"


def row_label(method: str, setting: Optional[str]) -> str:
    """A row's heading: "MFT (Full)", "MFT (Full), stage 1", "BERT (Mix), 32 shots"."""
    display = METHODS[method]["display"]
    if setting is None:
        return display
    return f"{display}, {setting_label(setting)}"


def setting_label(setting: str) -> str:
    if setting == STAGE1_SETTING:
        return "stage 1"
    if setting == ZERO_SHOT:
        return ZERO_SHOT
    shots = shots_of_setting(setting)
    return "all data" if shots == "all" else f"{shots} shots"


def summarise(experiment: Experiment, rows: List[Dict[str, Any]]) -> Dict[str, Any]:
    """
    `{split: {sweep value: {row: {column: {mean, std, n}}}}}`, rows keyed by `row_key` (the
    method for its plain result), columns being the domains (the held-out ones of a transfer
    experiment) and "Average". The average of a seed is the mean over the domains of that
    seed; the Average column is the mean (± std) of those per-seed averages, over seeds with
    every domain scored. Scores are percentages. In a transfer experiment BERT (MTL)'s
    zero-shot row is there with no scores (None), as it has none by design.
    """
    columns = experiment.columns
    summary: Dict[str, Any] = {}
    for split in SPLITS:
        per_value: Dict[str, Any] = {}
        for value in experiment.sweep_values:
            per_row: Dict[str, Any] = {}
            for method, setting in table_rows(experiment):
                selected = [
                    r
                    for r in rows
                    if r["method"] == method
                    and r.get("setting") == setting
                    and r["sweep_value"] == value
                    and r[split] is not None
                ]
                if not selected:
                    if setting == ZERO_SHOT and not has_zero_shot(method):
                        per_row[row_key(method, setting)] = None  # a placeholder, see below
                    continue
                cells: Dict[str, Any] = {}
                for domain in columns:
                    cells[domain] = _stats(
                        [100 * r[split] for r in selected if r["domain"] == domain]
                    )
                averages = []
                for seed in experiment.seeds:
                    seed_scores = {r["domain"]: r[split] for r in selected if r["seed"] == seed}
                    if len(seed_scores) == len(columns):
                        averages.append(100 * statistics.mean(seed_scores.values()))
                cells["Average"] = _stats(averages)
                per_row[row_key(method, setting)] = cells
            if any(cells is not None for cells in per_row.values()):
                empty = {column: None for column in columns + ["Average"]}
                per_value[_value_key(value)] = {
                    key: cells if cells is not None else dict(empty)
                    for key, cells in per_row.items()
                }
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
    One table per split (and per swept value), the best mean of every column in bold (in a
    transfer experiment, of every column and setting); the runs in `missing` (planned, not
    finished) are listed under the header.
    """
    columns = experiment.columns + ["Average"]
    rows_by_key = {row_key(*row): row for row in table_rows(experiment)}
    lines = [f"# {experiment.name}", ""]
    if len(experiment.seeds) == 1:
        over = f"of seed {experiment.seeds[0]}"
    else:
        over = (
            f"mean ± standard deviation over {len(experiment.seeds)} seeds {experiment.seeds} "
            "(a cell scored by fewer seeds says how many)"
        )
    best_of = "each column and setting" if experiment.transfer else "each column"
    lines.append(
        f"Task `{experiment.task}`, {experiment.metric} (%) {over}; "
        f"best mean of {best_of} in bold."
    )
    lines += ["", SCORING_RULES[experiment.checkpoint]]
    if experiment.transfer:
        lines += ["", TRANSFER_NOTE]
    if experiment.stage1_scores:
        lines += ["", STAGE1_NOTE]
    if missing:
        listed = ", ".join(f"`{run_id}`" for run_id in missing)
        lines += ["", f"Runs not finished ({len(missing)}): {listed}"]
    for split, per_value in summary.items():
        for value_key, per_row in per_value.items():
            value = json.loads(value_key)
            title = f"## {split}"
            if experiment.sweep is not None:
                title += f", {sweep_slug(experiment.sweep['parameter'], value)}"
            lines += ["", title, ""]
            lines.append("| Method | " + " | ".join(columns) + " |")
            lines.append("|---|" + "---:|" * len(columns))

            def group(key: str) -> Optional[str]:
                # rows compete within their setting in a transfer experiment, all of them else
                return rows_by_key[key][1] if experiment.transfer else None

            best = {
                (group(key), column): max(
                    (
                        other[column]["mean"]
                        for other_key, other in per_row.items()
                        if group(other_key) == group(key) and other[column]
                    ),
                    default=None,
                )
                for key in per_row
                for column in columns
            }
            for key, cells in per_row.items():
                row = [row_label(*rows_by_key[key])]
                for column in columns:
                    cell = cells[column]
                    if cell is None:
                        row.append("–")
                        continue
                    text = cell_text(cell, len(experiment.seeds))
                    is_best = cell["mean"] == best[(group(key), column)]
                    row.append(f"**{text}**" if is_best else text)
                lines.append("| " + " | ".join(row) + " |")
    return "\n".join(lines) + "\n"


def cell_text(cell: Dict[str, float], planned_seeds: int) -> str:
    """`mean ± std`; one seed has no spread to show, so its score stands alone."""
    if cell["n"] == 1:
        text = f"{cell['mean']:.1f}"
    else:
        text = f"{cell['mean']:.1f} ± {cell['std']:.1f}"
    if cell["n"] < planned_seeds:
        text += f" (n={cell['n']})"
    return text


# How a swept parameter is named on an axis, and (short) in a legend entry.
PARAMETER_LABELS = {
    "lambda": ("λ (domain corruption weight)", "λ"),
    "alpha": ("α (typicality, eq. 2)", "α"),
    "mft_epochs": ("MFT epochs (stage 1)", "stage-1 epochs"),
    "skip_layers": ("skip layers Ls", "Ls"),
    "sample_fraction": ("fraction of the training data", "fraction"),
    "mft_model": ("MFT model option", "option"),
    "prototypes_per_class": ("J (prototypes per class)", "J"),
}
Y_NOTE = "y axis does not start at 0"
BREAK_MARK = "y-break"  # the gid of the marks drawn where a y axis is cut


def parameter_label(parameter: str, short: bool = False) -> str:
    """A swept parameter's name for a reader: `lambda` → "λ (domain corruption weight)"."""
    long, brief = PARAMETER_LABELS.get(parameter, (parameter.replace("_", " "),) * 2)
    return brief if short else long


def sweep_positions(values: List[Any]) -> Optional[List[float]]:
    """
    The x positions of a sweep's values: the values themselves where every one is a number
    (λ 0, 0.05, 0.1, 0.2, 0.3, 0.5 spaced as the numbers are), None for values without an
    order or a scale (layer lists, named options), which sit side by side.
    """
    if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
        return [float(v) for v in values]
    return None


def plot(experiment: Experiment, summary: Dict[str, Any], path: Path) -> None:
    """Draws `results_figure(experiment, summary)` to `path` (PNG), the legend and notes included."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    drawn = results_figure(plt, experiment, summary)
    # "tight": the legends outside the axes are part of the picture
    drawn.savefig(path, dpi=120, bbox_inches="tight")
    plt.close(drawn)


def results_figure(plt, experiment: Experiment, summary: Dict[str, Any]):
    """
    Grouped bars per column, on a y axis from 0 with each bar's value written on it; with a
    sweep, one line a row over the swept values per column (a numeric parameter spaced by
    value); in a transfer experiment, one line a method over the settings (zero-shot, then more
    and more instances of the held-out domain) per column. Legends sit outside the axes; a y
    axis that does not start at 0 says so. Returns the matplotlib figure.
    """
    split = "test" if "test" in summary else "dev"
    per_value = summary.get(split, {})
    columns = experiment.columns + ["Average"]
    labels = {row_key(*row): row_label(*row) for row in table_rows(experiment)}
    ylabel = f"{experiment.metric} (%), {split}"
    if experiment.transfer:
        settings = experiment.transfer_settings

        def transfer_lines(column: str) -> Iterator[Tuple[str, List[Optional[Dict]]]]:
            for value_key, per_row in per_value.items():
                for method in experiment.methods:
                    label = METHODS[method]["display"]
                    if experiment.sweep is not None:
                        parameter = experiment.sweep["parameter"]
                        value = sweep_label(parameter, json.loads(value_key))
                        label += f", {parameter_label(parameter, short=True)} = {value}"
                    yield label, [
                        (per_row.get(row_key(method, setting)) or {}).get(column)
                        for setting in settings
                    ]

        ticks = [setting_label(s).replace(" shots", "") for s in settings]
        drawn = _line_plots(
            plt,
            columns,
            ticks,
            "training instances (not to scale)",
            ylabel,
            transfer_lines,
            title=experiment.name,
        )
    elif experiment.sweep is None:
        per_row: Dict[str, Any] = next(iter(per_value.values()), {})
        drawn = _bars(plt, columns, per_row, labels, ylabel, title=experiment.name)
    else:

        def sweep_lines(column: str) -> Iterator[Tuple[str, List[Optional[Dict]]]]:
            for key, label in labels.items():
                yield label, [(per_value[v].get(key) or {}).get(column) for v in per_value]

        parameter = experiment.sweep["parameter"]
        values = [json.loads(key) for key in per_value]
        ticks = [sweep_label(parameter, value) for value in values]
        # named variants of MFT's model have no order: points, not lines between them
        drawn = _line_plots(
            plt,
            columns,
            ticks,
            parameter_label(parameter),
            ylabel,
            sweep_lines,
            connect=parameter != "mft_model",
            positions=sweep_positions(values),
            title=experiment.name,
        )
    return drawn


def _bars(
    plt,
    columns: List[str],
    per_row: Dict[str, Any],
    labels: Dict[str, str],
    ylabel: str,
    title: Optional[str] = None,
):
    """
    A group of bars a column, a bar a row with its standard deviation over seeds, on a y axis
    from 0 (a bar's length is its value); every bar has its mean written above it, as eight
    bars of a column within a point of each other cannot be told apart by eye. The legend is
    to the right of the axes.
    """
    figure, axes = plt.subplots(figsize=(3.2 + 1.6 * len(columns), 4.2))
    width = 0.8 / max(1, len(per_row))
    top = 0.0
    for index, (key, cells) in enumerate(per_row.items()):
        positions = [c + (index - (len(per_row) - 1) / 2) * width for c in range(len(columns))]
        means = [cells[c]["mean"] if cells[c] else 0.0 for c in columns]
        errors = [cells[c]["std"] if cells[c] else 0.0 for c in columns]
        bars = axes.bar(positions, means, width, yerr=errors, capsize=2, label=labels[key])
        texts = [f"{cells[c]['mean']:.1f}" if cells[c] else "–" for c in columns]
        axes.bar_label(bars, labels=texts, rotation=90, fontsize=7, padding=2)
        top = max([top] + [mean + error for mean, error in zip(means, errors)])
    axes.set_xticks(range(len(columns)))
    axes.set_xticklabels(columns)
    axes.set_ylabel(ylabel)
    # room above the tallest bar for its value
    axes.set_ylim(0.0, max(1.0, top * 1.12))
    axes.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    return figure


def _line_plots(
    plt,
    columns: List[str],
    ticks: List[str],
    xlabel: str,
    ylabel: str,
    lines: Callable[[str], Iterable[Tuple[str, List[Optional[Dict]]]]],
    connect: bool = True,
    positions: Optional[List[float]] = None,
    title: Optional[str] = None,
):
    """
    One axes a column, side by side, each with a line for every `(label, points)` that
    `lines(column)` gives (a point per tick, its standard deviation over seeds as an error bar;
    a missing point is a gap, a line of none is left out; with `connect` false, the points only),
    on a y axis at least `MIN_SPAN` points tall. The points sit at `positions` (the values of a
    numeric sweep), or side by side in tick order where there are none. One legend for the
    figure, below the axes. A y axis that does not start at 0 has break marks at its foot and
    says so in its label. Returns the figure.
    """
    figure, all_axes = plt.subplots(
        1, len(columns), figsize=(3.2 * len(columns), 3.4), squeeze=False
    )
    numeric = positions is not None
    xs = list(positions) if positions is not None else list(range(len(ticks)))
    order = sorted(range(len(ticks)), key=lambda i: xs[i])  # a line runs left to right
    # long labels (named variants), or values close together on their scale (λ 0, 0.05, 0.1),
    # slanted, so that they do not run into each other
    span = max(xs) - min(xs) if len(xs) > 1 else 0.0
    close = (
        numeric
        and span > 0
        and min(b - a for a, b in zip(sorted(xs), sorted(xs)[1:])) < 0.12 * span
    )
    slanted = max(map(len, ticks), default=0) > 6 or close
    handles: Dict[str, Any] = {}
    for axes, column in zip(all_axes[0], columns):
        drawn: List[float] = []
        for label, points in lines(column):
            if not any(points):
                continue
            ordered = [points[i] for i in order]
            means = [point["mean"] if point else float("nan") for point in ordered]
            # the spread over seeds, where there are several
            spreads = [(point.get("std") or 0.0) if point else 0.0 for point in ordered]
            handle = axes.errorbar(
                [xs[i] for i in order],
                means,
                yerr=spreads,
                capsize=2,
                marker="o",
                linestyle="-" if connect else "none",
                label=label,
            )
            handles.setdefault(label, handle)
            drawn += [
                mean + sign * spread for mean, spread in zip(means, spreads) for sign in (-1, 1)
            ]
        _at_least_min_span(axes, [value for value in drawn if not math.isnan(value)])
        axes.set_title(column)
        axes.set_xticks(xs)
        axes.set_xticklabels(
            ticks,
            fontsize="small",
            rotation=40 if slanted else 0,
            horizontalalignment="right" if slanted else "center",
        )
        if span > 0:
            # a margin either side, as the span of the values sets the scale
            axes.set_xlim(min(xs) - 0.06 * span, max(xs) + 0.06 * span)
        axes.set_xlabel(xlabel)
        if axes.get_ylim()[0] > 0:
            _mark_cut_y_axis(axes)
    truncated = any(axes.get_ylim()[0] > 0 for axes in all_axes[0])
    all_axes[0][0].set_ylabel(f"{ylabel}\n({Y_NOTE})" if truncated else ylabel)
    if title:
        figure.suptitle(title)
    figure.tight_layout()
    if handles:
        # below the axes, where it covers no line; the labels of every column (while an
        # experiment runs, some columns have no line yet)
        figure.legend(
            list(handles.values()),
            list(handles),
            loc="upper center",
            bbox_to_anchor=(0.5, 0.0),
            ncol=min(len(handles), 6),
            fontsize="small",
            frameon=False,
        )
    return figure


def _mark_cut_y_axis(axes) -> None:
    """Two short slashes across the foot of the y axis: the axis is cut, it does not reach 0."""
    for offset in (-0.012, 0.012):
        axes.plot(
            [-0.015, 0.015],
            [offset - 0.012, offset + 0.012],
            transform=axes.transAxes,
            color="black",
            linewidth=1,
            clip_on=False,
            gid=BREAK_MARK,
        )


# Percentage points. One seed resolves about a point on these dev sets (README "Results");
# left to autoscale, an axis would draw a 0.1-point wobble as a steep slope.
MIN_SPAN = 2.0


def _at_least_min_span(axes, values: List[float]) -> None:
    """Widens the y axis to `MIN_SPAN` around `values` where they span less."""
    if not values:
        return
    low, high = min(values), max(values)
    if high - low < MIN_SPAN:
        middle = (low + high) / 2
        axes.set_ylim(middle - MIN_SPAN / 2, middle + MIN_SPAN / 2)


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
            "validate": experiment.validate,
            "bf16": experiment.bf16,
            "data": experiment.data,
            "encoder": experiment.encoder,
            "stage1": experiment.stage1,
            "stage2": experiment.stage2,
            "few_shot": experiment.few_shot,
            "sweep": experiment.sweep,
            "stage1_scores": experiment.stage1_scores,
            "transfer": experiment.transfer,
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
