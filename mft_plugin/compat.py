"""
Every patch that AllenNLP 2.10.1 needs to run on libraries newer than its own pins, in one place.

AllenNLP is archived: its last release pins torch < 1.13 and transformers < 4.21. The plugin's
default stack lifts those pins (`requirements/overrides.txt`); each function below mends one
place where AllenNLP's code meets a changed API, says which version changed it, and does
nothing on the versions AllenNLP was written for (the classic stack). `apply()` runs them all
and is idempotent; the plugin's registering modules call it before they build tokenizers or
models.

What cannot be mended here, and so bounds the default stack (see the README's set-up):
- transformers 5 needs huggingface_hub >= 1.3, which no longer has `HfFolder` and `Repository`;
  `import allennlp` fails on that before any plugin is loaded. transformers 5 also removed
  `encode_plus`, which AllenNLP's tokenizer calls. So transformers stays below 5.
"""
import functools
import logging
import re
from typing import Tuple

logger = logging.getLogger(__name__)

_applied = False


def version_tuple(version: str) -> Tuple[int, ...]:
    """`"4.57.6"` -> `(4, 57, 6)`; pre-release, dev and local parts (`rc2`, `.dev0`, `+cu132`)
    are left out."""
    parts = []
    for piece in version.split("+")[0].split("."):
        match = re.match(r"\d+", piece)
        if match is None:
            break
        parts.append(int(match.group()))
        if match.end() != len(piece):
            break
    return tuple(parts)


def transformers_version() -> Tuple[int, ...]:
    import transformers

    return version_tuple(transformers.__version__)


def patch_tokenizer_keyword() -> bool:
    """
    transformers >= 4.44: `PretrainedTransformerTokenizer` asks `AutoTokenizer.from_pretrained`
    for a tokenizer with `add_special_tokens=True/False`. Older versions kept unknown keywords in
    `init_kwargs` and ignored them; 4.44 and later set them as attributes and refuse one that
    shadows the method `add_special_tokens` ("add_special_tokens conflicts with the method").
    The keyword never changed the tokenizer, so it is dropped before the call. AllenNLP still
    adds special tokens itself, through its own `add_special_tokens` method.

    Returns whether the patch was needed.
    """
    if transformers_version() < (4, 44):
        return False
    from allennlp.common import cached_transformers

    original = cached_transformers.get_tokenizer
    if getattr(original, "_mft_drops_add_special_tokens", False):
        return True

    @functools.wraps(original)
    def get_tokenizer(model_name: str, **kwargs):
        kwargs.pop("add_special_tokens", None)
        return original(model_name, **kwargs)

    get_tokenizer._mft_drops_add_special_tokens = True  # type: ignore[attr-defined]
    # Every AllenNLP caller looks the function up on the module at call time.
    cached_transformers.get_tokenizer = get_tokenizer
    return True


PATCHES = (patch_tokenizer_keyword,)


def apply() -> None:
    """Apply every patch this environment needs (once)."""
    global _applied
    if _applied:
        return
    for patch in PATCHES:
        if patch():
            logger.debug("compat: applied %s", patch.__name__)
    _applied = True
