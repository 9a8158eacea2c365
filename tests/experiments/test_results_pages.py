"""
The committed results pages are what the report code makes of the committed results.json files:
every experiment's results.md and the results index docs/results.md, byte for byte. (The PNGs are
redrawn by `make results` too, but are not byte-stable across matplotlib versions; what the plots
show is tested in test_plots.py.) Needs no data and starts no AllenNLP process.
"""
import json
import shutil
import statistics

import pytest

from mft_plugin.experiments import pages
from tests.conftest import PROJECT_ROOT

RESULTS = PROJECT_ROOT / "benchmarks" / "results"
INDEX = PROJECT_ROOT / "docs" / "results.md"
# benchmarks, not experiments: their pages are written by hand or by their own scripts
NOT_EXPERIMENTS = {
    "gpu",
    "host_overhead",
    "speed",
    "stack_agreement",
    "startup",
    "table5_typicality_amazon",
}


def test_the_experiment_folders_are_those_with_a_results_json():
    folders = [folder.name for folder in pages.experiment_folders(RESULTS)]
    everything = {path.name for path in RESULTS.iterdir() if path.is_dir()}
    assert folders == sorted(everything - NOT_EXPERIMENTS)
    assert {"table2_mnli", "figure4_lambda_taxonomy", "transfer_taxonomy"} <= set(folders)


def test_every_committed_page_is_rebuilt_exactly_from_its_results_json(tmp_path):
    output = tmp_path / "benchmarks" / "results"
    index = tmp_path / "docs" / "results.md"
    written = pages.rebuild_all(RESULTS, index, output_dir=output, plots=False)
    folders = pages.experiment_folders(RESULTS)
    assert written == [output / folder.name / "results.md" for folder in folders] + [index]
    stale = [
        str(folder / "results.md")
        for folder in folders
        if (output / folder.name / "results.md").read_text() != (folder / "results.md").read_text()
    ]
    assert not stale, f"rebuild with `make results`: {stale}"
    assert index.read_text() == INDEX.read_text(), "rebuild docs/results.md with `make results`"


def test_every_experiment_with_results_has_a_committed_plot():
    for folder in pages.experiment_folders(RESULTS):
        assert (folder / "results.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", folder


def _index_row(name):
    for line in INDEX.read_text().splitlines():
        if line.startswith("| ") and f"[{name}](" in line and "| 13, 14, 15 |" in line:
            return [cell.strip() for cell in line.strip("|").split("|")]
    raise AssertionError(f"no summary row of {name}")


def test_the_index_summary_is_the_runs_averaged_per_seed_then_over_seeds():
    # by hand from the runs of Table 4: the mean over domains of each seed, then over seeds
    content = json.loads((RESULTS / "table4_taxonomy" / "results.json").read_text())
    expected = {}
    for method in ("bert_s", "bert_mix", "mft_full", "bert_mix_ft"):
        averages = [
            100
            * statistics.mean(
                run["dev"]
                for run in content["runs"]
                if run["method"] == method and run["seed"] == seed and not run.get("setting")
            )
            for seed in (13, 14, 15)
        ]
        expected[method] = f"{statistics.mean(averages):.1f} ± {statistics.stdev(averages):.1f}"
    row = _index_row("table4_taxonomy")
    assert row[0] == "Taxonomy" and row[3:5] == ["1", "3"]  # stage-1 and stage-2 epochs
    assert row[5:] == [expected[m] for m in ("bert_s", "bert_mix", "mft_full", "bert_mix_ft")]
    # the equal-budget experiment has no BERT (S) nor BERT (Mix): dashes, not zeros
    assert _index_row("table4_taxonomy_equal_budget")[5:7] == ["–", "–"]


def test_the_index_states_the_scoring_rule_once_and_links_every_page():
    text = INDEX.read_text()
    assert text.count("Scoring rule:") == 1
    for folder in pages.experiment_folders(RESULTS):
        link = f"](../benchmarks/results/{folder.name}/results.md)"
        assert link in text
        assert (INDEX.parent / link[2:-1]).resolve() == folder / "results.md"
    # sweeps and transfer experiments are listed, with what they vary in words
    assert "| λ (domain corruption weight): 0, 0.05, 0.1, 0.2, 0.3, 0.5 |" in text
    assert "| held-out domain: animal, plant, vehicle |" in text
    # the folders that are not experiments are linked, not summarised
    for name in sorted(NOT_EXPERIMENTS):
        assert f"[{name}](../benchmarks/results/{name}/)" in text


def test_a_summary_that_disagrees_with_the_runs_is_refused_naming_the_file(tmp_path):
    folder = tmp_path / "table7_skip_layers_taxonomy"
    shutil.copytree(RESULTS / folder.name, folder)
    content = json.loads((folder / "results.json").read_text())
    content["runs"][0]["dev"] += 0.01  # a run's score changed, its summary left as it was
    (folder / "results.json").write_text(json.dumps(content))
    with pytest.raises(ValueError, match="results.json: its 'summary' is not the one its 'runs'"):
        pages.rebuild_pages(folder, tmp_path / "out", plots=False)
    assert not (tmp_path / "out").exists()


def test_the_command_rewrites_the_pages_in_place_and_the_index(tmp_path):
    results = tmp_path / "results"
    for name in ("table4_taxonomy_equal_budget", "speed"):
        shutil.copytree(RESULTS / name, results / name, ignore=shutil.ignore_patterns("runs"))
    page = results / "table4_taxonomy_equal_budget" / "results.md"
    page.write_text("typed by hand\n")
    speed_pages = {p.name: p.read_text() for p in (results / "speed").iterdir()}
    pages.main([str(results), str(tmp_path / "docs" / "results.md"), "--no-plots"])
    assert page.read_text() == (RESULTS / page.parent.name / "results.md").read_text()
    assert {p.name: p.read_text() for p in (results / "speed").iterdir()} == speed_pages
    index = (tmp_path / "docs" / "results.md").read_text()
    assert "[table4_taxonomy_equal_budget](../results/table4_taxonomy_equal_budget/" in index
    with pytest.raises(ValueError, match="no <experiment>/results.json"):
        pages.rebuild_all(results / "speed", tmp_path / "index.md")


def test_an_older_results_json_without_validate_rebuilds_as_validating_every_epoch():
    content = json.loads((RESULTS / "mft_alpha_mnli" / "results.json").read_text())
    assert "validate" not in content["experiment"]
    assert pages.experiment_from_results(content).validate == "every_epoch"
