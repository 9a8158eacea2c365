"""Natural language inference across MultiNLI genres (paper §4.1: domain = genre)."""
import logging
from pathlib import Path
from typing import Iterator, Optional

from allennlp.data import Instance
from allennlp.data.dataset_readers.dataset_reader import DatasetReader
from allennlp_models.pair_classification.dataset_readers.snli import maybe_collapse_label

from mft_plugin.data.common import (
    DataFileError,
    MultiDomainReader,
    RawRecord,
    instance_id_prefix,
    is_jsonl,
    iter_jsonl_rows,
    iter_tsv_rows,
)

logger = logging.getLogger(__name__)

NLI_LABELS = ("entailment", "neutral", "contradiction")
# Official MultiNLI marks pairs without annotator consensus with "-"; they have no gold label.
NO_CONSENSUS = "-"
REQUIRED_FIELDS = ("sentence1", "sentence2", "genre", "gold_label")


@DatasetReader.register("mft_nli")
class MultiDomainNliReader(MultiDomainReader):
    """
    Reads MultiNLI with the genre as the domain, in either public format:

    - the official jsonl release: one object a line with `gold_label`, `sentence1` (premise),
      `sentence2` (hypothesis) and `genre` (`pairID` and other keys are ignored);
    - GLUE's MNLI TSV: a header line naming at least `sentence1`, `sentence2`, `genre` and
      `gold_label`, then tab-separated rows.

    The path is one file (a MultiNLI folder holds several splits, so a directory is an error
    that lists its files). The format is taken from the first non-blank line (`{` means jsonl).
    Labels are read in any case (`Neutral` is `neutral`). Pairs whose gold label is `-` (no
    annotator consensus) are skipped and counted in the log, as allennlp-models' `snli` reader
    does; its `collapse_labels` option (entailment vs non-entailment) is offered too. Pairs
    become `[CLS] premise [SEP] hypothesis [SEP]`.

    Registered as a `DatasetReader` with name "mft_nli". Other parameters: `MultiDomainReader`.
    """

    # The JSON keys of a prediction input, in `text_to_instance` order.
    predictor_fields = ("premise", "hypothesis")

    def __init__(self, model_name: str, collapse_labels: bool = False, **kwargs) -> None:
        super().__init__(model_name, **kwargs)
        self.collapse_labels = collapse_labels

    def _read_records(self, file_path: str) -> Iterator[RawRecord]:
        path = Path(file_path)
        if path.is_dir():
            # A MultiNLI folder holds several splits (train, dev_matched, ...): pick one.
            candidates = sorted(
                child.name for child in path.iterdir() if child.suffix in (".jsonl", ".tsv")
            )
            raise DataFileError(
                path,
                None,
                "is a directory; mft_nli reads one file, a MultiNLI .jsonl or a GLUE MNLI .tsv"
                + (f" (here: {', '.join(candidates)})" if candidates else ""),
            )
        if not path.is_file():
            raise DataFileError(path, None, "no such file")
        prefix = instance_id_prefix(path, path)
        parse = iter_jsonl_rows if is_jsonl(path) else iter_tsv_rows
        skipped = 0
        for line_number, row in parse(path, REQUIRED_FIELDS):
            # Case and surrounding spaces do not matter, as in the other readers.
            gold = row["gold_label"].strip().lower()
            if gold == NO_CONSENSUS:
                skipped += 1
                continue
            if gold not in NLI_LABELS:
                raise DataFileError(
                    path,
                    line_number,
                    f"unknown label {row['gold_label']!r} "
                    f"(expected one of {list(NLI_LABELS)}, any case, or '-')",
                )
            yield RawRecord(
                instance_id=f"{prefix}:{line_number}",
                domain=row["genre"],
                label=maybe_collapse_label(gold, self.collapse_labels),
                texts=(row["sentence1"], row["sentence2"]),
            )
        if skipped:
            logger.info("Skipped %d pairs with gold label '-' (no consensus) in %s", skipped, path)

    def text_to_instance(
        self,
        premise: str,
        hypothesis: str,
        label: Optional[str] = None,
        domain: Optional[str] = None,
        instance_id: Optional[str] = None,
    ) -> Instance:
        return self.make_instance((premise, hypothesis), label, domain, instance_id)
