"""
A `basic_classifier` model section switched to the plugin's models by its `type`: the keys
`seq2seq_encoder`, `seq2vec_encoder`, `feedforward`, `dropout`, `num_labels`, `namespace`,
`label_namespace`; f(x) and what each head reads, checked by hand; unknown keys as AllenNLP's
configuration error; training, stage 2 and archives with those keys.
"""
import copy
import json
import math

import pytest
import torch
from allennlp.commands.train import train_model
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import DatasetReader, Vocabulary
from allennlp.models import Model, load_archive

from tests.conftest import CONFIGS, TINY_BERT, TINY_ENVIRONMENT
from tests.models.helpers import disable_dropout, tensors

TYPES = ["mft_transformer_classifier", "meta_fine_tuning", "mft_multi_task", "mft_adversarial"]
HIDDEN = 32  # the tiny BERT's hidden size
POOLERS = {
    "cls_pooler": {"type": "cls_pooler", "embedding_dim": HIDDEN},
    "bert_pooler": {"type": "bert_pooler", "pretrained_model": TINY_BERT},
}
FEEDFORWARD = {"input_dim": HIDDEN, "num_layers": 1, "hidden_dims": 16, "activations": "tanh"}


def basic_classifier_section(pooler="bert_pooler", feedforward=True, **extra):
    """A model section as a `basic_classifier` config has it."""
    section = {
        "type": "basic_classifier",
        "text_field_embedder": {
            "token_embedders": {
                "tokens": {"type": "pretrained_transformer", "model_name": TINY_BERT}
            }
        },
        "seq2vec_encoder": copy.deepcopy(POOLERS[pooler]),
        "dropout": 0.1,
        "namespace": "tokens",
        "label_namespace": "labels",
    }
    if feedforward:
        section["feedforward"] = copy.deepcopy(FEEDFORWARD)
    section.update(extra)
    return section


def build(vocab, model_type, section):
    return Model.from_params(vocab=vocab, params=Params(dict(section, type=model_type)))


def test_the_section_is_a_basic_classifier_section(vocab):
    model = Model.from_params(vocab=vocab, params=Params(basic_classifier_section()))
    assert type(model).__name__ == "BasicClassifier"


@pytest.mark.parametrize("model_type", TYPES)
@pytest.mark.parametrize("pooler", list(POOLERS))
def test_every_model_takes_the_section_by_its_type(vocab, model_type, pooler):
    model = build(vocab, model_type, basic_classifier_section(pooler))
    names = {name.split(".")[0] for name, _ in model.named_parameters()}
    assert {"_text_field_embedder", "_feedforward"} <= names
    assert ("_seq2vec_encoder" in names) == (pooler == "bert_pooler")  # cls_pooler: no weights
    # every label head reads the feedforward's 16 features
    heads = (
        [model._domain_classifiers[name] for name in ("animal", "vehicle")]
        if model_type == "mft_multi_task"
        else [model._label_classifier]
    )
    assert [tuple(head.weight.shape) for head in heads] == [(2, 16)] * len(heads)
    if model_type == "mft_adversarial":
        assert tuple(model._domain_classifier.weight.shape) == (2, 16)
    if model_type == "meta_fine_tuning":  # δ_l read the encoder's hidden states
        assert {tuple(head.weight.shape) for head in model._domain_heads} == {(2, HIDDEN)}


@pytest.mark.parametrize("model_type", TYPES)
def test_an_unknown_key_is_allennlps_extra_parameters_error(vocab, model_type):
    classes = {
        "mft_transformer_classifier": "TransformerClassifier",
        "meta_fine_tuning": "MetaFineTuning",
        "mft_multi_task": "MultiTaskClassifier",
        "mft_adversarial": "AdversarialClassifier",
    }
    with pytest.raises(ConfigurationError) as error:
        build(vocab, model_type, basic_classifier_section(no_such_key=3))
    assert (
        str(error.value)
        == f"Extra parameters passed to {classes[model_type]}: {{'no_such_key': 3}}"
    )


def test_mft_sets_keep_pooler_itself_so_its_config_may_not(vocab):
    with pytest.raises(
        ConfigurationError, match=r"Extra parameters passed to MetaFineTuning: \{'keep_pooler'"
    ):
        build(vocab, "meta_fine_tuning", basic_classifier_section(keep_pooler=True))


def test_modules_that_do_not_fit_are_named(vocab):
    section = basic_classifier_section(feedforward=False)
    section["feedforward"] = dict(FEEDFORWARD, input_dim=HIDDEN + 1)
    with pytest.raises(ConfigurationError, match="f\\(x\\) dim must match feedforward input dim"):
        build(vocab, "mft_transformer_classifier", section)
    section = basic_classifier_section("cls_pooler", feedforward=False)
    section["seq2vec_encoder"]["embedding_dim"] = HIDDEN + 1
    with pytest.raises(
        ConfigurationError, match="hidden size must match seq2vec_encoder input dim"
    ):
        build(vocab, "meta_fine_tuning", section)
    with pytest.raises(ConfigurationError, match="num_labels is 3, but .* 'labels' holds 2 labels"):
        build(vocab, "mft_transformer_classifier", basic_classifier_section(num_labels=3))
    model = build(vocab, "mft_transformer_classifier", basic_classifier_section(num_labels=2))
    assert model.num_labels == 2


def test_num_labels_sizes_the_classifier_of_labels_the_vocabulary_lacks(instances, vocab):
    """Integer labels (`LabelField(skip_indexing=True)`) leave the namespace empty: num_labels
    sizes the classifier, and the output names the labels by their index."""
    section = basic_classifier_section(num_labels=3, label_namespace="integer_labels")
    model = build(vocab, "mft_transformer_classifier", section)
    assert tuple(model._label_classifier.weight.shape) == (3, 16)
    model.eval()
    output = model.forward_on_instance(instances[0])
    assert list(output)[:3] == ["label", "class_probabilities", "labels"]
    assert output["labels"] == ["0", "1", "2"]
    assert output["class_probabilities"] == {
        name: pytest.approx(float(p)) for name, p in zip(output["labels"], output["probs"])
    }


@pytest.mark.parametrize("model_type", TYPES)
def test_cls_pooler_is_todays_model_with_todays_numbers(instances, vocab, model_type):
    """Without a seq2vec_encoder f(x) is [CLS]; cls_pooler gives the same vector, so the same seed
    must give the same parameters (by name) and the same training-mode loss."""
    plain = basic_classifier_section(feedforward=False)
    del plain["seq2vec_encoder"]
    pooled = basic_classifier_section("cls_pooler", feedforward=False)
    batch = tensors(instances[:4] + instances[-4:], vocab)
    results = []
    for section in (plain, pooled):
        torch.manual_seed(3)
        model = build(vocab, model_type, section)
        model.train()
        torch.manual_seed(5)
        results.append((model.state_dict(), model(**batch)["loss"]))
    (plain_state, plain_loss), (pooled_state, pooled_loss) = results
    assert list(plain_state) == list(pooled_state)
    assert all(torch.equal(plain_state[name], pooled_state[name]) for name in plain_state)
    assert torch.equal(plain_loss, pooled_loss)


def _hand_f_of_x(model, batch):
    """bert_pooler by hand: tanh(W · h_[CLS] + b) of the last layer."""
    inputs = batch["tokens"]["tokens"]
    hidden = model.transformer(
        input_ids=inputs["token_ids"],
        attention_mask=inputs["mask"].float(),
        token_type_ids=inputs["type_ids"],
        output_hidden_states=True,
    ).hidden_states
    dense = model._seq2vec_encoder.pooler.dense
    return torch.tanh(hidden[-1][:, 0] @ dense.weight.T + dense.bias), hidden


def _hand_feedforward(model, vector):
    layer = model._feedforward._linear_layers[0]
    return torch.tanh(vector @ layer.weight.T + layer.bias)


def _cross_entropy(logits, targets):
    return sum(
        -(row[t] - math.log(sum(math.exp(v) for v in row.tolist())))
        for row, t in zip(logits, targets.tolist())
    ).item() / len(targets)


def test_label_logits_are_classifier_of_feedforward_of_f_of_x(instances, vocab):
    torch.manual_seed(0)
    model = build(vocab, "mft_transformer_classifier", basic_classifier_section())
    model.eval()
    batch = tensors(instances[:5], vocab)
    with torch.no_grad():
        logits = model(**batch)["logits"]
        f_of_x, _ = _hand_f_of_x(model, batch)
        features = _hand_feedforward(model, f_of_x)
        expected = features @ model._label_classifier.weight.T + model._label_classifier.bias
    assert torch.allclose(logits, expected, atol=1e-5)


def test_dropout_comes_before_the_feedforward(instances, vocab):
    torch.manual_seed(0)
    model = build(vocab, "mft_transformer_classifier", basic_classifier_section(dropout=0.5))
    disable_dropout(model)
    model._dropout.p = 0.5
    model.train()
    batch = tensors(instances[:5], vocab)
    torch.manual_seed(11)
    logits = model(**batch)["logits"]
    with torch.no_grad():
        f_of_x, _ = _hand_f_of_x(model, batch)
        torch.manual_seed(11)
        dropped = torch.nn.functional.dropout(f_of_x, 0.5, training=True)
        expected = model._label_classifier(_hand_feedforward(model, dropped))
    assert torch.allclose(logits, expected, atol=1e-5)


def test_multi_task_heads_and_the_adversary_read_f_of_x_after_the_feedforward(instances, vocab):
    batch = tensors(instances[:4] + instances[-4:], vocab)
    domains = batch["domain"]
    torch.manual_seed(0)
    mtl = build(vocab, "mft_multi_task", basic_classifier_section())
    mtl.eval()
    with torch.no_grad():
        logits = mtl(**batch)["logits"]
        features = _hand_feedforward(mtl, _hand_f_of_x(mtl, batch)[0])
        names = mtl.domain_names
        expected = torch.stack(
            [mtl._domain_classifiers[names[int(k)]](row) for row, k in zip(features, domains)]
        )
    assert torch.allclose(logits, expected, atol=1e-5)

    torch.manual_seed(0)
    adversarial = build(vocab, "mft_adversarial", basic_classifier_section())
    disable_dropout(adversarial)
    adversarial.train()
    output = adversarial(**batch)
    with torch.no_grad():
        features = _hand_feedforward(adversarial, _hand_f_of_x(adversarial, batch)[0])
        domain_logits = adversarial._domain_classifier(features)
    assert float(output["adversarial_loss"]) == pytest.approx(
        _cross_entropy(domain_logits, domains), abs=1e-5
    )


def test_mft_losses_and_e_of_x_stay_on_the_encoders_hidden_states(instances, vocab):
    """The same encoder and domain heads give the same L_SDC and E(x) with or without a seq2vec
    encoder and feedforward on top."""
    batch = tensors(instances[:4] + instances[-4:], vocab)
    plain = basic_classifier_section(feedforward=False)
    del plain["seq2vec_encoder"]
    torch.manual_seed(0)
    reference = build(vocab, "meta_fine_tuning", plain)
    torch.manual_seed(1)
    stacked = build(vocab, "meta_fine_tuning", basic_classifier_section())
    shared = {
        name: value
        for name, value in reference.state_dict().items()
        if name.startswith(("_text_field_embedder.", "_domain_embedding.", "_domain_heads."))
    }
    stacked.load_state_dict(shared, strict=False)
    outputs = []
    for model in (reference, stacked):
        disable_dropout(model)
        model.train()
        torch.manual_seed(9)
        outputs.append(model(**batch))
    assert torch.allclose(outputs[0]["domain_loss"], outputs[1]["domain_loss"], atol=1e-6)
    assert not torch.allclose(outputs[0]["label_loss"], outputs[1]["label_loss"])
    with torch.no_grad():
        assert torch.allclose(
            reference.prototype_embedding(batch["tokens"]),
            stacked.prototype_embedding(batch["tokens"]),
            atol=1e-6,
        )


# --------------------------------------------------------------------------------------------
# Training with the section: stage 1, the plain model, stage 2, archives


def _shipped_config(path, **environment):
    with pytest.MonkeyPatch.context() as patch:
        for name, value in dict(TINY_ENVIRONMENT, **environment).items():
            patch.setenv(name, value)
        return Params.from_file(str(path)).as_dict()


def _with_section(config, model_type, section):
    config = copy.deepcopy(config)
    config["model"] = dict(copy.deepcopy(section), type=model_type)
    config["trainer"]["num_epochs"] = 2
    return config


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """Stage 1 (MFT, with the prototype callback) and BERT (Mix) trained from the section."""
    runs = {}
    for name, model_type, shipped, section in [
        ("mft", "meta_fine_tuning", "mft_full", basic_classifier_section("bert_pooler")),
        ("mix", "mft_transformer_classifier", "bert_mix", basic_classifier_section("cls_pooler")),
    ]:
        config = _with_section(
            _shipped_config(CONFIGS / "reviews" / f"{shipped}.jsonnet"), model_type, section
        )
        directory = tmp_path_factory.mktemp(name)
        model = train_model(Params(copy.deepcopy(config)), directory)
        runs[name] = (config, directory, model)
    return runs


def _dev_batch(config):
    reader = DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"])))
    return list(reader.read(config["validation_data_path"]))


@pytest.mark.parametrize("name", ["mft", "mix"])
def test_the_section_trains_and_its_archive_reloads_with_the_same_outputs(trained, name):
    config, directory, model = trained[name]
    metrics = json.loads((directory / "metrics.json").read_text())
    assert metrics["epoch"] == 1 and math.isfinite(metrics["training_loss"])
    if name == "mft":  # the prototype callback scored every training instance
        scores = model._typicality_by_id
        assert len(scores) == len(
            list(
                DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"]))).read(
                    config["train_data_path"]
                )
            )
        )
        assert metrics["training_domain_loss"] > 0
    loaded = load_archive(str(directory / "model.tar.gz")).model
    assert set(loaded.state_dict()) == set(model.state_dict())
    assert any(name.startswith("_feedforward.") for name in loaded.state_dict())
    instances = _dev_batch(config)
    model.eval()
    loaded.eval()
    with torch.no_grad():
        ours, theirs = (m.forward_on_instances(instances) for m in (model, loaded))
    for a, b in zip(ours, theirs):
        assert list(a) == list(b)
        assert a["probs"] == pytest.approx(b["probs"], abs=1e-6)
        assert a["label"] == b["label"]


def _stage2(archive, pooler):
    """The stage-2 model as training builds it, before any update, from a user's section."""
    config = _shipped_config(
        CONFIGS / "reviews" / "stage2.jsonnet", MFT_STAGE1=str(archive), MFT_DOMAIN="books"
    )
    section = basic_classifier_section(pooler)
    initializer = config["model"]["initializer"]
    config["model"] = dict(section, type="mft_transformer_classifier", initializer=initializer)
    reader = DatasetReader.from_params(Params(copy.deepcopy(config["dataset_reader"])))
    vocabulary = Vocabulary.from_params(
        Params(copy.deepcopy(config["vocabulary"])),
        instances=reader.read(config["train_data_path"]),
    )
    return Model.from_params(vocab=vocabulary, params=Params(copy.deepcopy(config["model"])))


def test_stage2_with_a_module_the_stage1_archive_lacks_names_it(trained):
    _, directory, _ = trained["mix"]  # cls_pooler: no seq2vec weights in the archive
    with pytest.raises(ConfigurationError) as error:
        _stage2(directory / "model.tar.gz", "bert_pooler")
    assert "has no parameter '_seq2vec_encoder.pooler.dense." in str(error.value)
    assert str(directory / "model.tar.gz") in str(error.value)


def test_stage2_loads_the_seq2vec_encoder_and_feedforward_of_stage1(trained):
    _, directory, _ = trained["mft"]
    archive = directory / "model.tar.gz"
    target = _stage2(archive, "bert_pooler")
    source = load_archive(str(archive)).model.state_dict()
    loaded = [
        n for n in target.state_dict() if n.startswith(("_seq2vec_encoder.", "_feedforward."))
    ]
    assert len(loaded) == 4  # bert_pooler's dense and the feedforward's linear layer
    for name, tensor in target.state_dict().items():
        assert torch.equal(tensor, source[name]), name  # the label classifier too
