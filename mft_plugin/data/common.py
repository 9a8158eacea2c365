"""
What the three multi-domain readers share: raw records, stable instance ids, the domain filter,
stratified few-shot sampling, pair truncation, and errors that name the file and line.

Every reader turns its file format into `RawRecord`s first, then this module filters, samples
and shards them, and only then tokenizes, so that sampling and sharding cost nothing per token
and every distributed worker sees the same sample.
"""
import json
import logging
import math
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

from allennlp.data import Instance
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import Field, LabelField, MetadataField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer
from allennlp.data.tokenizers import PretrainedTransformerTokenizer, Token

from mft_plugin import compat
from mft_plugin.data.domain_field import DOMAIN_NAMESPACE, DomainField  # noqa: F401 (re-export)
from mft_plugin.encoder import encoder_load_error

logger = logging.getLogger(__name__)


class DataFileError(ValueError):
    """Malformed input. The message starts with `path:line:` (or `path:` for a whole file)."""

    def __init__(self, path, line: Optional[int], message: str) -> None:
        location = f"{path}:{line}" if line is not None else f"{path}"
        super().__init__(f"{location}: {message}")
        self.path = str(path)
        self.line = line


@dataclass(frozen=True)
class RawRecord:
    """One labelled example before tokenization."""

    instance_id: str
    domain: str
    label: Optional[str]
    texts: Tuple[str, ...]  # one text, or a pair


def instance_id_prefix(file_path: Path, read_root: Path) -> str:
    """
    The stable, readable prefix of the ids of the instances in `file_path`.

    It is the file's path relative to the grandparent of the path given to `read()`
    (`read_root`), e.g. `taxonomy/train/animal.tsv` or `mnli/dev.jsonl`, so ids include the
    data set and split names. They do not depend on the run, the machine's absolute paths, the
    sample or the shard. An id is this prefix, a colon and the record's 1-based line number.
    """
    anchor = read_root.resolve().parent.parent
    return file_path.resolve().relative_to(anchor).as_posix()


def read_text_lines(path: Path, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """Yield `(line_number, line)` with the newline stripped; bad bytes name their line."""
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as error:
                raise DataFileError(
                    path,
                    line_number,
                    f"bytes that are not valid {encoding} ({error.reason} at byte {error.start})",
                ) from error
            yield line_number, line.rstrip("\r\n")


def first_content_line(path: Path, encoding: str = "utf-8") -> Optional[str]:
    """The first non-blank line of a file, or None for an empty file."""
    for _, line in read_text_lines(path, encoding):
        if line.strip():
            return line
    return None


def is_jsonl(path: Path, encoding: str = "utf-8") -> bool:
    """A file is read as JSON lines when its first non-blank line starts with `{`."""
    first = first_content_line(path, encoding)
    return first is not None and first.lstrip().startswith("{")


def iter_jsonl_rows(
    path: Path, required: Sequence[str], encoding: str = "utf-8"
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield `(line, object)` for every non-blank line; values become strings."""
    for line_number, line in read_text_lines(path, encoding):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFileError(path, line_number, f"malformed JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise DataFileError(path, line_number, "expected a JSON object")
        for field in required:
            if row.get(field) is None:
                raise DataFileError(path, line_number, f"missing field {field!r}")
        yield line_number, {key: str(value) for key, value in row.items() if value is not None}


def iter_tsv_rows(
    path: Path, required: Sequence[str], encoding: str = "utf-8"
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield `(line, {column: cell})` for a TSV file whose first non-blank line is a header."""
    header: Optional[List[str]] = None
    for line_number, line in read_text_lines(path, encoding):
        if not line.strip():
            continue
        cells = line.split("\t")
        if header is None:
            missing = [column for column in required if column not in cells]
            if missing:
                raise DataFileError(
                    path, line_number, f"TSV header lacks column(s) {missing}; found {cells}"
                )
            header = cells
            continue
        if len(cells) != len(header):
            raise DataFileError(
                path,
                line_number,
                f"expected {len(header)} tab-separated columns, found {len(cells)}",
            )
        yield line_number, dict(zip(header, cells))


def normalise_label(raw: str, synonyms: Dict[str, str], path: Path, line_number: int) -> str:
    """Map a label as written in a file to its canonical form, or fail naming the line."""
    canonical = synonyms.get(raw.strip().lower())
    if canonical is None:
        accepted = ", ".join(sorted(set(synonyms)))
        raise DataFileError(path, line_number, f"unknown label {raw!r} (accepted: {accepted})")
    return canonical


def stratified_sample(
    records: Sequence[RawRecord],
    fraction: Optional[float],
    count: Optional[int],
    seed: int,
) -> List[RawRecord]:
    """
    Few-shot sampling: per domain, keep `fraction` of each class, or `count` instances split
    over the classes in proportion to their sizes (largest remainder). Deterministic for a seed;
    each (domain, class) group is shuffled once with a seed of its own and a prefix is kept, so
    a smaller sample is contained in a larger one. The kept records stay in file order.
    """
    if fraction is None and count is None:
        return list(records)
    groups: Dict[str, Dict[Optional[str], List[int]]] = defaultdict(lambda: defaultdict(list))
    for position, record in enumerate(records):
        groups[record.domain][record.label].append(position)

    keep: List[int] = []
    for domain, by_label in groups.items():
        sizes = {label: len(positions) for label, positions in by_label.items()}
        quotas = _class_quotas(sizes, fraction, count)
        for label, positions in by_label.items():
            shuffled = list(positions)
            random.Random(f"{seed}:{domain}:{label}").shuffle(shuffled)
            keep.extend(shuffled[: quotas[label]])
    return [records[position] for position in sorted(keep)]


def _class_quotas(
    sizes: Dict[Optional[str], int], fraction: Optional[float], count: Optional[int]
) -> Dict[Optional[str], int]:
    if fraction is not None:
        # At least one instance of every class, so no class vanishes from a small domain.
        return {label: max(1, round(fraction * size)) for label, size in sizes.items()}
    total = sum(sizes.values())
    if count >= total:
        return dict(sizes)
    exact = {label: count * size / total for label, size in sizes.items()}
    quotas = {label: math.floor(value) for label, value in exact.items()}
    by_remainder = sorted(exact, key=lambda label: (quotas[label] - exact[label], str(label)))
    for label in by_remainder[: count - sum(quotas.values())]:
        quotas[label] += 1
    return quotas


def truncate_longest_first(
    first: List[Token], second: Optional[List[Token]], budget: int
) -> Tuple[List[Token], Optional[List[Token]]]:
    """
    Cut word pieces until the texts fit `budget` tokens: one text is cut at the end; for a pair,
    one piece at a time is removed from whichever text is longer (ties: the second), as
    HuggingFace's `longest_first` does.
    """
    if second is None:
        return first[:budget], None
    first, second = list(first), list(second)
    while len(first) + len(second) > budget:
        if len(first) > len(second):
            first.pop()
        else:
            second.pop()
    return first, second


class MultiDomainReader(DatasetReader):
    """
    Base class of the readers of this package. Subclasses implement `_read_records`, turning a
    path into `RawRecord`s in file order, and `text_to_instance` with their own argument names.

    Every instance has the fields:
    - `tokens`: a `TextField` of word pieces, `[CLS] a [SEP]` or `[CLS] a [SEP] b [SEP]` with
      token type ids, at most `max_length` pieces (pairs truncated longest-first);
    - `label`: a `LabelField` in the `labels` namespace (absent when the label is unknown);
    - `domain`: a `DomainField` in the `domain_labels` namespace (absent when not given); a
      domain the model's vocabulary does not know is indexed as "no domain" (`NO_DOMAIN`);
    - `metadata`: `{"instance_id", "domain", "text"}`; `instance_id` is stable across runs,
      samples and distributed shards (see `instance_id_prefix`), `None` for predictor inputs.

    # Parameters

    model_name : `str`
        The pretrained transformer whose tokenizer and indexer are used (a hub name or a local
        directory; the configs take it from `MFT_ENCODER`).
    max_length : `int`, optional (default = `128`)
        Word pieces per instance, special tokens included.
    domains : `List[str]`, optional (default = `None`)
        Read only these domains (per-domain fine-tuning). Every one must occur in the data.
    sample_fraction : `float`, optional (default = `None`)
        Few-shot: keep this fraction of every (domain, class) group, at least one instance.
    sample_count : `int`, optional (default = `None`)
        Few-shot: keep this many instances per domain, stratified by class.
    sample_seed : `int`, optional (default = `13`)
        Seed of the few-shot sample.
    tokenizer_kwargs : `Dict`, optional
        Passed to the HuggingFace tokenizer.
    """

    # The JSON keys of a prediction input, in `text_to_instance` order (set by each reader).
    predictor_fields: Tuple[str, ...] = ()

    def __init__(
        self,
        model_name: str,
        max_length: int = 128,
        domains: Optional[List[str]] = None,
        sample_fraction: Optional[float] = None,
        sample_count: Optional[int] = None,
        sample_seed: int = 13,
        tokenizer_kwargs: Optional[Dict] = None,
        **kwargs,
    ) -> None:
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        if sample_fraction is not None and sample_count is not None:
            raise ValueError("Give either sample_fraction or sample_count, not both.")
        if sample_fraction is not None and not 0.0 < sample_fraction <= 1.0:
            raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}.")
        if sample_count is not None and sample_count < 1:
            raise ValueError(f"sample_count must be at least 1, got {sample_count}.")
        if domains is not None and len(domains) == 0:
            raise ValueError("domains, when given, must name at least one domain.")
        self.model_name = model_name
        self.max_length = max_length
        self.domains = list(domains) if domains is not None else None
        self.sample_fraction = sample_fraction
        self.sample_count = sample_count
        self.sample_seed = sample_seed
        compat.apply()  # AllenNLP's tokenizer on transformers >= 4.44 (also outside the plugin)
        try:
            self._tokenizer = PretrainedTransformerTokenizer(
                model_name, add_special_tokens=False, tokenizer_kwargs=tokenizer_kwargs
            )
            self._token_indexers = {
                "tokens": PretrainedTransformerIndexer(
                    model_name, tokenizer_kwargs=tokenizer_kwargs
                )
            }
        except (OSError, ValueError) as error:
            raise encoder_load_error(model_name, error) from error
        self._single_budget = max_length - self._tokenizer.num_special_tokens_for_sequence()
        self._pair_budget = max_length - self._tokenizer.num_special_tokens_for_pair()
        if self._pair_budget < 2:
            raise ValueError(f"max_length={max_length} leaves no room for a text pair.")

    # ----------------------------------------------------------------------------------------
    # Reading
    def _read_records(self, file_path: str) -> Iterable[RawRecord]:
        raise NotImplementedError

    def _read(self, file_path) -> Iterator[Instance]:
        records = self.select_records(file_path)
        for record in self.shard_iterable(records):
            yield self._record_to_instance(record)

    def select_records(self, file_path) -> List[RawRecord]:
        """All records of `file_path` after the domain filter and the few-shot sample."""
        records = list(self._read_records(str(file_path)))
        if not records:
            raise DataFileError(file_path, None, "no instances could be read from this path")
        if self.domains is not None:
            present = {record.domain for record in records}
            missing = [domain for domain in self.domains if domain not in present]
            if missing:
                raise DataFileError(
                    file_path,
                    None,
                    f"domain(s) {missing} yield no instances here (domains present: {sorted(present)})",
                )
            wanted = set(self.domains)
            records = [record for record in records if record.domain in wanted]
        records = stratified_sample(
            records, self.sample_fraction, self.sample_count, self.sample_seed
        )
        logger.info(
            "Read %d instances from %s in %d domain(s)",
            len(records),
            file_path,
            len({record.domain for record in records}),
        )
        return records

    def _record_to_instance(self, record: RawRecord) -> Instance:
        return self.make_instance(record.texts, record.label, record.domain, record.instance_id)

    # ----------------------------------------------------------------------------------------
    # Instances
    def make_instance(
        self,
        texts: Sequence[str],
        label: Optional[str] = None,
        domain: Optional[str] = None,
        instance_id: Optional[str] = None,
    ) -> Instance:
        """Tokenize one text or a pair and build the instance described in the class docstring."""
        first = self._tokenizer.tokenize(texts[0])
        second = self._tokenizer.tokenize(texts[1]) if len(texts) > 1 else None
        budget = self._pair_budget if second is not None else self._single_budget
        first, second = truncate_longest_first(first, second, budget)
        fields: Dict[str, Field] = {
            "tokens": TextField(self._tokenizer.add_special_tokens(first, second))
        }
        if label is not None:
            fields["label"] = LabelField(label)
        if domain is not None:
            fields["domain"] = DomainField(domain)
        fields["metadata"] = MetadataField(
            {"instance_id": instance_id, "domain": domain, "text": " [SEP] ".join(texts)}
        )
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"].token_indexers = self._token_indexers  # type: ignore
