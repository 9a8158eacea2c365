"""
What stage 2 reads from a stage-1 archive: its weights and its vocabulary, with errors that name
the archive given and what is wrong with it. (AllenNLP's own loaders report a truncated or
incomplete archive with the paths of the temporary folder or cache they extracted it into.)

A stage-1 archive is the `model.tar.gz` that `allennlp train` writes (`weights.th`, `vocabulary/`);
a serialization directory (`best.th`, `vocabulary/`) works too, and so does a bare weights file
such as `best.th`, whose vocabulary is then looked for beside it.
"""
import gzip
import os
import tarfile
import tempfile
import zlib
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Iterable, List, Optional, Type

import torch
from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance, Vocabulary

WEIGHTS_NAMES = ("weights.th", "best.th")  # an archive's, then a serialization directory's
VOCABULARY_FOLDER = "vocabulary"
NAMESPACES_FILE = "non_padded_namespaces.txt"
REMEDY = (
    "Give the complete model.tar.gz that `allennlp train` wrote for the stage-1 run "
    "(MFT_STAGE1), or run stage 1 again."
)
# What a truncated or corrupt gzip/tar stream raises while it is read.
_ARCHIVE_ERRORS = (tarfile.TarError, EOFError, zlib.error, gzip.BadGzipFile)


@dataclass
class StageOneArchive:
    """The parts of a stage-1 archive that stage 2 uses."""

    path: str  # as given, for messages
    weights: Optional[Dict[str, torch.Tensor]]
    vocabulary: Optional[Vocabulary]  # None only for a bare weights file with none beside it


def read_stage1_archive(
    path: str, with_weights: bool = True, vocabulary_class: Type[Vocabulary] = Vocabulary
) -> StageOneArchive:
    """
    Reads a stage-1 archive, serialization directory or weights file; every problem is a
    `ConfigurationError` that names `path`.

    # Parameters

    path : `str`
        The archive as the configuration gives it.
    with_weights : `bool`, optional (default = `True`)
        Read the weights too (the vocabulary alone is small and quick to extract).
    vocabulary_class : `Type[Vocabulary]`, optional (default = `Vocabulary`)
        The class of the vocabulary returned.
    """
    path = str(path)
    if not os.path.exists(path):
        raise ConfigurationError(f"The stage-1 archive {path} does not exist. {REMEDY}")
    if os.path.isdir(path):
        return _read_folder(Path(path), path, with_weights, vocabulary_class)
    if _is_archive_file(path):

        def wanted(name: str) -> bool:
            return (with_weights and name in WEIGHTS_NAMES) or _in_vocabulary(name)

        with tempfile.TemporaryDirectory(prefix="mft-stage1-") as extraction:
            _extract(path, Path(extraction), wanted)
            return _read_folder(Path(extraction), path, with_weights, vocabulary_class)
    # A bare weights file (best.th): its vocabulary, if any, is the serialization directory's.
    weights = _load_weights(Path(path), path) if with_weights else None
    vocabulary_folder = Path(path).parent / VOCABULARY_FOLDER
    vocabulary = (
        _load_vocabulary(vocabulary_folder, path, vocabulary_folder.parent, vocabulary_class)
        if vocabulary_folder.is_dir()
        else None
    )
    return StageOneArchive(path, weights, vocabulary)


def label_names(vocabulary: Vocabulary, namespace: str) -> List[str]:
    """The labels of `namespace` in index order (the order of a label classifier's rows)."""
    return [
        vocabulary.get_token_from_index(index, namespace)
        for index in range(vocabulary.get_vocab_size(namespace))
    ]


@Vocabulary.register("mft_stage1", constructor="from_stage1_archive")
class StageOneVocabulary(Vocabulary):
    """
    The vocabulary of a stage-1 archive, for a stage-2 run: the label classifier's rows keep the
    labels they were trained on. Unlike `from_files` it checks the stage-2 data against the
    archive (a label the stage-1 model never saw is an error that names the archive and both
    label sets, not a `KeyError` while indexing), reports a truncated or incomplete archive by
    its own path, and adds domains that stage 1 did not see (they only name accuracy metrics).

    Registered as a `Vocabulary` with name "mft_stage1" (constructor `from_stage1_archive`). A
    trained stage-2 archive reloads it with `from_files`, from its own `vocabulary/`.
    """

    @classmethod
    def from_stage1_archive(
        cls,
        archive: str,
        label_namespace: str = "labels",
        instances: Optional[Iterable[Instance]] = None,
    ) -> "StageOneVocabulary":
        """
        # Parameters

        archive : `str`
            The stage-1 `model.tar.gz` (or its serialization directory).
        label_namespace : `str`, optional (default = `"labels"`)
        instances : `Iterable[Instance]`, optional
            The stage-2 data; `allennlp train` passes it.
        """
        vocabulary = read_stage1_archive(
            archive, with_weights=False, vocabulary_class=cls
        ).vocabulary
        if vocabulary is None:
            raise ConfigurationError(
                f"The stage-1 weights file {archive} has no {VOCABULARY_FOLDER}/ folder beside "
                f"it. {REMEDY}"
            )
        if instances is None:
            return vocabulary  # type: ignore[return-value]
        counts: Dict[str, Dict[str, int]] = defaultdict(lambda: defaultdict(int))
        for instance in instances:
            instance.count_vocab_items(counts)
        stage1_labels = label_names(vocabulary, label_namespace)
        unknown_labels = [label for label in counts[label_namespace] if label not in stage1_labels]
        if unknown_labels:
            raise ConfigurationError(
                f"The stage-2 data has the labels {unknown_labels}, which the stage-1 archive "
                f"{archive} does not know (its labels: {stage1_labels}). Stage 2 continues the "
                "stage-1 task: start it from a stage-1 archive trained on this task's data."
            )
        for namespace, tokens in counts.items():
            if namespace != label_namespace:
                known = vocabulary.get_token_to_index_vocabulary(namespace)
                vocabulary.add_tokens_to_namespace(
                    [token for token in tokens if token not in known], namespace
                )
        return vocabulary  # type: ignore[return-value]


# --------------------------------------------------------------------------------------------
def _is_archive_file(path: str) -> bool:
    """A gzip stream (even a truncated one) or a plain tar file."""
    with open(path, "rb") as handle:
        if handle.read(2) == b"\x1f\x8b":
            return True
    return tarfile.is_tarfile(path)


def _in_vocabulary(name: str) -> bool:
    return name == VOCABULARY_FOLDER or name.startswith(VOCABULARY_FOLDER + "/")


def _extract(archive: str, destination: Path, wanted: Callable[[str], bool]) -> None:
    """
    Extracts the members `wanted` picks, reading the archive to its end in one pass, so a
    truncated archive fails here whichever members it lost.
    """
    # Python 3.12+ warns without a filter; "data" refuses links and paths out of the folder.
    safe: Dict[str, Any] = {"filter": "data"} if hasattr(tarfile, "data_filter") else {}
    try:
        with tarfile.open(archive, "r|*") as stream:
            for member in stream:
                name = os.path.normpath(member.name)
                if wanted(name):
                    stream.extract(member, destination, **safe)
    except _ARCHIVE_ERRORS as error:
        raise ConfigurationError(
            f"The stage-1 archive {archive} cannot be read to its end: it is truncated or "
            f"corrupt ({type(error).__name__}: {_relative(error, destination)}). {REMEDY}"
        ) from None


def _read_folder(
    folder: Path, shown_as: str, with_weights: bool, vocabulary_class: Type[Vocabulary]
) -> StageOneArchive:
    weights = None
    if with_weights:
        weights_file = next((folder / n for n in WEIGHTS_NAMES if (folder / n).is_file()), None)
        if weights_file is None:
            raise ConfigurationError(
                f"The stage-1 archive {shown_as} holds no weights ({' or '.join(WEIGHTS_NAMES)}): "
                f"it is incomplete. {REMEDY}"
            )
        weights = _load_weights(weights_file, f"{shown_as} ({weights_file.name})", folder)
    vocabulary_folder = folder / VOCABULARY_FOLDER
    if not vocabulary_folder.is_dir():
        raise ConfigurationError(
            f"The stage-1 archive {shown_as} holds no {VOCABULARY_FOLDER}/ folder, so the labels "
            f"of its classifier are unknown: it is incomplete. {REMEDY}"
        )
    vocabulary = _load_vocabulary(vocabulary_folder, shown_as, folder, vocabulary_class)
    return StageOneArchive(shown_as, weights, vocabulary)


def _load_weights(
    weights_file: Path, shown_as: str, folder: Optional[Path] = None
) -> Dict[str, torch.Tensor]:
    try:
        weights = torch.load(weights_file, map_location="cpu")
    except Exception as error:  # unpickling and zip-reading failures have no common base
        raise ConfigurationError(
            f"The weights of the stage-1 archive {shown_as} cannot be read: the file is truncated "
            f"or corrupt ({type(error).__name__}: {_relative(error, folder)}). {REMEDY}"
        ) from None
    if not isinstance(weights, dict):
        raise ConfigurationError(
            f"The weights of the stage-1 archive {shown_as} are a {type(weights).__name__}, not a "
            f"model's state dict. {REMEDY}"
        )
    return weights


def _load_vocabulary(
    vocabulary_folder: Path, shown_as: str, folder: Path, vocabulary_class: Type[Vocabulary]
) -> Vocabulary:
    if not (vocabulary_folder / NAMESPACES_FILE).is_file():
        raise ConfigurationError(
            f"The {VOCABULARY_FOLDER}/ folder of the stage-1 archive {shown_as} has no "
            f"{NAMESPACES_FILE}: it is incomplete. {REMEDY}"
        )
    try:
        return vocabulary_class.from_files(vocabulary_folder)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        raise ConfigurationError(
            f"The {VOCABULARY_FOLDER}/ folder of the stage-1 archive {shown_as} cannot be read "
            f"({type(error).__name__}: {_relative(error, folder)}). {REMEDY}"
        ) from None


def _relative(error: BaseException, folder: Optional[Path]) -> str:
    """The error's message with the extraction folder cut from its paths."""
    message = str(error)
    if folder is not None:
        message = message.replace(str(folder) + os.sep, "").replace(str(folder), ".")
    return message
