"""Tells a model how far training has got, for schedules such as BERT (Adv)'s reversal weight."""
from typing import TYPE_CHECKING

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
        trainer.model.training_progress = 0.0

    def on_batch(
        self,
        trainer,
        batch_inputs,
        batch_outputs,
        batch_metrics,
        epoch,
        batch_number,
        is_training,
        is_primary=True,
        **kwargs
    ) -> None:
        if is_training:
            done = epoch * self._per_epoch + batch_number
            trainer.model.training_progress = min(1.0, done / self._total)
