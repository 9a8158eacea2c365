"""A trainer callback that interrupts a run once, to test `--recover`."""
from allennlp.training.callbacks.callback import TrainerCallback


class Interrupted(RuntimeError):
    pass


@TrainerCallback.register("test_interrupt_once")
class InterruptOnce(TrainerCallback):
    """
    Stops training after batch `at_batch` of epoch `at_epoch` of the first run in a
    serialization directory (a marker file there makes it one-shot, so `--recover` goes on).
    """

    def __init__(self, serialization_dir: str, at_batch: int = 2, at_epoch: int = 0) -> None:
        super().__init__(serialization_dir)
        self.at_batch = at_batch
        self.at_epoch = at_epoch

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
        **kwargs,
    ):
        if is_training and epoch == self.at_epoch and batch_number == self.at_batch:
            try:
                open(f"{self.serialization_dir}/interrupted", "x").close()
            except FileExistsError:
                return
            raise Interrupted(f"stopped at batch {batch_number} of epoch {epoch}")
