"""`mft_checkpointer`: atomic checkpoints, a broken newest one skipped on --recover, disk full."""
import errno
import json
import logging
import subprocess

import pytest
import torch
from allennlp.commands.train import train_model_from_file

from mft_plugin.checkpointer import save_atomically
from tests.callbacks.helpers import Interrupted
from tests.conftest import CONFIGS

BERT_MIX = CONFIGS / "taxonomy" / "bert_mix.jsonnet"
# Four batches an epoch, a checkpoint after each, an interruption at the third (after two).
INTERRUPTED_RUN = json.dumps(
    {
        "data_loader.batch_sampler.batch_size": 4,
        "trainer.checkpointer.save_every_num_batches": 1,
        "trainer.callbacks": [
            {"type": "mft_keep_last_epoch"},
            {"type": "test_interrupt_once", "at_batch": 3},
        ],
    }
)


class _Collect(logging.Handler):
    """The messages logged to it (AllenNLP's training sets up logging of its own)."""

    def __init__(self):
        super().__init__(logging.WARNING)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.mark.usefixtures("tiny_env")
def test_truncated_newest_checkpoint_is_named_and_the_older_one_recovered(tmp_path):
    with pytest.raises(Interrupted):
        train_model_from_file(BERT_MIX, tmp_path, overrides=INTERRUPTED_RUN)
    states = sorted(tmp_path.glob("model_state_e0_b*.th"))
    assert [path.name for path in states] == ["model_state_e0_b1.th", "model_state_e0_b2.th"]
    newest = states[-1]
    newest.write_bytes(newest.read_bytes()[:100])  # cut short by a kill or a full disk
    warnings = _Collect()
    logging.getLogger("mft_plugin.checkpointer").addHandler(warnings)
    try:
        train_model_from_file(BERT_MIX, tmp_path, overrides=INTERRUPTED_RUN, recover=True)
    finally:
        logging.getLogger("mft_plugin.checkpointer").removeHandler(warnings)
    assert any(f"Checkpoint {newest} does not load" in line for line in warnings.lines)
    assert (tmp_path / "model.tar.gz").is_file()
    assert (tmp_path / "model_state_e0_b2.th.broken").is_file()
    # recovered from batch 1: training went on from there to its end
    assert "validation_accuracy" in json.loads((tmp_path / "metrics.json").read_text())


@pytest.fixture
def tiny_disk(tmp_path):
    """A 64 KiB tmpfs (needs root; skipped where mounting is not allowed)."""
    mount = tmp_path / "disk"
    mount.mkdir()
    result = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(mount)], capture_output=True
    )
    if result.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {result.stderr.decode().strip()}")
    yield mount
    subprocess.run(["umount", str(mount)], check=True)


def test_disk_full_is_reported_as_such_and_keeps_what_was_written(tiny_disk):
    older = tiny_disk / "model_state_e0_b1.th"
    save_atomically({"w": torch.zeros(100)}, str(older))
    newer = tiny_disk / "model_state_e0_b2.th"
    with pytest.raises(OSError) as error:
        save_atomically({"w": torch.zeros(64 * 1024)}, str(newer))  # 256 KiB
    assert error.value.errno == errno.ENOSPC
    assert str(error.value).startswith(f"[Errno 28] disk full: writing {newer} failed")
    # no truncated file in its place, no temporary file left; the older checkpoint loads
    assert sorted(path.name for path in tiny_disk.iterdir()) == [older.name]
    assert torch.equal(torch.load(older)["w"], torch.zeros(100))
