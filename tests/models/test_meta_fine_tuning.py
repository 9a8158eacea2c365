"""The MFT model's loss, gradients and configuration checks, on a tiny BERT."""
import math

import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.data import Vocabulary
from allennlp.models import Model

from tests.conftest import TINY_BERT
from tests.models.helpers import disable_dropout, tensors, tiny_mft


def _batch(instances, vocab, positions):
    return tensors([instances[p] for p in positions], vocab)


def _log_softmax(values, index):
    values = [float(v) for v in values]
    return values[index] - math.log(sum(math.exp(v) for v in values))


def test_training_loss_equals_hand_computation(instances, vocab):
    torch.manual_seed(0)
    model = tiny_mft(vocab, skip_layers=[1, 3], domain_corruption_weight=0.3)
    disable_dropout(model)
    positions = [0, 3, 9, 12]  # two animal pairs, two vehicle pairs
    batch = _batch(instances, vocab, positions)
    ids = [m["instance_id"] for m in batch["metadata"]]
    # one instance left without a score: it must count with t = 1
    model.set_typicality({ids[0]: 0.5, ids[1]: 1.2, ids[2]: 0.25})
    weights = [0.5, 1.2, 0.25, 1.0]
    model.train()

    torch.manual_seed(7)
    output = model(**batch)
    torch.manual_seed(7)
    corrupted = batch["domain"][torch.randperm(4)].tolist()

    token_ids = batch["tokens"]["tokens"]["token_ids"]
    mask = batch["tokens"]["tokens"]["mask"]
    with torch.no_grad():
        hidden = model.transformer(
            input_ids=token_ids,
            attention_mask=mask.float(),
            token_type_ids=batch["tokens"]["tokens"]["type_ids"],
            output_hidden_states=True,
        ).hidden_states
        label_loss = domain_loss = 0.0
        for i in range(4):
            logits = model._label_classifier(hidden[-1][i, 0])
            label_loss += weights[i] * -_log_softmax(logits, int(batch["label"][i]))
            layer_terms = []
            for position, layer in enumerate([1, 3]):
                real = [j for j in range(1, token_ids.shape[1]) if mask[i, j]]
                pooled = sum(hidden[layer][i, j] for j in real) / len(real)
                features = pooled + model._domain_embedding.weight[int(batch["domain"][i])]
                head_logits = model._domain_heads[position](features)
                layer_terms.append(-_log_softmax(head_logits, corrupted[i]))
            domain_loss += weights[i] * sum(layer_terms) / 2
    label_loss /= 4
    domain_loss /= 4
    assert float(output["label_loss"]) == pytest.approx(label_loss, rel=1e-5)
    assert float(output["domain_loss"]) == pytest.approx(domain_loss, rel=1e-5)
    assert float(output["loss"]) == pytest.approx(label_loss + 0.3 * domain_loss, rel=1e-5)


def test_zero_typicality_instance_contributes_no_gradient(instances, vocab):
    """With t = 0, changing the instance's tokens and label changes no gradient at all."""

    def gradients(batch_positions, label_override):
        torch.manual_seed(0)
        model = tiny_mft(vocab, skip_layers=[2, 4])
        disable_dropout(model)
        batch = _batch(instances, vocab, batch_positions)
        batch["label"][0] = label_override
        model.set_typicality(
            {m["instance_id"]: 0.0 if k == 0 else 1.0 for k, m in enumerate(batch["metadata"])}
        )
        model.train()
        torch.manual_seed(3)
        model(**batch)["loss"].backward()
        return {name: p.grad.clone() for name, p in model.named_parameters() if p.grad is not None}

    # instances 0 and 1 are both animal pairs of the same length ("dog animal", "cat animal")
    first = gradients([0, 2, 9, 12], label_override=0)
    second = gradients([1, 2, 9, 12], label_override=1)
    assert first.keys() == second.keys()
    for name in first:
        assert torch.allclose(first[name], second[name], atol=1e-7), name


def test_domain_loss_reaches_layers_up_to_the_deepest_skip_layer_only(instances, vocab):
    torch.manual_seed(0)
    model = tiny_mft(vocab, skip_layers=[1, 2], domain_corruption_weight=1.0)
    model.set_typicality({"unused": 1.0})
    model.train()
    output = model(**_batch(instances, vocab, [0, 3, 9, 12]))
    output["domain_loss"].backward()

    def layer_gradient(index):
        grads = [
            p.grad
            for name, p in model.named_parameters()
            if f"encoder.layer.{index}." in name and p.grad is not None
        ]
        return sum(float(g.abs().sum()) for g in grads)

    # HuggingFace's encoder.layer.0 is layer 1
    assert layer_gradient(0) > 0 and layer_gradient(1) > 0
    assert layer_gradient(2) == 0 and layer_gradient(3) == 0
    assert model._label_classifier.weight.grad is None


def test_evaluation_is_deterministic_plain_cross_entropy(instances, vocab):
    model = tiny_mft(vocab)
    model.set_typicality({m["metadata"]["instance_id"]: 0.1 for m in instances})
    model.eval()
    batch = _batch(instances, vocab, [0, 3, 9, 12])
    first, second = model(**batch), model(**batch)
    assert "domain_loss" not in first
    assert torch.equal(first["loss"], second["loss"])
    expected = torch.nn.functional.cross_entropy(first["logits"], batch["label"])
    assert float(first["loss"]) == pytest.approx(float(expected))


def test_metrics_report_accuracy_per_domain_and_loss_components(instances, vocab):
    model = tiny_mft(vocab)
    model.set_typicality({"x": 1.0})
    model.train()
    model(**_batch(instances, vocab, list(range(16))))
    metrics = model.get_metrics(reset=True)
    assert set(metrics) == {
        "accuracy",
        "accuracy_animal",
        "accuracy_vehicle",
        "label_loss",
        "domain_loss",
    }


def test_human_readable_output_has_label_and_class_probabilities(instances, vocab):
    model = tiny_mft(vocab).eval()
    output = model.make_output_human_readable(model(**_batch(instances, vocab, [0, 1])))
    assert all(label in {"0", "1"} for label in output["label"])
    for probabilities in output["class_probabilities"]:
        assert set(probabilities) == {"0", "1"}
        assert sum(probabilities.values()) == pytest.approx(1.0)


def test_prediction_runs_in_inference_mode_and_training_goes_on_afterwards(instances, vocab):
    model = tiny_mft(vocab)
    model.set_typicality({m["metadata"]["instance_id"]: 1.0 for m in instances})
    model.eval()
    batch = [instances[p] for p in (0, 3, 9)]
    expected = model(**tensors(batch, vocab))["probs"]
    model.get_metrics(reset=True)  # count only what follows
    modes = []
    hook = model.transformer.register_forward_pre_hook(
        lambda module, inputs: modes.append(torch.is_inference_mode_enabled())
    )
    predictions = model.forward_on_instances(batch)
    hook.remove()
    assert modes == [True]
    assert torch.tensor([p["probs"] for p in predictions]).allclose(expected.detach(), atol=1e-6)
    # labelled instances updated the accuracy metrics under inference mode; those counters
    # must still take training updates, and training must still get gradients
    model.train()
    batch_tensors = tensors(batch, vocab)
    output = model(**batch_tensors)
    output["loss"].backward()
    assert model._label_classifier.weight.grad is not None
    labels = batch_tensors["label"]
    correct = (expected.argmax(-1) == labels).sum() + (output["logits"].argmax(-1) == labels).sum()
    assert model._accuracy._counts[1] == 6  # 3 predicted, then 3 trained
    assert model.get_metrics(reset=True)["accuracy"] == pytest.approx(float(correct) / 6)


def test_variants_build_the_right_heads(vocab):
    tw = tiny_mft(vocab, domain_corruption_weight=0.0)
    assert tw._domain_heads is None and tw._domain_embedding is None
    shared = tiny_mft(vocab, skip_layers=[2, 4], shared_domain_head=True)
    assert len(shared._domain_heads) == 1
    full = tiny_mft(vocab, skip_layers=[1, 2, 4])
    # |Ls| heads d -> K plus the K x d domain table, as in the paper's parameter count
    extra = sum(p.numel() for n, p in full.named_parameters() if "_domain" in n)
    assert extra == 3 * (32 * 2 + 2) + 2 * 32
    # the pooler is dropped unless the prototypes use it
    assert full.transformer.pooler is None


def _from_params(vocab, **model):
    params = Params(
        {
            "type": "meta_fine_tuning",
            "text_field_embedder": {
                "token_embedders": {
                    "tokens": {"type": "pretrained_transformer", "model_name": TINY_BERT}
                }
            },
            **model,
        }
    )
    return Model.from_params(vocab=vocab, params=params)


@pytest.mark.parametrize(
    "settings, message",
    [
        ({"skip_layers": [2, 5]}, r"skip_layers \[5\] lie outside the encoder's layers 1..4"),
        ({"skip_layers": [0]}, r"skip_layers \[0\] lie outside"),
        ({"domain_corruption_weight": -0.1}, r"domain_corruption_weight \(λ\) must be >= 0"),
        ({"typicality": {"alpha": 1.5}}, r"typicality.alpha must lie in \(0, 1\)"),
        ({"corruption": "flip"}, "corruption must be one of"),
    ],
)
def test_configuration_errors_name_the_key(vocab, settings, message):
    with pytest.raises(ConfigurationError, match=message):
        _from_params(vocab, **settings)


def test_a_single_domain_is_a_configuration_error():
    vocab = Vocabulary()
    vocab.add_tokens_to_namespace(["0", "1"], "labels")
    vocab.add_tokens_to_namespace(["books"], "domain_labels")
    with pytest.raises(ConfigurationError, match="MFT needs at least two domains"):
        _from_params(vocab)


def test_empirical_prior_is_kept_in_the_archive_weights(vocab):
    model = tiny_mft(vocab, corruption="empirical")
    model.set_domain_prior(torch.tensor([3.0, 1.0]))
    assert model.state_dict()["_domain_prior"].tolist() == [0.75, 0.25]


def test_typicality_weights_are_the_float32_scores_and_1_for_an_unscored_id(instances, vocab):
    model = tiny_mft(vocab)
    batch = _batch(instances, vocab, [0, 3, 9, 12])
    ids = [m["instance_id"] for m in batch["metadata"]]
    scores = {ids[0]: 0.1 + 0.2, ids[2]: 1.0 / 3.0, "not-in-the-batch": 2.5}
    model.set_typicality(scores)
    model.train()
    weights = model.typicality_weights(batch["metadata"], 4)
    expected = torch.tensor([scores[ids[0]], 1.0, scores[ids[2]], 1.0], dtype=torch.float)
    assert weights.dtype == torch.float32
    assert torch.equal(weights, expected)
    model.eval()
    assert torch.equal(model.typicality_weights(batch["metadata"], 4), torch.ones(4))


def test_checked_training_domains_skip_the_per_batch_check(instances, vocab, monkeypatch):
    model = tiny_mft(vocab)
    model.train()
    batch = _batch(instances, vocab, [0, 3, 9, 12])
    checked = []
    monkeypatch.setattr(model, "require_known_domains", lambda *args: checked.append(args))
    model(**batch)
    assert len(checked) == 1  # without the callback's check, every batch is checked
    model.training_domains_checked = True
    model(**batch)
    assert len(checked) == 1


def test_metrics_read_interval_repeats_values_between_reads_and_resets_exactly(instances, vocab):
    torch.manual_seed(0)
    every, sparse = tiny_mft(vocab), tiny_mft(vocab, metrics_read_interval=3)
    sparse.load_state_dict(every.state_dict())
    disable_dropout(every), disable_dropout(sparse)
    every.train(), sparse.train()
    seen = []
    for positions in ([0, 3], [9, 12], [1, 10], [2, 11], [4, 13]):
        batch = _batch(instances, vocab, positions)
        for model in (every, sparse):
            torch.manual_seed(1)  # the same corrupted domains in both
            model(**batch)
        seen.append((every.get_metrics(), sparse.get_metrics()))
    # reads 1 and 4 copy from the counters; 2, 3 and 5 repeat the last read
    assert [s == e for e, s in seen] == [True, False, False, True, False]
    assert seen[1][1] == seen[0][0] and seen[2][1] == seen[0][0] and seen[4][1] == seen[3][0]
    assert sparse.get_metrics(reset=True) == every.get_metrics(reset=True)
    with pytest.raises(ConfigurationError, match="metrics_read_interval must be at least 1, got 0"):
        tiny_mft(vocab, metrics_read_interval=0)
