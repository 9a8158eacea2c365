"""Tells a model how far training has got, for schedules such as BERT (Adv)'s reversal weight."""
from typing import TYPE_CHECKING, Any, Dict, List, Optional

from allennlp.data import TensorDict
from allennlp.training.callbacks.callback import TrainerCallback

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer


@TrainerCallback.register("mft_training_progress")
class TrainingProgressCallback(TrainerCallback):
    """
    Sets `model.training_progress`, the share of all training batches done (0 at the start,
    1 after the last), before the first batch and after every training batch.

    Registered as a `TrainerCallback` with name "mft_training_progress".
    """

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        self._total = max(1, trainer._num_epochs * len(trainer.data_loader))
        self._per_epoch = len(trainer.data_loader)
        # `training_progress` is a plain float attribute of the models that use it; mypy reads
        # it through nn.Module.__getattr__ as Tensor | Module.
        trainer.model.training_progress = 0.0  # type: ignore[assignment]

    def on_batch(
        self,
        trainer: "GradientDescentTrainer",
        batch_inputs: List[TensorDict],
        batch_outputs: List[Dict[str, Any]],
        batch_metrics: Dict[str, Any],
        epoch: int,
        batch_number: int,
        is_training: bool,
        is_primary: bool = True,
        batch_grad_norm: Optional[float] = None,
        **kwargs,
    ) -> None:
        if is_training:
            done = epoch * self._per_epoch + batch_number
            progress = min(1.0, done / self._total)
            trainer.model.training_progress = progress  # type: ignore[assignment]
