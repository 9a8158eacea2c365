"""
The model a run keeps is its last epoch's: Algorithm 1 drops the heads "when the iterations
stop", and the project scores every method the same way, at its last epoch, so that no method
gets to pick its epoch on dev data (a pooled model picking the epoch of the best pooled accuracy
and a per-domain model the best epoch of its own domain are not the same selection).
"""
import logging
import os
from typing import TYPE_CHECKING, Any, Dict, Optional

from allennlp.training.callbacks.callback import TrainerCallback

if TYPE_CHECKING:
    from allennlp.training.gradient_descent_trainer import GradientDescentTrainer

logger = logging.getLogger(__name__)

KEPT_EPOCH = "kept_epoch"


@TrainerCallback.register("mft_keep_last_epoch")
class KeepLastEpochCallback(TrainerCallback):
    """
    Makes `best.th`, and so `model.tar.gz`, hold the weights of the last epoch trained instead
    of those of the epoch with the best `validation_metric`. Validation still runs every epoch;
    `metrics.json` keeps AllenNLP's `best_validation_*` figures and its `validation_*` figures
    are the last epoch's, the kept model's. It adds `kept_epoch`.

    AllenNLP 2.10 loads `best.th` after the last epoch whenever that epoch was not the best; this
    callback rewrites it after every epoch (the primary worker writes, every worker points the
    trainer at it), so the loaded and archived model is the last epoch's, also after `--recover`.

    Registered as a `TrainerCallback` with name "mft_keep_last_epoch".
    """

    def on_epoch(
        self,
        trainer: "GradientDescentTrainer",
        metrics: Dict[str, Any],
        epoch: int,
        is_primary: bool = True,
        **kwargs,
    ) -> None:
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
