"""
Transfer to a new domain (`transfer` in an experiment file): the runs it plans, their configs
and samples, its tables, and the tiny fixture experiment (three domains, plant held out) trained
the way a scheduler runs it (--export-commands, one --only task a run in wave order, --collect),
then its zero-shot scores and tables checked against the runs' own files.
"""
import contextlib
import copy
import io
import json
import re
import shlex
from types import SimpleNamespace

import numpy
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model, load_archive

from mft_plugin.data import TermPairReader
from mft_plugin.experiments import ExperimentRunner, load_experiment
from mft_plugin.experiments.plan import plan_runs, waves
from mft_plugin.experiments.spec import METHODS, has_zero_shot
from mft_plugin.experiments.report import table_rows, write_results
from tests.conftest import CONFIGS, FIXTURE_DATA, FIXTURES, PROJECT_ROOT, SHARED_DATA, TINY_BERT
from tests.experiments.helpers import (
    EXPERIMENT_ENVIRONMENT,
    mft_experiment_in_process,
    results_table,
    write_finished_metrics,
    write_model_archive,
)

TRANSFER = FIXTURES / "experiments" / "transfer.jsonnet"
TRANSFER_DATA = FIXTURE_DATA / "taxonomy_transfer"
BASE = "transfer-plant/{}/default/seed-13/{}"
RUNS_BY_WAVE = [
    [BASE.format("bert_s", "shots=4"), BASE.format("bert_mix", "stage1")]
    + [BASE.format("mft_full", "stage1")],
    [BASE.format("bert_mix", "shots=4"), BASE.format("mft_full", "shots=4")],
]


def _experiment_file(tmp_path, **content):
    base = {
        "task": "taxonomy",
        "domains": ["animal", "plant", "vehicle"],
        "data": {"train": "train", "dev": "dev"},
        "encoder": "some-encoder",
        "methods": ["bert_s", "bert_mix", "bert_mtl", "bert_adv", "mft_full"],
        "seeds": [1],
        "stage2": {"epochs": 3},
        "transfer": {"shots": [4, None], "epochs": {"4": 5}},
    }
    base.update(content)
    path = tmp_path / "experiment.json"
    path.write_text(json.dumps(base))
    return str(path)


# --------------------------------------------------------------------------------------------
# The plan


def test_transfer_plans_stage1_without_each_domain_then_a_run_per_shots_value(tmp_path):
    runs = plan_runs(load_experiment(_experiment_file(tmp_path)))
    by_id = {run.run_id: run for run in runs}
    assert len(runs) == 3 * (2 + 4 * 3)  # per held-out domain: BERT (S) x 2, 4 x (stage 1 + 2)
    assert [run.run_id for run in runs[:5]] == [
        "transfer-animal/bert_s/default/seed-1/shots=4",
        "transfer-animal/bert_s/default/seed-1/shots=all",
        "transfer-animal/bert_mix/default/seed-1/stage1",
        "transfer-animal/bert_mix/default/seed-1/shots=4",
        "transfer-animal/bert_mix/default/seed-1/shots=all",
    ]
    for held_out in ("animal", "plant", "vehicle"):
        others = [d for d in ("animal", "plant", "vehicle") if d != held_out]
        for method, kind in (
            ("bert_mix", "mix"),
            ("bert_mtl", "mtl"),
            ("bert_adv", "adv"),
            ("mft_full", "mft"),
        ):
            base = f"transfer-{held_out}/{method}/default/seed-1"
            stage1 = by_id[f"{base}/stage1"]
            assert stage1.is_stage1 and stage1.depends_on is None
            assert stage1.spec["kind"] == kind
            assert stage1.spec["reader"]["domains"] == others
            for shots, epochs in ((4, 5), (None, 3)):
                run = by_id[f"{base}/shots={shots or 'all'}"]
                assert run.depends_on == stage1.run_id
                assert run.domain == held_out and not run.is_stage1
                assert run.spec["stage1_archive"] == f"{base}/stage1/model.tar.gz"
                assert run.spec["stage2"]["epochs"] == epochs
                expected = {} if shots is None else {"sample_count": 4, "sample_seed": 1}
                assert run.spec["train_sample"] == expected
                # BERT (MTL) has no classifier of the held-out domain to start from
                assert run.spec.get("stage1_label_classifier", True) == (method != "bert_mtl")
        for shots in ("4", "all"):
            alone = by_id[f"transfer-{held_out}/bert_s/default/seed-1/shots={shots}"]
            assert alone.depends_on is None and alone.spec["stage1_archive"] is None
    first, second = waves(runs)
    assert all(run.is_stage1 or run.method == "bert_s" for run in first)
    assert all(run.depends_on is not None for run in second)


def test_zero_shot_rows_belong_to_the_methods_with_a_pooled_label_classifier(tmp_path):
    # BERT (S) has no model before the domain's own; BERT (MTL) a classifier per training
    # domain and none for the held-out one
    assert {method: has_zero_shot(method) for method in METHODS} == {
        "bert_s": False,
        "bert_mix": True,
        "bert_mtl": False,
        "bert_adv": True,
        "mft_dc": True,
        "mft_tw": True,
        "mft_full": True,
        "bert_mix_ft": False,  # no transfer experiment takes it (BERT (Mix) is it there)
    }
    experiment = load_experiment(_experiment_file(tmp_path))
    # BERT (MTL) keeps its zero-shot row, which the table shows as "–" (see below)
    assert table_rows(experiment) == [
        ("bert_mix", "zero-shot"),
        ("bert_mtl", "zero-shot"),
        ("bert_adv", "zero-shot"),
        ("mft_full", "zero-shot"),
    ] + [(method, setting) for setting in ("shots=4", "shots=all") for method in experiment.methods]


@pytest.mark.parametrize(
    "content, message",
    [
        (
            {"domains": ["animal", "vehicle"], "methods": ["bert_mix", "mft_full"]},
            r"transfer: the methods \['mft_full'\] tell domains apart in stage 1",
        ),
        ({"few_shot": {"sample_count": 4}}, "transfer and few_shot do not combine"),
        (
            {"sweep": {"parameter": "sample_fraction", "values": [0.5]}},
            "transfer and a sample_fraction sweep do not combine",
        ),
        ({"stage1_scores": True}, "transfer and stage1_scores do not combine"),
        (
            {"methods": ["bert_mix", "bert_mix_ft"]},
            "transfer: method bert_mix_ft is BERT \\(Mix\\) in a transfer experiment .*; use bert_mix",
        ),
        (
            {"transfer": {"shots": [4], "epochs": {"64": 2}}},
            r"transfer.epochs has key\(s\) \['64'\] that are no value of transfer.shots",
        ),
        ({"transfer": {"shots": [0, 4]}}, "transfer.shots must list positive numbers"),
        ({"transfer": {"shots": [4, 4]}}, "transfer.shots lists a value twice"),
        ({"transfer": {"held_out": ["books"]}}, "transfer.held_out must list some of the domains"),
        ({"transfer": {"shot": [4]}}, r"transfer has unknown key\(s\) \['shot'\]"),
    ],
)
def test_transfer_errors_name_the_key(tmp_path, content, message):
    path = _experiment_file(tmp_path, **content)
    with pytest.raises(ConfigurationError, match=message) as error:
        load_experiment(path)
    assert str(error.value).startswith(path)


def test_transfer_refuses_true_as_a_number_of_shots_or_epochs(tmp_path):
    # JSON's true is Python's 1: without a check `shots: [true]` would train on one instance
    for transfer, message in (
        ({"shots": [True]}, r"transfer.shots must list positive numbers .* got \[True\]"),
        ({"shots": [4], "epochs": {"4": True}}, r"transfer.epochs must be positive integers"),
    ):
        path = _experiment_file(tmp_path, transfer=transfer)
        with pytest.raises(ConfigurationError, match=message) as error:
            load_experiment(path)
        assert str(error.value).startswith(path)


# --------------------------------------------------------------------------------------------
# The configs of the fixture experiment's runs (no training)


@pytest.fixture
def fixture_env(monkeypatch):
    for name, value in EXPERIMENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(PROJECT_ROOT)


def _runner(output_dir, overrides=None):
    experiment = load_experiment(str(TRANSFER), json.dumps(overrides or {}))
    return ExperimentRunner(experiment, output_dir)


def _config(runner, run_id):
    return runner.config_for(runner.find_run(run_id))


def _instance_ids(reader_config, path):
    reader = DatasetReader.from_params(Params(copy.deepcopy(reader_config)))
    return [instance["metadata"]["instance_id"] for instance in reader.read(path)]


def test_transfer_stage1_configs_leave_the_held_out_domain_out(tmp_path, fixture_env):
    runner = _runner(tmp_path, {"methods": ["bert_mix", "bert_mtl", "bert_adv", "mft_full"]})
    for method, model in (
        ("bert_mix", "mft_transformer_classifier"),
        ("bert_mtl", "mft_multi_task"),
        ("bert_adv", "mft_adversarial"),
        ("mft_full", "meta_fine_tuning"),
    ):
        config = _config(runner, BASE.format(method, "stage1"))
        assert config["model"]["type"] == model
        # train and dev of animal and vehicle only: the reader of both reads no plant pair
        assert config["dataset_reader"]["domains"] == ["animal", "vehicle"], method
        assert "validation_dataset_reader" not in config
        for split in ("train", "validation"):
            ids = _instance_ids(config["dataset_reader"], config[f"{split}_data_path"])
            assert len(ids) == 16 and not any("plant" in i for i in ids), (method, split)


def test_transfer_shots_configs_sample_the_held_out_domain_from_the_stage1_archive(
    tmp_path, fixture_env
):
    runner = _runner(tmp_path, {"methods": ["bert_s", "bert_mix", "bert_mtl", "mft_full"]})
    for method in ("bert_s", "bert_mix", "bert_mtl", "mft_full"):
        config = _config(runner, BASE.format(method, "shots=4"))
        reader = config["dataset_reader"]
        assert (reader["domains"], reader["sample_count"], reader["sample_seed"]) == (
            ["plant"],
            4,
            13,
        )
        validation = config["validation_dataset_reader"]  # dev is read whole
        assert validation["domains"] == ["plant"] and validation["sample_count"] is None
        assert config["trainer"]["num_epochs"] == 2  # transfer.epochs['4']
        assert config["model"]["type"] == "mft_transformer_classifier"
        if method == "bert_s":
            assert "initializer" not in config["model"] and "vocabulary" not in config
            continue
        archive = runner.output_dir / BASE.format(method, "stage1") / "model.tar.gz"
        pattern, initializer = config["model"]["initializer"]["regexes"][0]
        assert initializer["weights_file_path"] == str(archive)
        assert config["vocabulary"] == {"type": "mft_stage1", "archive": str(archive)}
        encoder = "_text_field_embedder\\..*|_seq2seq_encoder\\..*|_seq2vec_encoder\\..*|_feedforward\\..*"
        if method == "bert_mtl":  # its encoder only: no head of plant to load
            assert pattern == encoder
        else:
            assert pattern == encoder + "|_label_classifier\\..*"


def test_transfer_shots_samples_are_seeded_by_the_run_and_nested(tmp_path, fixture_env):
    runner = _runner(
        tmp_path,
        {"seeds": [13, 14], "transfer": {"shots": [2, 4, None], "epochs": {"2": 2}}},
    )
    samples = {}
    for seed in (13, 14):
        for method in ("bert_s", "bert_mix", "mft_full"):
            for shots in ("2", "4", "all"):
                run_id = f"transfer-plant/{method}/default/seed-{seed}/shots={shots}"
                config = _config(runner, run_id)
                ids = _instance_ids(config["dataset_reader"], config["train_data_path"])
                assert all(i.startswith("taxonomy_transfer/train/plant.tsv:") for i in ids), ids
                samples[seed, method, shots] = ids
        for shots, count in (("2", 2), ("4", 4), ("all", 8)):
            # every method of a seed trains on the same instances
            assert (
                samples[seed, "bert_s", shots]
                == samples[seed, "bert_mix", shots]
                == samples[seed, "mft_full", shots]
            )
            assert len(samples[seed, "bert_s", shots]) == count
        # the smaller sample is part of the larger one
        assert set(samples[seed, "bert_s", "2"]) < set(samples[seed, "bert_s", "4"])
        assert set(samples[seed, "bert_s", "4"]) < set(samples[seed, "bert_s", "all"])
    # each seed its own sample
    assert samples[13, "bert_s", "4"] != samples[14, "bert_s", "4"]
    # stratified: the plant pairs are half hypernyms (lines 1, 3, 5, 7), half not
    for seed in (13, 14):
        lines = [int(i.rsplit(":", 1)[1]) for i in samples[seed, "bert_s", "4"]]
        assert sum(line % 2 for line in lines) == 2, lines


# --------------------------------------------------------------------------------------------
# The tables


def _transfer_rows():
    """Scores of two held-out domains and two seeds, as the runner gives them."""
    rows = []
    scores = {
        # (method, setting): {domain: (seed 1, seed 2)}
        ("bert_s", "shots=4"): {"animal": (0.50, 0.60), "vehicle": (0.70, 0.70)},
        ("bert_mix", "zero-shot"): {"animal": (0.55, 0.65), "vehicle": (0.40, 0.50)},
        ("bert_mix", "shots=4"): {"animal": (0.80, 0.70), "vehicle": (0.60, 0.80)},
        ("bert_mtl", "shots=4"): {"animal": (0.75, 0.75), "vehicle": (0.90, 0.70)},
    }
    for (method, setting), by_domain in scores.items():
        for domain, per_seed in by_domain.items():
            for seed, dev in zip((1, 2), per_seed):
                rows.append(
                    {
                        "method": method,
                        "seed": seed,
                        "domain": domain,
                        "sweep_value": None,
                        "setting": setting,
                        "dev": dev,
                        "test": None,
                        "run": f"transfer-{domain}/{method}/default/seed-{seed}/{setting}",
                    }
                )
    return rows


def test_transfer_table_has_a_row_per_method_and_setting_and_a_column_per_held_out_domain(
    tmp_path,
):
    path = _experiment_file(
        tmp_path,
        methods=["bert_s", "bert_mix", "bert_mtl"],
        seeds=[1, 2],
        transfer={"shots": [4], "held_out": ["animal", "vehicle"]},
    )
    summary = write_results(load_experiment(path), _transfer_rows(), tmp_path)
    table = (tmp_path / "results.md").read_text().split("## dev\n")[1]
    # by hand: the mean and standard deviation over the two seeds; Average, over the seeds'
    # means of the two domains; the best mean of each column and setting in bold
    assert [line for line in table.splitlines() if line.startswith("|")] == [
        "| Method | animal | vehicle | Average |",
        "|---|---:|---:|---:|",
        "| BERT (Mix), zero-shot | **60.0 ± 7.1** | **45.0 ± 7.1** | **52.5 ± 7.1** |",
        "| BERT (MTL), zero-shot | – | – | – |",
        "| BERT (S), 4 shots | 55.0 ± 7.1 | 70.0 ± 0.0 | 62.5 ± 3.5 |",
        "| BERT (Mix), 4 shots | **75.0 ± 7.1** | 70.0 ± 14.1 | 72.5 ± 3.5 |",
        "| BERT (MTL), 4 shots | **75.0 ± 0.0** | **80.0 ± 14.1** | **77.5 ± 7.1** |",
    ]
    assert summary["dev"]["null"]["bert_mtl/zero-shot"]["animal"] is None
    assert "Transfer to a new domain" in (tmp_path / "results.md").read_text()
    assert (tmp_path / "results.png").read_bytes()[:4] == b"\x89PNG"


def _run_folder_with(runner, run, files):
    """
    The run's folder holding only `files`, each a real one of its kind: model.tar.gz an archive
    that opens whole, metrics.json a finished run's with the dev figures the runner scores, a
    checkpoint a file by its name.
    """
    folder = runner.run_dir(run)
    folder.mkdir(parents=True)
    for name in files:
        if name == "model.tar.gz":
            write_model_archive(folder)
        elif name == "metrics.json":
            write_finished_metrics(
                folder, runner.experiment.metric, runner.experiment.domains, kept_epoch=0
            )
        else:
            (folder / name).write_text("{}")


@pytest.mark.parametrize(
    "files, status",
    [
        ([], "new"),
        (["metrics.json", "model.tar.gz"], "done"),
        (["metrics.json"], "scored"),  # the archive deleted after training
        (["model_state_e0.th"], "resume"),
        (["metrics.json", "model_state_e0.th"], "resume"),  # killed before its archive
        (["model.tar.gz", "model_state_e0.th"], "resume"),
    ],
)
def test_a_run_folder_is_new_done_scored_or_resumed_by_its_files(
    tmp_path, fixture_env, files, status
):
    runner = _runner(tmp_path)
    run = runner.find_run(BASE.format("bert_s", "shots=4"))
    _run_folder_with(runner, run, files)
    assert runner.status(run) == status
    assert runner.needs_training(run) == (status in ("new", "resume"))


@pytest.mark.parametrize(
    "shots_files, stage1_trained_again",
    [([], True), (["model_state_e0.th"], True), (["metrics.json"], False)],
)
def test_a_stage1_without_its_archive_is_trained_again_only_for_a_run_still_to_train(
    tmp_path, fixture_env, shots_files, stage1_trained_again
):
    runner = _runner(tmp_path)
    stage1 = runner.find_run(BASE.format("mft_full", "stage1"))
    shots = runner.find_run(BASE.format("mft_full", "shots=4"))
    _run_folder_with(runner, stage1, ["metrics.json"])
    _run_folder_with(runner, shots, shots_files)
    assert runner.needs_training(stage1) == stage1_trained_again
    assert (stage1 in runner.unfinished()) == stage1_trained_again


def test_zero_shot_scores_refuse_a_stage1_run_that_kept_its_best_epoch(tmp_path, fixture_env):
    runner = _runner(tmp_path)
    run = runner.find_run(BASE.format("bert_mix", "stage1"))
    folder = runner.run_dir(run)
    folder.mkdir(parents=True)
    write_model_archive(folder)
    # an archive of the best epoch (AllenNLP's default), which `checkpoint: last` does not score
    write_finished_metrics(folder, runner.experiment.metric, runner.experiment.domains)
    assert runner.status(run) == "done"
    (folder / "zero-shot-plant.json").write_text(json.dumps({"accuracy": 0.5}))
    with pytest.raises(ConfigurationError, match="has no kept_epoch: the run kept its best epoch"):
        runner.scores(run)


# --------------------------------------------------------------------------------------------
# The fixture experiment, trained


def _only_run_ids(wave_file):
    return [shlex.split(line)[-1] for line in wave_file.read_text().splitlines()]


@pytest.fixture(scope="module")
def transferred(tmp_path_factory):
    """
    The fixture transfer experiment: listed (--dry-run), exported, every run trained by its
    own --only task in wave order, collected; then run once more sequentially, which must train
    and evaluate nothing.
    """
    out = tmp_path_factory.mktemp("transfer")
    state = SimpleNamespace(out=out)
    with pytest.MonkeyPatch.context() as patch:
        for name, value in EXPERIMENT_ENVIRONMENT.items():
            patch.setenv(name, value)
        patch.chdir(PROJECT_ROOT)
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            mft_experiment_in_process(TRANSFER, "-s", out, "--dry-run")
            state.dry_run = printed.getvalue()
            mft_experiment_in_process(TRANSFER, "-s", out, "--export-commands")
        commands = out / "commands"
        state.waves = [_only_run_ids(path) for path in sorted(commands.glob("wave-*.txt"))]
        for wave in state.waves:
            for run_id in wave:
                mft_experiment_in_process(TRANSFER, "-s", out, "--only", run_id)
        with contextlib.redirect_stdout(io.StringIO()):
            mft_experiment_in_process(TRANSFER, "-s", out, "--collect")
        state.markdown = (out / "results.md").read_text()
        state.results = json.loads((out / "results.json").read_text())
        state.files_before = _modification_times(out)
        with contextlib.redirect_stdout(io.StringIO()):
            mft_experiment_in_process(TRANSFER, "-s", out)
        state.files_after = _modification_times(out)
    return state


def _modification_times(out):
    return {
        str(path.relative_to(out)): path.stat().st_mtime_ns
        for pattern in ("**/model.tar.gz", "**/zero-shot-*.json", "**/test-metrics-*.json")
        for path in out.glob(pattern)
    }


def test_transfer_is_listed_exported_and_trained_in_waves(transferred):
    listed = re.findall(r"\[new   \] (\S+)", transferred.dry_run)
    assert listed == [
        BASE.format("bert_s", "shots=4"),
        BASE.format("bert_mix", "stage1"),
        BASE.format("bert_mix", "shots=4"),
        BASE.format("mft_full", "stage1"),
        BASE.format("mft_full", "shots=4"),
    ]
    assert "MFT (Full), seed 13, stage 1 without plant" in transferred.dry_run
    assert "BERT (S), seed 13, plant (4 instances)" in transferred.dry_run
    # every stage 1 in the first wave, the runs that start from its archive in the second
    assert transferred.waves == RUNS_BY_WAVE
    for run_id in sum(RUNS_BY_WAVE, []):
        assert (transferred.out / run_id / "model.tar.gz").is_file(), run_id
    assert transferred.results["missing_runs"] == []


def test_transfer_run_on_shots_trains_on_that_many_instances_of_the_held_out_domain(
    transferred,
):
    samples = []
    for method in ("bert_s", "bert_mix", "mft_full"):
        run_dir = transferred.out / BASE.format(method, "shots=4")
        trained = json.loads((run_dir / "config.json").read_text())
        ids = _instance_ids(trained["dataset_reader"], trained["train_data_path"])
        assert len(ids) == 4 and all("train/plant.tsv:" in i for i in ids), ids
        samples.append(ids)
        dev = _instance_ids(trained["validation_dataset_reader"], trained["validation_data_path"])
        assert len(dev) == 8 and all("dev/plant.tsv:" in i for i in dev)
        metrics = json.loads((run_dir / "metrics.json").read_text())
        assert metrics["kept_epoch"] == 1  # the last of transfer.epochs['4'] = 2
        assert [key for key in metrics if key.startswith("validation_accuracy_")] == [
            "validation_accuracy_plant"
        ]
    assert samples[0] == samples[1] == samples[2]


def _evaluation_on_domain(archive, data, domain):
    """
    Accuracy and mean cross-entropy of an archived model on one domain of `data`, and the
    number of instances, computed here from the model's probabilities. (The loss pins down the
    instances read: a model that predicts one class scores the same accuracy on any balanced
    domain.)
    """
    model = load_archive(str(archive)).model
    model.eval()
    reader = TermPairReader(TINY_BERT, domains=[domain])
    instances = list(reader.read(data))
    for instance in instances:
        reader.apply_token_indexers(instance)
    outputs = model.forward_on_instances(instances)
    gold = [model.vocab.get_token_index(i["label"].label, "labels") for i in instances]
    predicted = [int(numpy.argmax(output["probs"])) for output in outputs]
    accuracy = sum(p == g for p, g in zip(predicted, gold)) / len(gold)
    loss = -numpy.mean([numpy.log(output["probs"][g]) for output, g in zip(outputs, gold)])
    return accuracy, loss, len(gold)


def test_zero_shot_score_equals_an_evaluation_of_the_stage1_archive_on_the_held_out_domain(
    transferred,
):
    for method in ("bert_mix", "mft_full"):
        stage1 = transferred.out / BASE.format(method, "stage1")
        vocabulary = Vocabulary.from_files(stage1 / "vocabulary")
        known = vocabulary.get_token_to_index_vocabulary("domain_labels")
        assert sorted(known) == ["animal", "vehicle"], method  # plant is new to the model
        archive = stage1 / "model.tar.gz"
        dev, loss, count = _evaluation_on_domain(archive, TRANSFER_DATA / "dev", "plant")
        assert count == 8
        zero_shot = json.loads((stage1 / "zero-shot-plant.json").read_text())
        # the 8 plant pairs make one validation batch: its loss is their mean cross-entropy
        assert (zero_shot["accuracy"], zero_shot["loss"]) == (
            pytest.approx(dev),
            pytest.approx(loss, rel=1e-5),
        ), method
        assert zero_shot["held_out_domain"] == "plant"
        test, test_loss, _ = _evaluation_on_domain(archive, TRANSFER_DATA / "train", "plant")
        tested = json.loads(next(stage1.glob("zero-shot-plant-test-*.json")).read_text())
        assert tested["loss"] == pytest.approx(test_loss, rel=1e-5)
        assert test_loss != pytest.approx(loss, rel=1e-5)  # train and dev pairs differ
        (row,) = [
            r
            for r in transferred.results["runs"]
            if r["setting"] == "zero-shot" and r["method"] == method
        ]
        assert (row["domain"], row["run"]) == ("plant", BASE.format(method, "stage1"))
        assert row["dev"] == pytest.approx(dev) and row["test"] == pytest.approx(test)
    # BERT (S) has no model before the domain's own, so no zero-shot row
    assert [r["setting"] for r in transferred.results["runs"] if r["method"] == "bert_s"] == [
        "shots=4"
    ]


def test_transfer_results_have_a_row_per_method_and_setting(transferred):
    out = transferred.out
    header, rows = results_table(transferred.markdown, "dev")
    assert header == ["Method", "plant", "Average"]
    assert list(rows) == [
        "BERT (Mix), zero-shot",
        "MFT (Full), zero-shot",
        "BERT (S), 4 shots",
        "BERT (Mix), 4 shots",
        "MFT (Full), 4 shots",
    ]
    for method, display in (("bert_mix", "BERT (Mix)"), ("mft_full", "MFT (Full)")):
        stage1 = out / BASE.format(method, "stage1")
        zero_shot = json.loads((stage1 / "zero-shot-plant.json").read_text())
        dev = f"{100 * zero_shot['accuracy']:.1f}"
        assert rows[f"{display}, zero-shot"] == {"plant": dev, "Average": dev}
    _, test_rows = results_table(transferred.markdown, "test")
    for method, display in (
        ("bert_s", "BERT (S)"),
        ("bert_mix", "BERT (Mix)"),
        ("mft_full", "MFT (Full)"),
    ):
        run_dir = out / BASE.format(method, "shots=4")
        # the scoring rule: the last epoch's validation figures
        metrics = json.loads((run_dir / "metrics.json").read_text())
        dev = f"{100 * metrics['validation_accuracy_plant']:.1f}"
        assert rows[f"{display}, 4 shots"] == {"plant": dev, "Average": dev}
        tested = json.loads(next(run_dir.glob("test-metrics-*.json")).read_text())
        test = f"{100 * tested['accuracy_plant']:.1f}"
        assert test_rows[f"{display}, 4 shots"] == {"plant": test, "Average": test}
    assert "Transfer to a new domain" in transferred.markdown
    assert len(transferred.results["runs"]) == 2 + 3
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_transfer_experiment_run_again_trains_and_evaluates_nothing(transferred):
    assert transferred.files_before == transferred.files_after
    assert sum("zero-shot-plant" in name for name in transferred.files_before) == 4


# --------------------------------------------------------------------------------------------
# BERT (MTL), which has no classifier of the held-out domain


def test_mtl_transfer_has_no_zero_shot_and_fine_tunes_a_new_classifier_on_its_encoder(
    tmp_path, fixture_env
):
    runner = _runner(tmp_path, {"methods": ["bert_mtl"]})
    stage1_run = runner.find_run(BASE.format("bert_mtl", "stage1"))
    runner.run_one(stage1_run.run_id)  # trains, then evaluates what there is to evaluate
    stage1 = runner.run_dir(stage1_run)
    assert not list(stage1.glob("zero-shot-*.json"))
    assert runner.scores(stage1_run) == []
    source = load_archive(str(stage1 / "model.tar.gz")).model.state_dict()
    assert {"_domain_classifiers.animal.weight", "_domain_classifiers.vehicle.weight"} <= set(
        source
    )
    # the stage-2 model as its training builds it, before any update
    config = _config(runner, BASE.format("bert_mtl", "shots=4"))
    reader = DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"])))
    vocabulary = Vocabulary.from_params(
        Params(config["vocabulary"]), instances=reader.read(config["train_data_path"])
    )
    assert vocabulary.get_token_to_index_vocabulary("domain_labels") == {
        "animal": 0,
        "vehicle": 1,
        "plant": 2,
    }
    with_classifier = copy.deepcopy(config["model"])  # Params consumes what it is given
    target = Model.from_params(vocab=vocabulary, params=Params(config["model"])).state_dict()
    # loading its label classifier too is an error that says what to do instead
    with_classifier["initializer"]["regexes"][0][0] += "|_label_classifier\\..*"
    with pytest.raises(ConfigurationError) as error:
        Model.from_params(vocab=vocabulary, params=Params(with_classifier))
    assert "a BERT (MTL) archive with a classifier per domain (animal, vehicle)" in str(error.value)
    assert "apply the initializer to the encoder only" in str(error.value)
    encoder = [name for name in target if name.startswith("_text_field_embedder.")]
    assert encoder
    for name in encoder:
        assert torch.equal(target[name], source[name]), name
    for head in ("animal", "vehicle"):
        assert not torch.equal(
            target["_label_classifier.weight"], source[f"_domain_classifiers.{head}.weight"]
        )


# --------------------------------------------------------------------------------------------
# The shipped experiments


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the paper experiments point at the real data")
@pytest.mark.parametrize(
    "name, table, runs",
    [
        # per held-out domain and seed: 4 stage-1 methods, 5 methods x 3 shots values
        ("transfer_taxonomy", "table4_taxonomy", 3 * 3 * (4 + 5 * 3)),
        ("transfer_amazon", "table3_amazon", 4 * 3 * (4 + 5 * 3)),
        ("transfer_mnli", "table2_mnli", 5 * 3 * (4 + 5 * 3)),
    ],
)
def test_transfer_experiments_plan_every_run_with_their_tables_settings(
    name, table, runs, monkeypatch
):
    monkeypatch.setenv("MFT_DATA_DIR", str(SHARED_DATA))
    experiment = load_experiment(str(CONFIGS / "experiments" / f"{name}.jsonnet"))
    assert len(plan_runs(experiment)) == runs
    paper = load_experiment(str(CONFIGS / "experiments" / f"{table}.jsonnet"))
    for key in ("task", "domains", "data", "encoder", "seeds", "stage2", "reader"):
        assert getattr(experiment, key) == getattr(paper, key), key
    # stage 1 as in the table but as many epochs as BERT (Mix) trains pooled (stage2.epochs)
    assert experiment.stage1 == dict(paper.stage1, epochs=paper.stage2["epochs"])
    assert experiment.bf16 is True
    assert experiment.transfer["epochs"]["all"] == paper.stage2["epochs"]
    assert experiment.transfer["shots"] == [32, 128, None]
    assert experiment.methods == ["bert_s", "bert_mix", "bert_mtl", "bert_adv", "mft_full"]
