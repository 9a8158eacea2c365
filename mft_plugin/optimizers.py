"""
The optimizer of every shipped config: torch's AdamW, with its fused kernel where torch has one.

AllenNLP offers `adamw` (torch's AdamW, one parameter at a time) and `huggingface_adamw`
(transformers' AdamW, likewise). For BERT fine-tuning on a CPU the optimizer step is a real
share of a training step: for MiniLM-L6 (22.7M parameters, 2 cores) one step took 43 ms with
transformers' AdamW, 127 ms with torch's default and 12 ms with torch's fused kernel (torch 2.4
and later fuse AdamW on the CPU as well as on CUDA). The math is torch's AdamW (decoupled weight
decay, as `transformers.Trainer` uses), on every stack.
"""
import inspect
from typing import Any, Dict, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.training.optimizers import Optimizer, make_parameter_groups

from mft_plugin.compat import version_tuple


def fused_adamw_available() -> bool:
    """torch's AdamW has a fused kernel for the CPU and CUDA from torch 2.4."""
    return version_tuple(torch.__version__) >= (2, 4) and (
        "fused" in inspect.signature(torch.optim.AdamW).parameters
    )


@Optimizer.register("mft_adamw")
class FusedAdamWOptimizer(Optimizer, torch.optim.AdamW):
    """
    torch's `AdamW`, fused where torch can fuse it. Arguments as for AllenNLP's `adamw`.

    Registered as an `Optimizer` with name "mft_adamw".

    # Parameters

    fused : `bool`, optional (default = `None`)
        Use the fused kernel. `None`: where available (torch >= 2.4); `true` on an older torch
        is a configuration error.
    """

    def __init__(
        self,
        model_parameters: List[Tuple[str, torch.nn.Parameter]],
        parameter_groups: Optional[List[Tuple[List[str], Dict[str, Any]]]] = None,
        lr: float = 0.001,
        betas: Tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-08,
        weight_decay: float = 0.01,
        amsgrad: bool = False,
        fused: Optional[bool] = None,
    ) -> None:
        available = fused_adamw_available()
        if fused and not available:
            raise ConfigurationError(
                f"optimizer.fused needs torch >= 2.4; this is torch {torch.__version__}."
            )
        fused_kernel = {"fused": True} if (available if fused is None else fused) else {}
        super().__init__(
            params=make_parameter_groups(model_parameters, parameter_groups),
            lr=lr,
            betas=betas,
            eps=eps,
            weight_decay=weight_decay,
            amsgrad=amsgrad,
            **fused_kernel,
        )
