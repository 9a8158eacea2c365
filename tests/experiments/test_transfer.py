"""
Transfer to a new domain (`transfer` in an experiment file): the runs it plans and their
configs, and the tiny fixture experiment trained the way a scheduler runs it (--export-commands,
one --only task a run, --collect), then its zero-shot scores, samples and tables checked.
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
from tests.conftest import CONFIGS, FIXTURE_DATA, FIXTURES, PROJECT_ROOT, SHARED_DATA, TINY_BERT
from tests.experiments.helpers import (
    EXPERIMENT_ENVIRONMENT,
    mft_experiment_in_process,
    results_table,
)

TRANSFER = FIXTURES / "experiments" / "transfer.jsonnet"
RUNS_BY_WAVE = [
    [
        "transfer-vehicle/bert_s/default/seed-13/shots=4",
        "transfer-vehicle/bert_s/default/seed-13/shots=all",
        "transfer-vehicle/bert_mix/default/seed-13/stage1",
        "transfer-vehicle/bert_mtl/default/seed-13/stage1",
    ],
    [
        "transfer-vehicle/bert_mix/default/seed-13/shots=4",
        "transfer-vehicle/bert_mix/default/seed-13/shots=all",
        "transfer-vehicle/bert_mtl/default/seed-13/shots=4",
        "transfer-vehicle/bert_mtl/default/seed-13/shots=all",
    ],
]
# the plant pairs of a third fixture domain (the tests that need three write it out)
PLANT_PAIRS = (
    "tree\tplant\t1\nplant\ttree\t0\noak\ttree\t1\ntree\toak\t0\n"
    "rose\tplant\t1\nplant\trose\t0\nfern\tplant\t1\nplant\tfern\t0\n"
)


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


@pytest.fixture
def fixture_env(monkeypatch):
    for name, value in EXPERIMENT_ENVIRONMENT.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(PROJECT_ROOT)


def _config(runner, run_id):
    return runner.config_for(runner.find_run(run_id))


def test_transfer_configs_read_the_other_domains_then_a_sample_of_the_held_out_one(
    tmp_path, fixture_env
):
    runner = ExperimentRunner(load_experiment(str(TRANSFER)), tmp_path)
    base = "transfer-vehicle/{}/default/seed-13/{}"
    stage1 = _config(runner, base.format("bert_mix", "stage1"))
    assert stage1["dataset_reader"]["domains"] == ["animal"]  # train and dev of animal only
    assert "validation_dataset_reader" not in stage1
    assert stage1["model"]["type"] == "mft_transformer_classifier"
    for method in ("bert_s", "bert_mix", "bert_mtl"):
        few = _config(runner, base.format(method, "shots=4"))
        reader = few["dataset_reader"]
        assert (reader["domains"], reader["sample_count"], reader["sample_seed"]) == (
            ["vehicle"],
            4,
            13,
        )
        validation = few["validation_dataset_reader"]
        assert validation["domains"] == ["vehicle"] and validation["sample_count"] is None
        assert few["trainer"]["num_epochs"] == 2  # transfer.epochs['4']
        everything = _config(runner, base.format(method, "shots=all"))
        assert "sample_count" not in everything["dataset_reader"]
        assert everything["trainer"]["num_epochs"] == 1  # stage2.epochs
        if method == "bert_s":
            assert "initializer" not in few["model"] and "vocabulary" not in few
            continue
        archive = runner.output_dir / base.format(method, "stage1") / "model.tar.gz"
        pattern, initializer = few["model"]["initializer"]["regexes"][0]
        assert initializer["weights_file_path"] == str(archive)
        assert few["vocabulary"] == {"type": "mft_stage1", "archive": str(archive)}
        if method == "bert_mtl":  # its encoder only: no head of vehicle to load
            assert pattern == "_text_field_embedder\\..*"
        else:
            assert pattern == "_text_field_embedder\\..*|_label_classifier\\..*"


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
        state.runner = ExperimentRunner(load_experiment(str(TRANSFER)), out)
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
    assert listed == RUNS_BY_WAVE[0][:2] + [
        RUNS_BY_WAVE[0][2],
        *RUNS_BY_WAVE[1][:2],
        RUNS_BY_WAVE[0][3],
        *RUNS_BY_WAVE[1][2:],
    ]
    assert "BERT (Mix), seed 13, stage 1 without vehicle" in transferred.dry_run
    assert "BERT (S), seed 13, vehicle (4 instances)" in transferred.dry_run
    assert transferred.waves == RUNS_BY_WAVE
    for run_id in sum(RUNS_BY_WAVE, []):
        assert (transferred.out / run_id / "model.tar.gz").is_file(), run_id
    assert transferred.results["missing_runs"] == []


def _instance_ids(reader_config, path):
    reader = DatasetReader.from_params(Params(copy.deepcopy(reader_config)))
    return [instance["metadata"]["instance_id"] for instance in reader.read(path)]


def test_transfer_run_on_shots_trains_on_exactly_that_many_instances_of_the_domain(
    transferred,
):
    out = transferred.out
    samples = {}
    for method in ("bert_s", "bert_mix", "bert_mtl"):
        for shots in ("4", "all"):
            run_dir = out / f"transfer-vehicle/{method}/default/seed-13/shots={shots}"
            trained = json.loads((run_dir / "config.json").read_text())
            ids = _instance_ids(trained["dataset_reader"], trained["train_data_path"])
            assert all(i.startswith("taxonomy/train/vehicle.tsv:") for i in ids), ids
            assert len(ids) == (4 if shots == "4" else 8)
            samples[method, shots] = ids
            dev = trained.get("validation_dataset_reader", trained["dataset_reader"])
            dev_ids = _instance_ids(dev, trained["validation_data_path"])
            assert len(dev_ids) == 8 and all("dev/vehicle.tsv" in i for i in dev_ids)
            metrics = json.loads((run_dir / "metrics.json").read_text())
            assert "validation_accuracy_vehicle" in metrics
            assert "validation_accuracy_animal" not in metrics
    # every method of a seed trains on the same instances, and 4 shots are part of all of them
    assert samples["bert_s", "4"] == samples["bert_mix", "4"] == samples["bert_mtl", "4"]
    assert set(samples["bert_s", "4"]) < set(samples["bert_s", "all"])


def _evaluation_on_domain(archive, data, domain):
    """
    Accuracy and mean cross-entropy of an archived model on one domain of `data`, and the
    number of instances, computed here by hand. (The loss pins down the instances read: a model
    that predicts one class scores the same accuracy on any balanced domain.)
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
    stage1 = transferred.out / "transfer-vehicle/bert_mix/default/seed-13/stage1"
    vocabulary = Vocabulary.from_files(stage1 / "vocabulary")
    assert vocabulary.get_token_to_index_vocabulary("domain_labels") == {"animal": 0}
    dev, loss, count = _evaluation_on_domain(
        stage1 / "model.tar.gz", FIXTURE_DATA / "taxonomy/dev", "vehicle"
    )
    assert count == 8
    zero_shot = json.loads((stage1 / "zero-shot-vehicle.json").read_text())
    # the 8 vehicle pairs make one validation batch: its loss is their mean cross-entropy
    assert (zero_shot["accuracy"], zero_shot["loss"]) == (
        pytest.approx(dev),
        pytest.approx(loss, rel=1e-5),
    )
    assert zero_shot["held_out_domain"] == "vehicle"
    test, test_loss, _ = _evaluation_on_domain(
        stage1 / "model.tar.gz", FIXTURE_DATA / "taxonomy/train", "vehicle"
    )
    tested = json.loads(next(stage1.glob("zero-shot-vehicle-test-*.json")).read_text())
    assert tested["loss"] == pytest.approx(test_loss, rel=1e-5)
    (row,) = [r for r in transferred.results["runs"] if r["setting"] == "zero-shot"]
    assert (row["method"], row["domain"], row["run"]) == (
        "bert_mix",
        "vehicle",
        "transfer-vehicle/bert_mix/default/seed-13/stage1",
    )
    assert row["dev"] == pytest.approx(dev) and row["test"] == pytest.approx(test)
    # BERT (MTL) has no classifier of vehicle: no zero-shot evaluation, and no error
    mtl = transferred.out / "transfer-vehicle/bert_mtl/default/seed-13/stage1"
    assert not list(mtl.glob("zero-shot-*.json"))


def test_mtl_transfer_fine_tunes_a_new_classifier_on_the_stage1_encoder(transferred):
    out = transferred.out
    stage1 = load_archive(
        str(out / "transfer-vehicle/bert_mtl/default/seed-13/stage1/model.tar.gz")
    )
    source = stage1.model.state_dict()
    run_dir = out / "transfer-vehicle/bert_mtl/default/seed-13/shots=4"
    config = json.loads((run_dir / "config.json").read_text())
    # the stage-2 model as its training built it, before any update
    model = Model.from_params(
        vocab=Vocabulary.from_files(run_dir / "vocabulary"), params=Params(config["model"])
    )
    target = model.state_dict()
    encoder = [name for name in target if name.startswith("_text_field_embedder.")]
    assert encoder
    for name in encoder:
        assert torch.equal(target[name], source[name]), name
    assert not torch.equal(
        target["_label_classifier.weight"], source["_domain_classifiers.animal.weight"]
    )
    assert model.vocab.get_token_to_index_vocabulary("domain_labels") == {
        "animal": 0,
        "vehicle": 1,
    }


def test_transfer_results_have_a_row_per_method_and_setting(transferred):
    out = transferred.out
    header, rows = results_table(transferred.markdown, "dev")
    assert header == ["Method", "vehicle", "Average"]
    assert list(rows) == [
        "BERT (Mix), zero-shot",
        "BERT (MTL), zero-shot",
        "BERT (S), 4 shots",
        "BERT (Mix), 4 shots",
        "BERT (MTL), 4 shots",
        "BERT (S), all data",
        "BERT (Mix), all data",
        "BERT (MTL), all data",
    ]
    zero_shot = json.loads(
        (
            out / "transfer-vehicle/bert_mix/default/seed-13/stage1/zero-shot-vehicle.json"
        ).read_text()
    )
    assert rows["BERT (Mix), zero-shot"]["vehicle"] == f"{100 * zero_shot['accuracy']:.1f}"
    assert rows["BERT (MTL), zero-shot"] == {"vehicle": "–", "Average": "–"}
    for method, display in (
        ("bert_s", "BERT (S)"),
        ("bert_mix", "BERT (Mix)"),
        ("bert_mtl", "BERT (MTL)"),
    ):
        for shots, label in (("4", "4 shots"), ("all", "all data")):
            metrics = json.loads(
                (
                    out / f"transfer-vehicle/{method}/default/seed-13/shots={shots}/metrics.json"
                ).read_text()
            )
            dev = f"{100 * metrics['validation_accuracy_vehicle']:.1f}"
            assert rows[f"{display}, {label}"] == {"vehicle": dev, "Average": dev}
    _, test_rows = results_table(transferred.markdown, "test")
    tested = json.loads(
        next(
            (out / "transfer-vehicle/bert_s/default/seed-13/shots=4").glob("test-metrics-*.json")
        ).read_text()
    )
    assert test_rows["BERT (S), 4 shots"]["vehicle"] == f"{100 * tested['accuracy_vehicle']:.1f}"
    assert "Transfer to a new domain" in transferred.markdown
    assert len(transferred.results["runs"]) == 1 + 6
    assert transferred.results["summary"]["dev"]["null"]["bert_mtl/zero-shot"]["vehicle"] is None
    assert (out / "results.png").read_bytes()[:4] == b"\x89PNG"


def test_transfer_experiment_run_again_trains_and_evaluates_nothing(transferred):
    assert transferred.files_before == transferred.files_after
    assert any("zero-shot-vehicle" in name for name in transferred.files_before)


# --------------------------------------------------------------------------------------------
# MFT, whose stage 1 needs two domains besides the held-out one


def test_mft_transfer_scores_its_pooled_classifier_on_the_held_out_domain(tmp_path):
    data = {}
    for split in ("train", "dev"):
        folder = tmp_path / "taxonomy" / split
        folder.mkdir(parents=True)
        for domain in ("animal", "vehicle"):
            (folder / f"{domain}.tsv").symlink_to(
                FIXTURE_DATA / "taxonomy" / split / f"{domain}.tsv"
            )
        (folder / "plant.tsv").write_text(PLANT_PAIRS)
        data[split] = str(folder)
    path = _experiment_file(
        tmp_path,
        data=data,
        encoder=TINY_BERT,
        methods=["mft_full"],
        seeds=[13],
        stage1={"epochs": 1, "batch_size": 8},
        stage2={"epochs": 1, "batch_size": 8},
        transfer={"shots": [None], "held_out": ["plant"]},
    )
    runner = ExperimentRunner(load_experiment(path), tmp_path / "out")
    base = "transfer-plant/mft_full/default/seed-13"
    assert [run.run_id for run in runner.runs] == [f"{base}/stage1", f"{base}/shots=all"]
    for run in runner.runs:
        runner.run_one(run.run_id)
    missing = runner.collect_results()
    assert missing == []
    stage1 = tmp_path / "out" / base / "stage1"
    vocabulary = Vocabulary.from_files(stage1 / "vocabulary")
    assert sorted(vocabulary.get_token_to_index_vocabulary("domain_labels")) == [
        "animal",
        "vehicle",
    ]
    dev, loss, count = _evaluation_on_domain(stage1 / "model.tar.gz", data["dev"], "plant")
    assert count == 8
    zero_shot = json.loads((stage1 / "zero-shot-plant.json").read_text())
    assert zero_shot["loss"] == pytest.approx(loss, rel=1e-5)
    rows = json.loads((tmp_path / "out" / "results.json").read_text())["runs"]
    zero_shot = [r for r in rows if r["setting"] == "zero-shot"]
    assert [(r["domain"], r["dev"]) for r in zero_shot] == [("plant", pytest.approx(dev))]
    stage2 = json.loads((tmp_path / "out" / base / "shots=all" / "metrics.json").read_text())
    (fine_tuned,) = [r for r in rows if r["setting"] == "shots=all"]
    assert fine_tuned["dev"] == stage2["validation_accuracy_plant"]


@pytest.mark.skipif(not SHARED_DATA.is_dir(), reason="the paper experiments point at the real data")
@pytest.mark.parametrize(
    "name, table, runs",
    [
        # per held-out domain and seed: 4 stage-1 methods, 5 methods x 3 shots values
        ("transfer_taxonomy", "table4_taxonomy", 3 * 3 * (4 + 5 * 3)),
        ("transfer_amazon", "table3_amazon", 4 * 3 * (4 + 5 * 3)),
    ],
)
def test_transfer_experiments_plan_every_run_with_their_tables_settings(
    name, table, runs, monkeypatch
):
    monkeypatch.setenv("MFT_DATA_DIR", str(SHARED_DATA))
    experiment = load_experiment(str(CONFIGS / "experiments" / f"{name}.jsonnet"))
    assert len(plan_runs(experiment)) == runs
    paper = load_experiment(str(CONFIGS / "experiments" / f"{table}.jsonnet"))
    for key in ("task", "domains", "data", "encoder", "seeds", "stage1", "stage2", "reader"):
        assert getattr(experiment, key) == getattr(paper, key), key
    assert experiment.bf16 is True
    assert experiment.transfer["shots"] == [32, 128, None]
    assert experiment.methods == ["bert_s", "bert_mix", "bert_mtl", "bert_adv", "mft_full"]
