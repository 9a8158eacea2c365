"""Experiment files, the runs they plan, and the tables and plots of their results."""
import json
import warnings

import pytest
from allennlp.common.checks import ConfigurationError

from mft_plugin.experiments import ExperimentRunner, report
from mft_plugin.experiments.plan import plan_runs
from mft_plugin.experiments.spec import load_experiment
from mft_plugin.experiments.report import markdown, summarise, table_rows, write_results
from tests.conftest import CONFIGS, SHARED_DATA


def _experiment_file(tmp_path, **content):
    base = {
        "task": "taxonomy",
        "domains": ["animal", "vehicle"],
        "data": {"train": "train", "dev": "dev"},
        "encoder": "some-encoder",
        "methods": ["bert_s", "mft_full"],
        "seeds": [1, 2],
    }
    base.update(content)
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(base))
    return str(path)


def test_plan_puts_every_stage1_before_its_stage2_runs(tmp_path):
    experiment = load_experiment(_experiment_file(tmp_path, methods=["bert_mix", "bert_mtl"]))
    ids = [run.run_id for run in plan_runs(experiment)]
    assert ids == [
        "bert_mix/default/seed-1/mix",
        "bert_mix/default/seed-2/mix",
        "bert_mtl/default/seed-1/stage1",
        "bert_mtl/default/seed-1/animal",
        "bert_mtl/default/seed-1/vehicle",
        "bert_mtl/default/seed-2/stage1",
        "bert_mtl/default/seed-2/animal",
        "bert_mtl/default/seed-2/vehicle",
    ]


def test_bert_mix_ft_plans_a_pooled_stage1_then_a_stage2_per_domain_from_it(tmp_path):
    experiment = load_experiment(_experiment_file(tmp_path, methods=["bert_mix_ft"], seeds=[1]))
    runs = plan_runs(experiment)
    assert [(run.run_id, run.is_stage1, run.depends_on) for run in runs] == [
        ("bert_mix_ft/default/seed-1/stage1", True, None),
        ("bert_mix_ft/default/seed-1/animal", False, "bert_mix_ft/default/seed-1/stage1"),
        ("bert_mix_ft/default/seed-1/vehicle", False, "bert_mix_ft/default/seed-1/stage1"),
    ]
    assert runs[0].spec["kind"] == "mix_stage1"
    assert runs[1].spec["stage1_archive"] == "bert_mix_ft/default/seed-1/stage1/model.tar.gz"
    # its stage 1 is a stage 1 of every sweep over the stage-1 epochs
    swept = load_experiment(
        _experiment_file(
            tmp_path,
            methods=["bert_mix", "bert_mix_ft"],
            seeds=[1],
            sweep={"parameter": "mft_epochs", "values": [1, 2]},
        )
    )
    assert [run.run_id for run in plan_runs(swept) if run.is_stage1] == [
        "bert_mix_ft/mft_epochs=1/seed-1/stage1",
        "bert_mix_ft/mft_epochs=2/seed-1/stage1",
    ]


def test_sweep_trains_unaffected_methods_once(tmp_path):
    experiment = load_experiment(
        _experiment_file(tmp_path, seeds=[1], sweep={"parameter": "lambda", "values": [0.0, 0.2]})
    )
    runs = plan_runs(experiment)
    ids = [run.run_id for run in runs]
    assert ids == [
        "bert_s/default/seed-1/animal",
        "bert_s/default/seed-1/vehicle",
        "mft_full/lambda=0/seed-1/stage1",
        "mft_full/lambda=0/seed-1/animal",
        "mft_full/lambda=0/seed-1/vehicle",
        "mft_full/lambda=0.2/seed-1/stage1",
        "mft_full/lambda=0.2/seed-1/animal",
        "mft_full/lambda=0.2/seed-1/vehicle",
    ]
    assert runs[0].sweep_values == [0, 0.2]  # jsonnet writes 0.0 as 0
    assert runs[5].spec["stage1"]["lambda"] == 0.2


def test_few_shot_sweep_samples_training_data_only(tmp_path):
    experiment = load_experiment(
        _experiment_file(
            tmp_path, seeds=[1], sweep={"parameter": "sample_fraction", "values": [0.5]}
        )
    )
    run = plan_runs(experiment)[0]
    # the run's seed also draws the sample (see test_run_configs.py)
    assert run.spec["train_sample"] == {"sample_fraction": 0.5, "sample_seed": 1}
    assert run.run_id == "bert_s/sample_fraction=0.5/seed-1/animal"


@pytest.mark.parametrize(
    "content, message",
    [
        ({"method": ["bert_s"]}, r"unknown key\(s\) \['method'\]"),
        ({"methods": ["bert_x"]}, r"methods \['bert_x'\] unknown"),
        ({"task": "parsing"}, "task must be one of"),
        ({"stage1": {"epoch": 2}}, r"stage1 has unknown key\(s\) \['epoch'\]"),
        ({"sweep": {"parameter": "lr", "values": [1]}}, "sweep.parameter must be one of"),
        ({"data": {"train": "x"}}, "data.dev is required"),
        # α out of (0, 1) is refused when the file loads, not when its run starts
        ({"stage1": {"alpha": 1.0}}, r"stage1.alpha: typicality.alpha must lie in \(0, 1\), got 1"),
        (
            {"sweep": {"parameter": "alpha", "values": [0.25, 0]}},
            r"sweep.values\[1\]: typicality.alpha must lie in \(0, 1\), got 0",
        ),
        (
            {"sweep": {"parameter": "alpha", "values": ["0.5"]}},
            r"sweep.values\[0\]: α must be a number in \(0, 1\), got '0.5'",
        ),
    ],
)
def test_experiment_errors_name_the_key(tmp_path, content, message):
    path = _experiment_file(tmp_path, **content)
    with pytest.raises(ConfigurationError, match=message) as error:
        load_experiment(path)
    assert str(error.value).startswith(path)


@pytest.mark.parametrize(
    "methods, refused",
    [
        (["bert_s", "mft_full"], ["mft_full"]),
        (["mft_dc", "mft_tw", "bert_adv", "bert_mix"], ["mft_dc", "mft_tw", "bert_adv"]),
    ],
)
@pytest.mark.parametrize("domains", [["animal"], ["animal", "animal"]])
def test_methods_that_tell_domains_apart_are_refused_with_one_domain(
    tmp_path, methods, refused, domains
):
    path = _experiment_file(tmp_path, domains=domains, methods=methods)
    with pytest.raises(ConfigurationError) as error:
        load_experiment(path)
    assert str(error.value) == (
        f"{path}: the methods {refused} tell domains apart in stage 1 and need at least two "
        f"domains, but domains lists {domains}"
    )


def test_methods_that_do_not_tell_domains_apart_plan_one_domain(tmp_path):
    methods = ["bert_s", "bert_mix", "bert_mtl", "bert_mix_ft"]
    experiment = load_experiment(_experiment_file(tmp_path, domains=["animal"], methods=methods))
    runs = plan_runs(experiment)
    assert "bert_s/default/seed-1/animal" in [run.run_id for run in runs]
    assert {run.method for run in runs} == set(methods)
    # the experiment's one domain reaches every run's reader
    assert all(run.spec["reader"]["domains"] == ["animal"] for run in runs)


def test_an_override_that_replaces_a_nested_object_gets_a_hint_about_dotted_keys(tmp_path):
    path = _experiment_file(tmp_path, sweep={"parameter": "lambda", "values": [0.1, 0.2]})
    # AllenNLP's -o replaces `sweep` whole: its parameter is gone
    with pytest.raises(ConfigurationError) as error:
        load_experiment(path, overrides='{"sweep": {"values": [0.3]}}')
    message = str(error.value)
    assert message.startswith(f"{path}: sweep.parameter must be one of")
    assert "after the overrides" in message and '{"sweep.values": [1, 2]}' in message
    # the dotted key changes the values and keeps the parameter
    experiment = load_experiment(path, overrides='{"sweep.values": [0.3]}')
    assert experiment.sweep == {"parameter": "lambda", "values": [0.3]}


def _rows():
    rows = []
    for method, scores in (
        ("bert_s", [[0.80, 0.60], [0.82, 0.64]]),
        ("mft_full", [[0.84, 0.62], [0.86, 0.60]]),
    ):
        for seed, (animal, vehicle) in zip([1, 2], scores):
            for domain, score in (("animal", animal), ("vehicle", vehicle)):
                rows.append(
                    {
                        "method": method,
                        "seed": seed,
                        "domain": domain,
                        "sweep_value": None,
                        "dev": score,
                        "test": None,
                    }
                )
    return rows


def test_summary_is_mean_and_std_over_seeds_with_an_average_column(tmp_path):
    experiment = load_experiment(_experiment_file(tmp_path))
    summary = summarise(experiment, _rows())["dev"]["null"]
    assert summary["bert_s"]["animal"]["mean"] == pytest.approx(81.0)
    assert summary["bert_s"]["animal"]["std"] == pytest.approx(1.41421356, abs=1e-6)
    # per-seed averages 70 and 73
    assert summary["bert_s"]["Average"]["mean"] == pytest.approx(71.5)
    assert summary["mft_full"]["Average"]["mean"] == pytest.approx(73.0)
    table = markdown(experiment, {"dev": {"null": summary}})
    assert "| BERT (S) | 81.0 ± 1.4 | **62.0 ± 2.8** | 71.5 ± 2.1 |" in table
    assert "| MFT (Full) | **85.0 ± 1.4** | 61.0 ± 1.4 | **73.0 ± 0.0** |" in table


def test_a_cell_scored_by_fewer_seeds_than_planned_says_so(tmp_path):
    experiment = load_experiment(_experiment_file(tmp_path))
    rows = [r for r in _rows() if not (r["method"] == "mft_full" and r["seed"] == 2)]
    table = markdown(experiment, summarise(experiment, rows))
    assert "mean ± standard deviation over 2 seeds [1, 2]" in table
    # one seed has no spread: its score stands alone, marked as one of the two planned;
    # a tie for the best mean (62.0) is bold in both rows
    assert "| MFT (Full) | **84.0 (n=1)** | **62.0 (n=1)** | **73.0 (n=1)** |" in table
    assert "| BERT (S) | 81.0 ± 1.4 | **62.0 ± 2.8** | 71.5 ± 2.1 |" in table


def test_write_results_makes_the_three_files(tmp_path):
    experiment = load_experiment(_experiment_file(tmp_path))
    write_results(experiment, _rows(), tmp_path)
    assert json.loads((tmp_path / "results.json").read_text())["runs"] == _rows()
    assert (tmp_path / "results.md").read_text().startswith("# experiment")
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_a_sweep_plot_of_an_unfinished_experiment_has_its_legend_where_the_lines_are(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # one domain scored so far: the vehicle and Average columns have no line yet
    def lines(column):
        points = [{"mean": 80.0}, {"mean": 81.0}] if column == "animal" else [None, None]
        yield "MFT (Full)", points

    columns = ["animal", "vehicle", "Average"]
    figure = report._line_plots(plt, columns, ["0.1", "0.2"], "lambda", "accuracy", lines)
    # one legend, the figure's, of the lines there are: none on an axes
    assert [axes.get_legend() for axes in figure.axes] == [None, None, None]
    (legend,) = figure.legends
    plt.close(figure)
    assert [text.get_text() for text in legend.get_texts()] == ["MFT (Full)"]

    experiment = load_experiment(
        _experiment_file(tmp_path, seeds=[1], sweep={"parameter": "lambda", "values": [0.1, 0.2]})
    )
    rows = [
        {
            "method": "mft_full",
            "seed": 1,
            "domain": "animal",
            "sweep_value": value,
            "dev": 0.8,
            "test": None,
        }
        for value in (0.1, 0.2)
    ]
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "No artists with labels found to put in legend"
        write_results(experiment, rows, tmp_path)
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the experiment points at the real data")
def test_mft_variants_mnli_changes_one_option_of_the_paper_model_a_value(monkeypatch, tmp_path):
    monkeypatch.setenv("MFT_DATA_DIR", str(SHARED_DATA))
    experiment = load_experiment(str(CONFIGS / "experiments" / "mft_variants_mnli.jsonnet"))
    assert (experiment.task, experiment.methods, experiment.seeds) == (
        "nli",
        ["bert_mix", "mft_full"],
        [13],
    )
    assert experiment.stage1_scores and experiment.bf16
    assert experiment.stage1["epochs"] == experiment.stage2["epochs"] == 5
    runner = ExperimentRunner(experiment, tmp_path)
    paper = {"alpha": 0.5}  # the typicality section of the paper's MFT (Full)
    expected = {
        "paper": {"typicality": paper},
        "mean_one": {"typicality": dict(paper, rescale="mean_one")},
        "pooler": {"typicality": dict(paper, embedding="pooler")},
        "cosine_to_mean": {"typicality": dict(paper, other_domains="cosine_to_mean")},
        "shared_domain_head": {"typicality": paper, "shared_domain_head": True},
        "unweighted_domain_loss": {"typicality": paper, "weight_domain_loss": False},
        "uniform_corruption": {"typicality": paper, "corruption": "uniform"},
    }
    options = ("typicality", "shared_domain_head", "weight_domain_loss", "corruption")
    models = {}
    for run in runner.runs:
        if run.is_stage1:
            model = runner.config_for(run)["model"]
            models[run.sweep_values[0]["name"]] = {k: model[k] for k in options if k in model}
    assert models == expected


@pytest.mark.parametrize(
    "content, message",
    [
        (
            {"stage1": {"mft_model": {"shared_domian_head": True}}},
            r"stage1.mft_model has key\(s\) \['shared_domian_head'\] that the meta_fine_tuning "
            "model does not take",
        ),
        (
            {"stage1": {"mft_model": {"domain_corruption_weight": 0.2}}},
            r"stage1.mft_model.domain_corruption_weight cannot be set here: set the experiment's "
            r"stage1.lambda",
        ),
        (
            {"stage1": {"mft_model": {"typicality": {"alpha": 0.3}}}},
            r"stage1.mft_model.typicality.alpha cannot be set here: set the experiment's stage1.alpha",
        ),
        (
            {"stage1": {"mft_model": {"typicality": {"rescal": "mean_one"}}}},
            r"stage1.mft_model.typicality has key\(s\) \['rescal'\]",
        ),
        (
            {"stage1": {"mft_model": {"typicality": {"rescale": "bogus"}}}},
            r"stage1.mft_model: typicality.rescale must be one of",
        ),
        (
            {"stage1": {"mft_model": {"corruption": "random"}}},
            r"stage1.mft_model.corruption must be one of",
        ),
        ({"stage1": {"mft_model": "mean_one"}}, "stage1.mft_model must be an object"),
        (
            {
                "sweep": {
                    "parameter": "mft_model",
                    "values": [{"typicality": {"rescale": "mean_one"}}],
                }
            },
            r"sweep.values\[0\]: a value of the mft_model sweep is an object with a `name`",
        ),
        (
            {"sweep": {"parameter": "mft_model", "values": [{"name": "a"}, {"name": "a/b"}]}},
            r"sweep.values\[1\]: a value of the mft_model sweep is an object with a `name`",
        ),
        (
            {"sweep": {"parameter": "mft_model", "values": [0.1]}},
            r"sweep.values\[0\]: a value of the mft_model sweep",
        ),
        (
            {
                "sweep": {
                    "parameter": "mft_model",
                    "values": [{"name": "a"}, {"name": "a", "corruption": "uniform"}],
                }
            },
            r"sweep.values: the name\(s\) \['a'\] are given to more than one value",
        ),
        (
            {"sweep": {"parameter": "mft_model", "values": [{"name": "x", "skip_layers": [1]}]}},
            r"sweep.values\[0\].skip_layers cannot be set here: set the experiment's "
            r"stage1.skip_layers",
        ),
    ],
)
def test_mft_model_errors_name_the_key(tmp_path, content, message):
    path = _experiment_file(tmp_path, **content)
    with pytest.raises(ConfigurationError, match=message) as error:
        load_experiment(path)
    assert str(error.value).startswith(path)


def test_mft_model_sweep_tables_are_headed_by_the_value_names(tmp_path, monkeypatch):
    figures = []

    def keep_figure(*args, **kwargs):
        figures.append(original_line_plots(*args, **kwargs))
        return figures[-1]

    original_line_plots = report._line_plots
    monkeypatch.setattr(report, "_line_plots", keep_figure)
    values = [{"name": "paper"}, {"name": "mean_one", "typicality": {"rescale": "mean_one"}}]
    experiment = load_experiment(
        _experiment_file(tmp_path, seeds=[1], sweep={"parameter": "mft_model", "values": values})
    )
    rows = [
        dict(row, sweep_value=value)
        for row in _rows()
        if row["seed"] == 1
        for value in values
        if row["method"] == "bert_s" or value["name"] == "paper"
    ] + [
        dict(row, sweep_value=values[1], dev=row["dev"] + 0.01)
        for row in _rows()
        if row["seed"] == 1 and row["method"] == "mft_full"
    ]
    write_results(experiment, rows, tmp_path)
    table = (tmp_path / "results.md").read_text()
    assert "## dev, mft_model=paper" in table and "## dev, mft_model=mean_one" in table
    assert table.split("## dev, mft_model=mean_one")[1].count("| MFT (Full) | **85.0** |") == 1
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"
    # named variants have no order: points per value, no line joining them
    axes = figures[0].axes[0]
    assert [tick.get_text() for tick in axes.get_xticklabels()] == ["paper", "mean_one"]
    drawn = [line for line in axes.lines if line.get_gid() != report.BREAK_MARK]
    assert drawn and all(line.get_linestyle() == "None" for line in drawn)


def test_stage1_scores_give_every_method_with_a_stage1_a_row(tmp_path):
    methods = ["bert_s", "bert_mix", "bert_mtl", "bert_adv", "mft_dc", "mft_tw", "mft_full"]
    methods.append("bert_mix_ft")
    experiment = load_experiment(_experiment_file(tmp_path, methods=methods, stage1_scores=True))
    assert table_rows(experiment) == [
        ("bert_s", None),
        ("bert_mix", None),  # trained on every domain already: its plain row is that
        ("bert_mtl", None),
        ("bert_mtl", "stage1"),
        ("bert_adv", None),
        ("bert_adv", "stage1"),
        ("mft_dc", None),
        ("mft_dc", "stage1"),
        ("mft_tw", None),
        ("mft_tw", "stage1"),
        ("mft_full", None),
        ("mft_full", "stage1"),
        ("bert_mix_ft", None),
        ("bert_mix_ft", "stage1"),  # the pooled model, trained as long as MFT's stage 1
    ]


def test_stage1_rows_follow_their_method_in_the_table(tmp_path):
    experiment = load_experiment(_experiment_file(tmp_path, seeds=[1], stage1_scores=True))
    rows = [row for row in _rows() if row["seed"] == 1]
    rows += [
        dict(row, setting="stage1", dev=row["dev"] - 0.1)
        for row in rows
        if row["method"] == "mft_full"
    ]
    write_results(experiment, rows, tmp_path)
    table = (tmp_path / "results.md").read_text()
    lines = [line for line in table.splitlines() if line.startswith("| ")]
    assert lines[1:] == [
        "| BERT (S) | 80.0 | 60.0 | 70.0 |",
        "| MFT (Full) | **84.0** | **62.0** | **73.0** |",
        "| MFT (Full), stage 1 | 74.0 | 52.0 | 63.0 |",
    ]
    assert 'A row "…, stage 1"' in table
    summary = json.loads((tmp_path / "results.json").read_text())["summary"]["dev"]["null"]
    assert summary["mft_full/stage1"]["animal"]["mean"] == pytest.approx(74.0)


def test_a_line_plot_draws_the_seed_spread_and_does_not_magnify_a_flat_line():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    # Figure 4's average on taxonomy: 0.15 points from end to end, one seed
    flat = [{"mean": 93.58, "std": None}, {"mean": 93.49}, {"mean": 93.43}]
    # three seeds, 10 points apart: matplotlib's own limits, error bars of the spread
    steep = [{"mean": 80.0, "std": 1.5}, {"mean": 85.0, "std": 0.5}, {"mean": 90.0, "std": 1.0}]

    def lines(column):
        yield "MFT (Full)", flat if column == "Average" else steep

    figure = report._line_plots(
        plt, ["animal", "Average"], ["0", "0.1", "0.5"], "lambda", "", lines
    )
    steep_axes, flat_axes = figure.axes
    plt.close(figure)
    low, high = flat_axes.get_ylim()
    assert high - low == pytest.approx(report.MIN_SPAN)
    assert low < 93.43 and 93.58 < high
    assert (low + high) / 2 == pytest.approx((93.43 + 93.58) / 2)
    low, high = steep_axes.get_ylim()
    assert low <= 80.0 - 1.5 and high >= 90.0 + 1.0 and high - low > 10
    (bars,) = steep_axes.containers
    assert bars.has_yerr
    # the vertical segments of the error bars, from mean - std to mean + std
    segments = bars.lines[2][0].get_segments()
    assert [(s[0][1], s[1][1]) for s in segments] == [(78.5, 81.5), (84.5, 85.5), (89.0, 91.0)]
