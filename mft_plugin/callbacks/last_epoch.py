"""
The model a run keeps is its last epoch's: Algorithm 1 drops the heads "when the iterations
stop", and the project scores every method the same way, at its last epoch, so that no method
gets to pick its epoch on dev data (a pooled model picking the epoch of the best pooled accuracy
and a per-domain model the best epoch of its own domain are not the same selection).
"""
import logging
import os
from typing import TYPE_CHECKING, Any, Dict, Optional

from allennlp.common.util import lazy_groups_of
from allennlp.data.data_loaders import MultiProcessDataLoader
from allennlp.training.callbacks.callback import TrainerCallback

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)

KEPT_EPOCH = "kept_epoch"


@TrainerCallback.register("mft_keep_last_epoch")
class KeepLastEpochCallback(TrainerCallback):
    """
    Makes `best.th`, and so `model.tar.gz`, hold the weights of the last epoch trained instead
    of those of the epoch with the best `validation_metric`. By default validation still runs
    every epoch; `metrics.json` keeps AllenNLP's `best_validation_*` figures and its
    `validation_*` figures are the last epoch's, the kept model's. It adds `kept_epoch`.

    With `validate_every_epoch=False` only the last epoch is validated: the kept model is
    scored, the epochs before it are not, which saves most of a few-shot run (20 epochs of one
    batch each, every one followed by a pass over the whole dev set). Training is unchanged, to
    the last bit: AllenNLP's bucket sampler draws a (zero) length noise per dev instance even
    when it does not shuffle, and those draws move the random state that orders the next
    epoch's training batches, so a skipped validation makes the same draws without the forward
    passes. AllenNLP's own `should_validate_callback` would decide the first epoch after
    `--recover` as if it were epoch 0; this one starts from the epoch training resumes at.

    AllenNLP 2.10 loads `best.th` after the last epoch whenever that epoch was not the best; this
    callback rewrites it after every epoch (the primary worker writes, every worker points the
    trainer at it), so the loaded and archived model is the last epoch's, also after `--recover`.

    Registered as a `TrainerCallback` with name "mft_keep_last_epoch".
    """

    def __init__(self, serialization_dir: str, validate_every_epoch: bool = True) -> None:
        super().__init__(serialization_dir)
        self.validate_every_epoch = validate_every_epoch

    @staticmethod
    def _validate_after(trainer: "GradientDescentTrainer", epoch: int) -> None:
        """Has the trainer validate after `epoch` (0-based) only if it is the last."""
        trainer._should_validate_this_epoch = epoch >= trainer._num_epochs - 1

    @staticmethod
    def _draw_as_validation_would(trainer: "GradientDescentTrainer") -> None:
        """The random draws of a validation pass, without the pass (see the class docstring)."""
        loader = trainer._validation_data_loader
        if not isinstance(loader, MultiProcessDataLoader):
            return
        # has-type: mypy cannot infer these attributes from MultiProcessDataLoader's __init__.
        sampler = loader.batch_sampler  # type: ignore[has-type]
        if sampler is None:
            return
        instances = list(loader.iter_instances())
        size = loader.max_instances_in_memory  # type: ignore[has-type]
        for chunk in lazy_groups_of(instances, size) if size else [instances]:
            for _ in sampler.get_batch_indices(chunk):
                pass

    def on_start(
        self, trainer: "GradientDescentTrainer", is_primary: bool = True, **kwargs
    ) -> None:
        super().on_start(trainer, is_primary)
        if not self.validate_every_epoch:
            # The trainer restores a checkpoint before this call: training goes on from the
            # epoch after the last one completed.
            self._validate_after(trainer, trainer._start_after_epochs_completed)

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        if not self.validate_every_epoch:
            if not trainer._should_validate_this_epoch:
                self._draw_as_validation_would(trainer)
            self._validate_after(trainer, epoch + 1)
        if not self.serialization_dir:
            return
        path = os.path.join(self.serialization_dir, "best.th")
        if is_primary:
            # AllenNLP may have made best.th a hard link to an epoch's checkpoint: writing
            # through it would overwrite that checkpoint, so a new file takes its place.
            if os.path.exists(path):
                os.remove(path)
            trainer._save_model_state(path)
        trainer._best_model_filename = path

    def on_end(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Optional[Dict[str, Any]] = None,
        epoch: Optional[int] = None,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
        # The trainer writes this dict to metrics.json after the callbacks' on_end.
        if metrics is not None and epoch is not None:
            metrics[KEPT_EPOCH] = epoch
