"""
Checkpoints that survive a kill or a full disk: written whole or not at all, and a broken
newest checkpoint skipped on `--recover`, named, for the intact one before it.
"""
import errno
import io
import logging
import os
import shutil
from typing import Any, List, Optional, Tuple

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.nn import util as nn_util
from allennlp.training.checkpointer import Checkpointer
from allennlp.training.trainer import Trainer, TrainerCheckpoint

logger = logging.getLogger(__name__)

# The suffix a checkpoint that fails to load is renamed with, so that it is neither loaded
# again nor mistaken (by its name) for a checkpoint already written.
BROKEN_SUFFIX = ".broken"


def disk_full_error(path: str, error: BaseException) -> OSError:
    """The error a write of `path` that ran out of space raises: "disk full", path, space left."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        free = f"{shutil.disk_usage(directory).free / 2**20:.1f} MiB left"
    except OSError:
        free = "space left unknown"
    return OSError(
        errno.ENOSPC,
        f"disk full: writing {path} failed ({free} on its disk; {error}). The files written "
        "before it are intact: free some space and run the same command again (with --recover "
        "for `allennlp train`) to resume",
        path,
    )


def _is_disk_full(path: str, error: BaseException) -> bool:
    if isinstance(error, OSError) and error.errno == errno.ENOSPC:
        return True
    # torch.save reports a failed write as a RuntimeError ("basic_ios::clear: iostream error",
    # "PytorchStreamWriter failed writing file ..."): ask the disk.
    try:
        return shutil.disk_usage(os.path.dirname(os.path.abspath(path))).free < 2**20
    except OSError:
        return False


def save_atomically(value: Any, path: str) -> None:
    """
    `torch.save(value, path)` through a temporary file beside it and `os.replace`: a kill or a
    failed write leaves `path` as it was (absent), never a truncated file. A write that runs out
    of space raises `OSError(ENOSPC)` saying "disk full" and naming `path`.
    """
    temporary = f"{path}.tmp{os.getpid()}"
    # Serialised in memory first, then written by Python: torch's zip writer, left behind by a
    # write that failed on a full disk, throws again from its destructor when it is collected,
    # which aborts the process on torch 1.12 (the classic stack).
    serialised = io.BytesIO()
    torch.save(value, serialised)
    try:
        with open(temporary, "wb") as handle:
            handle.write(serialised.getbuffer())
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    except BaseException as error:
        if os.path.exists(temporary):
            os.remove(temporary)
        if isinstance(error, Exception) and _is_disk_full(path, error):
            raise disk_full_error(path, error) from error
        raise


@Checkpointer.register("mft_checkpointer")
class AtomicCheckpointer(Checkpointer):
    """
    AllenNLP's `Checkpointer` with atomic writes (`save_atomically`: a checkpoint file is whole
    or absent, so a kill or a full disk cannot leave a truncated newest checkpoint) and a
    `--recover` that survives a broken one anyway (written by another checkpointer, or damaged
    since): checkpoints are tried newest first, and one that does not load is logged by file,
    renamed with the suffix `.broken` and skipped for the intact one before it. Saves the same
    files at the same moments as the default checkpointer, so a run's numbers do not change.

    Registered as a `Checkpointer` with name "mft_checkpointer".

    # Parameters

    The parameters of AllenNLP's `Checkpointer` (serialization_dir, save_completed_epochs,
    save_every_num_seconds, save_every_num_batches, keep_most_recent_by_count,
    keep_most_recent_by_age).
    """

    def save_checkpoint(self, trainer: Trainer) -> None:
        if self._serialization_dir is not None:
            state = trainer.get_checkpoint_state()
            if state is not None:
                epochs = state.trainer_state["epochs_completed"]
                batches = state.trainer_state["batches_in_epoch_completed"]
                model_path = self._model_state_path(epochs, batches)
                training_path = self._training_state_path(epochs, batches)
                # the training state last: a model state without it is not a checkpoint
                for value, path in (
                    (state.model_state, model_path),
                    (state.trainer_state, training_path),
                ):
                    if not os.path.isfile(path):
                        save_atomically(value, path)
        # the files exist now: the default checkpointer only prunes the old checkpoints
        super().save_checkpoint(trainer)

    def _checkpoints_newest_first(self) -> List[Tuple[int, int]]:
        return sorted(self._find_all_checkpoints(), reverse=True)

    def load_checkpoint(self) -> Optional[TrainerCheckpoint]:
        checkpoints = self._checkpoints_newest_first()
        if not checkpoints:
            return None
        failures = []
        for checkpoint in checkpoints:
            paths = (self._model_state_path(*checkpoint), self._training_state_path(*checkpoint))
            try:
                states = [
                    torch.load(path, map_location=nn_util.device_mapping(-1)) for path in paths
                ]
            except Exception as error:  # a truncated or otherwise unreadable file
                broken = next((path for path in paths if not _loads(path)), paths[0])
                failures.append(f"{broken} ({type(error).__name__}: {error})")
                logger.warning(
                    "Checkpoint %s does not load (%s); renamed to %s%s, trying the one before it",
                    broken,
                    error,
                    broken,
                    BROKEN_SUFFIX,
                )
                for path in paths:
                    if os.path.exists(path):
                        os.replace(path, path + BROKEN_SUFFIX)
                continue
            if failures:
                logger.warning("Recovering from the intact checkpoint %s", paths[0])
            return TrainerCheckpoint(*states)
        raise ConfigurationError(
            f"No checkpoint of {self._serialization_dir} loads: "
            + "; ".join(failures)
            + ". Delete the run folder to train the run afresh."
        )


def _loads(path: str) -> bool:
    try:
        torch.load(path, map_location=nn_util.device_mapping(-1))
        return True
    except Exception:
        return False
