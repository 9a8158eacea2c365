"""The shipped configs' optimizer: torch's AdamW, fused where torch has the kernel."""
import pytest
import torch
from allennlp.common import Params
from allennlp.common.checks import ConfigurationError
from allennlp.training.optimizers import Optimizer

from mft_plugin.optimizers import fused_adamw_available


def _parameters():
    torch.manual_seed(0)
    weights = torch.nn.Parameter(torch.randn(5, 3))
    bias = torch.nn.Parameter(torch.randn(5))
    return [("layer.weight", weights), ("layer.bias", bias)]


def _steps(optimizer, parameters, count=3):
    generator = torch.Generator().manual_seed(1)
    for _ in range(count):
        for _, parameter in parameters:
            parameter.grad = torch.randn(parameter.shape, generator=generator)
        optimizer.step()
    return [parameter.detach().clone() for _, parameter in parameters]


def test_mft_adamw_takes_torch_adamw_steps_with_parameter_groups():
    config = {
        "type": "mft_adamw",
        "lr": 0.1,
        "weight_decay": 0.01,
        "parameter_groups": [[["bias"], {"weight_decay": 0.0}]],
    }
    parameters = _parameters()
    ours = Optimizer.from_params(model_parameters=parameters, params=Params(dict(config)))
    assert ours.param_groups[0].get("fused") == (True if fused_adamw_available() else None)
    after = _steps(ours, parameters)

    reference_parameters = _parameters()
    reference = torch.optim.AdamW(
        [
            {"params": [reference_parameters[1][1]], "weight_decay": 0.0},
            {"params": [reference_parameters[0][1]]},
        ],
        lr=0.1,
        weight_decay=0.01,
    )
    expected = _steps(reference, reference_parameters)
    for got, want in zip(after, expected):
        assert torch.allclose(got, want, atol=1e-6)


@pytest.mark.skipif(fused_adamw_available(), reason="torch < 2.4 only")
def test_fused_adamw_on_an_old_torch_is_a_configuration_error():
    with pytest.raises(ConfigurationError, match="optimizer.fused needs torch >= 2.4"):
        Optimizer.from_params(
            model_parameters=_parameters(), params=Params({"type": "mft_adamw", "fused": True})
        )
