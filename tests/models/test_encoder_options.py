"""What the encoder runs with: SDPA attention where transformers has it, and torch.compile."""
import pytest
import torch
from allennlp.common.checks import ConfigurationError
from allennlp.models import load_archive
from allennlp.models.archival import archive_model
from allennlp.modules.text_field_embedders import BasicTextFieldEmbedder
from allennlp.modules.token_embedders import PretrainedTransformerEmbedder

from mft_plugin.compat import transformers_version
from mft_plugin.models import MetaFineTuning, TransformerClassifier
from tests.conftest import FIXTURE_DATA, FIXTURES
from tests.models.helpers import embedder, tensors, vocabulary

HAS_COMPILE = hasattr(torch, "compile")


@pytest.mark.skipif(transformers_version() < (4, 41), reason="BERT has SDPA from transformers 4.41")
def test_encoder_runs_sdpa_attention_also_after_loading_an_archive(vocab, tmp_path):
    model = TransformerClassifier(vocab, embedder())
    assert model.transformer.config._attn_implementation == "sdpa"
    # An archive rebuilds the transformer from its config (no pretrained weights loaded).
    model.vocab.save_to_files(str(tmp_path / "vocabulary"))
    torch.save(model.state_dict(), tmp_path / "best.th")
    (tmp_path / "config.json").write_text(
        '{"model": {"type": "mft_transformer_classifier", "text_field_embedder": {"token_embedders":'
        ' {"tokens": {"type": "pretrained_transformer", "model_name": "%s"}}}},'
        ' "dataset_reader": {"type": "mft_term_pairs", "model_name": "%s"},'
        ' "train_data_path": "", "trainer": {}}' % ((model.transformer.config._name_or_path,) * 2)
    )
    archive_model(str(tmp_path))
    loaded = load_archive(str(tmp_path / "model.tar.gz")).model
    assert loaded.transformer.config._attn_implementation == "sdpa"


@pytest.mark.skipif(not HAS_COMPILE, reason="torch.compile needs torch 2")
def test_compiled_encoder_gives_the_same_outputs_gradients_and_weights(instances, vocab):
    # The eager backend traces with TorchDynamo like the default one, without the minutes a
    # C++ compilation of the kernels takes on a CPU; the benchmark uses the default backend.
    torch.manual_seed(0)
    plain = MetaFineTuning(vocab, embedder(), skip_layers=[2, 4])
    compiled = MetaFineTuning(
        vocab,
        embedder(),
        skip_layers=[2, 4],
        compile_encoder=True,
        compile_options={"backend": "eager"},
    )
    compiled.load_state_dict(plain.state_dict())
    assert list(compiled.state_dict()) == list(plain.state_dict())
    batch = tensors(instances[:6], vocab)
    plain.eval(), compiled.eval()
    assert torch.allclose(compiled(**batch)["logits"], plain(**batch)["logits"], atol=1e-6)
    # Training mode (all layers for the domain heads): same loss and gradients.
    for model in (plain, compiled):
        for module in model.modules():  # no dropout, so both passes are deterministic
            if isinstance(module, torch.nn.Dropout):
                module.p = 0.0
        model.train()
        torch.manual_seed(5)
        model(**batch)["loss"].backward()
    for (name, p), (_, c) in zip(plain.named_parameters(), compiled.named_parameters()):
        if p.grad is not None:
            assert torch.allclose(p.grad, c.grad, atol=1e-5), name


@pytest.mark.skipif(HAS_COMPILE, reason="torch 1.x only")
def test_compile_encoder_on_torch_1_is_a_configuration_error(vocab):
    with pytest.raises(ConfigurationError, match="compile_encoder needs torch 2"):
        TransformerClassifier(vocab, embedder(), compile_encoder=True)


@pytest.mark.skipif(transformers_version() < (4, 48), reason="ModernBERT from transformers 4.48")
def test_modernbert_encoder_trains_mft_with_a_gradient_on_every_parameter(tmp_path):
    """An encoder newer than BERT, with no segment embeddings: a tiny random ModernBERT."""
    import shutil

    from transformers import ModernBertConfig, ModernBertModel

    from mft_plugin.data import TermPairReader

    config = ModernBertConfig(
        vocab_size=145,  # the tiny BERT's WordPiece vocabulary serves as its tokenizer
        hidden_size=32,
        intermediate_size=48,
        num_hidden_layers=4,
        num_attention_heads=2,
        max_position_embeddings=128,
        pad_token_id=0,
        cls_token_id=2,
        sep_token_id=3,
        bos_token_id=2,
        eos_token_id=3,
        global_attn_every_n_layers=2,
        local_attention=16,
    )
    torch.manual_seed(0)
    ModernBertModel(config).save_pretrained(tmp_path)
    tiny_bert = FIXTURES / "tiny_bert"
    for name in ("vocab.txt", "tokenizer.json", "tokenizer_config.json", "special_tokens_map.json"):
        shutil.copy(tiny_bert / name, tmp_path / name)

    reader = TermPairReader(str(tmp_path))
    instances = list(reader.read(FIXTURE_DATA / "taxonomy" / "train"))
    for instance in instances:
        reader.apply_token_indexers(instance)
    vocab = vocabulary(instances)
    model = MetaFineTuning(
        vocab,
        BasicTextFieldEmbedder({"tokens": PretrainedTransformerEmbedder(str(tmp_path))}),
        skip_layers=[2, 4],
    )
    assert type(model.transformer).__name__ == "ModernBertModel"
    model.train()
    output = model(**tensors(instances[:8], vocab))
    assert torch.isfinite(output["loss"]) and "domain_loss" in output
    output["loss"].backward()
    assert [name for name, p in model.named_parameters() if p.grad is None] == []
