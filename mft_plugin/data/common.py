"""
What the three multi-domain readers share: raw records, stable instance ids, the domain filter,
stratified few-shot sampling, pair truncation, and errors that name the file and line.

Every reader turns its file format into `RawRecord`s first, then this module filters, samples
and shards them, and only then tokenizes, so that sampling and sharding cost nothing per token
and every distributed worker sees the same sample.
"""
import codecs
import inspect
import json
import logging
import os
import random
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, Iterable, Iterator, List, Optional, Sequence, Tuple, cast

from allennlp.common.checks import ConfigurationError
from allennlp.data import Instance
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp.data.fields import Field, LabelField, MetadataField, TextField
from allennlp.data.token_indexers import PretrainedTransformerIndexer, TokenIndexer
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

    Paths are made absolute without resolving symbolic links, so a linked file or folder keeps
    the name it is read by (and a link out of the data folder is no error).
    """
    anchor = Path(os.path.abspath(read_root)).parent.parent
    return Path(os.path.abspath(file_path)).relative_to(anchor).as_posix()


def read_text_lines(path: Path, encoding: str = "utf-8") -> Iterator[Tuple[int, str]]:
    """
    Yield `(line_number, line)` with the newline stripped; bad bytes name their line. In UTF-8
    a byte-order mark that starts the file (as some editors write) is dropped.
    """
    first_line_encoding = "utf-8-sig" if codecs.lookup(encoding).name == "utf-8" else encoding
    with open(path, "rb") as handle:
        for line_number, raw in enumerate(handle, start=1):
            try:
                line = raw.decode(first_line_encoding if line_number == 1 else encoding)
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


def is_blank_line(line: str) -> bool:
    """
    Whether a line of a tab-separated file is blank and skipped. A line that holds a tab is a
    row, even when its cells are empty, so that it fails instead of vanishing.
    """
    return not line.strip() and "\t" not in line


EMPTY_ROW_MESSAGE = "a row of empty cells (only tabs and spaces); a blank line holds no tab"


def is_jsonl(path: Path, encoding: str = "utf-8") -> bool:
    """
    A file is read as JSON lines when its first non-blank line starts with `{` (or `[`, which
    then fails as a JSON array where an object is expected).
    """
    first = first_content_line(path, encoding)
    return first is not None and first.lstrip().startswith(("{", "["))


_JSON_TYPE_NAMES = {
    dict: "an object",
    list: "an array",
    bool: "a boolean",
    str: "a string",
    type(None): "null",
}


def _json_type_name(value) -> str:
    return _JSON_TYPE_NAMES.get(type(value), "a number")


def iter_jsonl_rows(
    path: Path,
    required: Sequence[str],
    encoding: str = "utf-8",
    optional: Sequence[str] = (),
    integer_fields: Sequence[str] = (),
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """
    Yield `(line, {field: value})` for every non-blank line of a JSON-lines file, holding the
    `required` fields and those of the `optional` ones that are present; other keys are
    ignored. Every value must be a JSON string, except that a field of `integer_fields` may also
    be an integer (e.g. `"label": 1`), which becomes its decimal string. `null` is absent.
    """
    for line_number, line in read_text_lines(path, encoding):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
        except json.JSONDecodeError as error:
            raise DataFileError(path, line_number, f"malformed JSON ({error.msg})") from error
        if not isinstance(row, dict):
            raise DataFileError(
                path,
                line_number,
                f"expected a JSON object, found {_json_type_name(row)} "
                "(JSON lines hold one object a line)",
            )
        values: Dict[str, str] = {}
        for field in (*required, *optional):
            value = row.get(field)
            if value is None:
                if field in required:
                    raise DataFileError(path, line_number, f"missing field {field!r}")
                continue
            if isinstance(value, str):
                values[field] = value
            elif field in integer_fields and isinstance(value, int) and not isinstance(value, bool):
                values[field] = str(value)
            else:
                expected = "a string or an integer" if field in integer_fields else "a string"
                raise DataFileError(
                    path,
                    line_number,
                    f"field {field!r} must be {expected}, found {_json_type_name(value)}",
                )
        yield line_number, values


def iter_tsv_rows(
    path: Path, required: Sequence[str], encoding: str = "utf-8"
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """Yield `(line, {column: cell})` for a TSV file whose first non-blank line is a header."""
    header: Optional[List[str]] = None
    for line_number, line in read_text_lines(path, encoding):
        if is_blank_line(line):
            continue
        cells = line.split("\t")
        if not any(cell.strip() for cell in cells):
            raise DataFileError(path, line_number, EMPTY_ROW_MESSAGE)
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
    """Few-shot sampling of records, by `stratified_positions` over their (domain, label)."""
    if fraction is None and count is None:
        return list(records)
    keys = [(record.domain, record.label) for record in records]
    return [records[position] for position in stratified_positions(keys, fraction, count, seed)]


def stratified_positions(
    keys: Sequence[Tuple[str, Optional[str]]],
    fraction: Optional[float],
    count: Optional[int],
    seed: int,
) -> List[int]:
    """
    Few-shot sampling, stratified by class within each domain: the positions kept of items whose
    `(domain, label)` are `keys`, in ascending order. Deterministic for a seed, and
    nested: a smaller sample is contained in a larger one (a smaller `fraction` in a larger one,
    `count` n in `count` n + 1), because each (domain, class) group is shuffled once with a seed
    of its own and a prefix of it is kept, and because no class quota falls as the fraction or
    the count rises (see `_class_quotas`). The kept items stay in their order.
    """
    if fraction is None and count is None:
        return list(range(len(keys)))
    groups: Dict[str, Dict[Optional[str], List[int]]] = defaultdict(lambda: defaultdict(list))
    for position, (domain, label) in enumerate(keys):
        groups[domain][label].append(position)

    keep: List[int] = []
    for domain, by_label in groups.items():
        sizes = {label: len(positions) for label, positions in by_label.items()}
        quotas = _class_quotas(sizes, fraction, count)
        for label, positions in by_label.items():
            shuffled = list(positions)
            random.Random(f"{seed}:{domain}:{label}").shuffle(shuffled)
            keep.extend(shuffled[: quotas[label]])
    return sorted(keep)


def check_selection_options(
    domains: Optional[List[str]], sample_fraction: Optional[float], sample_count: Optional[int]
) -> None:
    """Refuse a `domains` filter or few-shot sample that a reader could not apply."""
    if sample_fraction is not None and sample_count is not None:
        raise ValueError("Give either sample_fraction or sample_count, not both.")
    if sample_fraction is not None and not 0.0 < sample_fraction <= 1.0:
        raise ValueError(f"sample_fraction must be in (0, 1], got {sample_fraction}.")
    if sample_count is not None and sample_count < 1:
        raise ValueError(f"sample_count must be at least 1, got {sample_count}.")
    if domains is not None and len(domains) == 0:
        raise ValueError("domains, when given, must name at least one domain.")


def _class_quotas(
    sizes: Dict[Optional[str], int], fraction: Optional[float], count: Optional[int]
) -> Dict[Optional[str], int]:
    """
    How many instances of each class one domain keeps.

    With `fraction`, each class keeps `round(fraction * size)`, at least one so that no class
    vanishes from a small domain. With `count`, the instances are handed out one at a time, each
    to the class furthest below its proportional share of the instances handed out so far
    (`k * size / total` after the k-th; ties go to the class first in label order). Every
    quota therefore grows with the count, and the sample at count n is part of the sample at
    n + 1; the largest-remainder split of each count separately lacks that (sizes 100/189/157
    give the first class 4 instances at count 15 but 3 at count 16). A full class is never
    chosen, since its share never exceeds its size.
    """
    if fraction is not None:
        return {label: max(1, round(fraction * size)) for label, size in sizes.items()}
    assert count is not None  # the caller gives fraction or count
    total = sum(sizes.values())
    if count >= total:
        return dict(sizes)
    labels = sorted(sizes, key=str)
    quotas = {label: 0 for label in labels}
    for handed_out in range(1, count + 1):
        # Shortfall of each class below its share, times `total` to stay in exact integers.
        neediest = max(labels, key=lambda label: handed_out * sizes[label] - total * quotas[label])
        quotas[neediest] += 1
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
    - `domain`: a `DomainField` in the `domain_labels` namespace (absent when not given, or
      when `include_domain_field` is off); a domain the model's vocabulary does not know is
      indexed as "no domain" (`NO_DOMAIN`);
    - `metadata`: `{"instance_id", "domain", "text"}`; `instance_id` is stable across runs,
      samples and distributed shards (see `instance_id_prefix`), `None` for predictor inputs;
      `domain` is there whether or not the `domain` field is.

    # Parameters

    model_name : `str`
        The pretrained transformer whose tokenizer and indexer are used (a hub name or a local
        directory; the configs take it from `MFT_ENCODER`).
    max_length : `int`, optional (default = `128`)
        Word pieces per instance, special tokens included.
    domains : `List[str]`, optional (default = `None`)
        Read only these domains (per-domain fine-tuning). Every one must occur in the data.
    include_domain_field : `bool`, optional (default = `True`)
        Give instances the `domain` field. Turn it off to train a model whose `forward` takes
        no `domain` argument, such as AllenNLP's `basic_classifier`; the domain stays in the
        metadata, which such models accept and ignore, and `domains` and the few-shot sample
        still work per domain.
    sample_fraction : `float`, optional (default = `None`)
        Few-shot: keep this fraction of every (domain, class) group (rounded, at least one
        instance). A smaller fraction's sample is contained in a larger one's.
    sample_count : `int`, optional (default = `None`)
        Few-shot: keep this many instances per domain, split over the classes in proportion to
        their sizes. The sample at count n is contained in the sample at count n + 1.
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
        include_domain_field: bool = True,
        sample_fraction: Optional[float] = None,
        sample_count: Optional[int] = None,
        sample_seed: int = 13,
        tokenizer_kwargs: Optional[Dict] = None,
        **kwargs,
    ) -> None:
        _check_reader_options(type(self).__name__, kwargs)
        super().__init__(
            manual_distributed_sharding=True, manual_multiprocess_sharding=True, **kwargs
        )
        check_selection_options(domains, sample_fraction, sample_count)
        self.model_name = model_name
        self.max_length = max_length
        self.domains = list(domains) if domains is not None else None
        self.include_domain_field = include_domain_field
        self.sample_fraction = sample_fraction
        self.sample_count = sample_count
        self.sample_seed = sample_seed
        compat.apply()  # AllenNLP's tokenizer on transformers >= 4.44 (also outside the plugin)
        try:
            self._tokenizer = PretrainedTransformerTokenizer(
                model_name, add_special_tokens=False, tokenizer_kwargs=tokenizer_kwargs
            )
            self._token_indexers: Dict[str, TokenIndexer] = {
                "tokens": PretrainedTransformerIndexer(
                    model_name, tokenizer_kwargs=tokenizer_kwargs
                )
            }
        except (OSError, ValueError) as error:
            raise encoder_load_error(model_name, error) from error
        _check_max_length(model_name, max_length)
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
        for record in records:
            _check_record(file_path, record)
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
        if domain is not None and self.include_domain_field:
            fields["domain"] = DomainField(domain)
        fields["metadata"] = MetadataField(
            {"instance_id": instance_id, "domain": domain, "text": " [SEP] ".join(texts)}
        )
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        tokens = cast(TextField, instance.fields["tokens"])  # Instance types its fields Field
        tokens.token_indexers = self._token_indexers


def _check_record(file_path, record: RawRecord) -> None:
    """An empty text or domain name is an error naming the record's file and line."""
    problem = None
    if not isinstance(record.domain, str) or not record.domain.strip():
        problem = "empty domain name"
    elif any(not text or not text.strip() for text in record.texts):
        problem = "empty text"
    if problem is None:
        return
    # the id is the file's path from the grandparent of the path read, a colon and the line
    prefix, _, line = record.instance_id.rpartition(":")
    source = Path(os.path.abspath(file_path)).parent.parent / prefix
    if prefix and line.isdigit() and source.is_file():
        raise DataFileError(source, int(line), problem)
    raise DataFileError(file_path, None, f"{problem} in the record {record.instance_id}")


def _check_reader_options(reader: str, options: Dict) -> None:
    """Options of neither the reader nor AllenNLP's `DatasetReader`: a misspelled key."""
    known = set(inspect.signature(DatasetReader.__init__).parameters) - {"self"}
    unknown = sorted(set(options) - known)
    if unknown:
        raise ConfigurationError(
            f"dataset_reader ({reader}) has no option(s) {unknown}; misspelled? Its options are "
            "model_name, max_length, domains, include_domain_field, sample_fraction, "
            "sample_count, sample_seed, tokenizer_kwargs, those of its own docstring, and "
            f"AllenNLP's {sorted(known - {'manual_distributed_sharding', 'manual_multiprocess_sharding'})}."
        )


def _check_max_length(model_name: str, max_length: int) -> None:
    """`max_length` must fit the encoder's position embeddings (where its config says them)."""
    if isinstance(max_length, bool) or not isinstance(max_length, int) or max_length < 1:
        raise ConfigurationError(
            f"dataset_reader.max_length must be a positive integer, got {max_length!r}"
        )
    try:
        from transformers import AutoConfig

        positions = getattr(AutoConfig.from_pretrained(model_name), "max_position_embeddings", None)
    except Exception:  # no config to read: the encoder's own loading reports it
        return
    if isinstance(positions, int) and max_length > positions:
        raise ConfigurationError(
            f"dataset_reader.max_length = {max_length} exceeds the {positions} positions of the "
            f"encoder {model_name} (max_position_embeddings); use at most {positions}."
        )
