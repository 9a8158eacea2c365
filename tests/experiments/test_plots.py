"""
What the results plots show, read from matplotlib's objects (not pixels) of the figures drawn
from the committed results.json files: y axes from 0 or marked as cut, numeric sweeps spaced by
value, legends outside every axes, parameters named for a reader, bar values written.
"""
import json

import pytest

from mft_plugin.experiments import report
from mft_plugin.experiments.pages import experiment_from_results
from mft_plugin.experiments.spec import SWEEPS
from tests.conftest import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results"


@pytest.fixture(scope="module")
def plt():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    yield plt
    plt.close("all")


def _draw(plt, name):
    content = json.loads((RESULTS / name / "results.json").read_text())
    figure = report.results_figure(plt, experiment_from_results(content), content["summary"])
    figure.canvas.draw()
    return figure, content


def test_the_lambda_axis_is_spaced_by_value(plt):
    figure, _ = _draw(plt, "figure4_lambda_taxonomy")
    values = [0, 0.05, 0.1, 0.2, 0.3, 0.5]
    for axes in figure.axes:
        assert list(axes.get_xticks()) == pytest.approx(values)
        assert [t.get_text() for t in axes.get_xticklabels()] == [
            "0",
            "0.05",
            "0.1",
            "0.2",
            "0.3",
            "0.5",
        ]
        assert axes.get_xlabel() == "λ (domain corruption weight)"
        (line,) = [line for line in axes.lines if line.get_gid() != report.BREAK_MARK][:1]
        assert list(line.get_xdata()) == pytest.approx(values)
    plt.close(figure)


def test_a_descending_sweep_is_drawn_left_to_right_by_value(plt):
    # Table 6 sweeps the sample fraction 1, 0.5, 0.25: the line runs 0.25 → 1
    figure, content = _draw(plt, "table6_mnli_few_shot")
    axes = figure.axes[-1]  # Average
    (container,) = [c for c in axes.containers if c.get_label() == "MFT (Full)"]
    line = container.lines[0]  # the data line of the error bars
    assert list(line.get_xdata()) == [0.25, 0.5, 1.0]
    summary = content["summary"]["dev"]
    expected = [summary[key]["mft_full"]["Average"]["mean"] for key in ("0.25", "0.5", "1")]
    assert list(line.get_ydata()) == pytest.approx(expected)
    plt.close(figure)


@pytest.mark.parametrize(
    "name",
    ["table4_taxonomy", "figure3_mft_epochs_taxonomy", "transfer_mnli", "mft_variants_amazon"],
)
def test_every_y_axis_starts_at_0_or_says_it_does_not(plt, name):
    figure, _ = _draw(plt, name)
    axes_list = figure.axes
    cut = [axes for axes in axes_list if axes.get_ylim()[0] > 0]
    for axes in axes_list:
        low = axes.get_ylim()[0]
        marks = [line for line in axes.lines if line.get_gid() == report.BREAK_MARK]
        assert low == 0 or (low > 0 and len(marks) == 2), (axes.get_title(), low)
    if cut:
        assert report.Y_NOTE in axes_list[0].get_ylabel()
    else:
        assert report.Y_NOTE not in axes_list[0].get_ylabel()
    plt.close(figure)


def test_bars_start_at_0_and_carry_their_values(plt):
    figure, content = _draw(plt, "table4_taxonomy")
    (axes,) = figure.axes
    assert axes.get_ylim()[0] == 0
    per_row = content["summary"]["dev"]["null"]
    from matplotlib.container import BarContainer

    bars = [c for c in axes.containers if isinstance(c, BarContainer)]
    assert [c.get_label() for c in bars] == [
        "BERT (S)",
        "BERT (Mix)",
        "BERT (MTL)",
        "BERT (Adv)",
        "MFT (DC)",
        "MFT (TW)",
        "MFT (Full)",
        "BERT (Mix+FT)",
    ]
    heights = [patch.get_height() for c in bars for patch in c.patches]
    texts = [t.get_text() for t in axes.texts]
    expected = [
        f"{cells[column]['mean']:.1f}"
        for cells in per_row.values()
        for column in ["animal", "plant", "vehicle", "Average"]
    ]
    assert texts == expected
    assert [f"{h:.1f}" for h in heights] == expected
    # the tallest bar and its value fit under the top of the axes
    assert axes.get_ylim()[1] > max(
        c["mean"] + c["std"] for r in per_row.values() for c in r.values()
    )
    plt.close(figure)


def _overlaps(box, other):
    return box.x0 < other.x1 and other.x0 < box.x1 and box.y0 < other.y1 and other.y0 < box.y1


@pytest.mark.parametrize(
    "name",
    ["table4_taxonomy", "figure4_lambda_taxonomy", "transfer_taxonomy", "table6_mnli_few_shot"],
)
def test_legends_cover_no_axes(plt, name):
    figure, _ = _draw(plt, name)
    renderer = figure.canvas.get_renderer()
    legends = figure.legends + [a.get_legend() for a in figure.axes if a.get_legend()]
    assert len(legends) == 1
    box = legends[0].get_window_extent(renderer)
    for axes in figure.axes:
        assert not _overlaps(box, axes.get_window_extent(renderer)), axes.get_title()
    plt.close(figure)


def test_no_axis_is_labelled_with_a_raw_key(plt):
    labels = {}
    for name in ("figure3_mft_epochs_taxonomy", "mft_variants_taxonomy", "mft_prototypes_mnli"):
        figure, _ = _draw(plt, name)
        labels[name] = {axes.get_xlabel() for axes in figure.axes}
        plt.close(figure)
    assert labels == {
        "figure3_mft_epochs_taxonomy": {"MFT epochs (stage 1)"},
        "mft_variants_taxonomy": {"MFT model option"},
        "mft_prototypes_mnli": {"J (prototypes per class)"},
    }
    assert all(report.parameter_label(p) not in SWEEPS for p in SWEEPS)


def test_named_options_sit_side_by_side_and_numbers_by_value():
    assert report.sweep_positions([0, 0.05, 0.5]) == [0.0, 0.05, 0.5]
    assert report.sweep_positions([[6], [3, 6]]) is None
    assert report.sweep_positions([{"name": "paper"}]) is None
    assert report.sweep_positions([True, False]) is None
