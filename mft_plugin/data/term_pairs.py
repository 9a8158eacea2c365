"""Term-pair hypernymy across domain taxonomies (paper §4.1, domain taxonomy construction)."""
from pathlib import Path
from typing import Iterator, Optional

from allennlp.data import Instance
from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from mft_plugin.data.common import (
    EMPTY_ROW_MESSAGE,
    DataFileError,
    MultiDomainReader,
    RawRecord,
    instance_id_prefix,
    is_blank_line,
    normalise_label,
    read_text_lines,
)

# Canonical labels are the data's own "1" (is-a) and "0" (not is-a).
TERM_PAIR_LABEL_SYNONYMS = {
    "1": "1",
    "true": "1",
    "yes": "1",
    "is-a": "1",
    "hypernym": "1",
    "0": "0",
    "false": "0",
    "no": "0",
    "not-is-a": "0",
    "random": "0",
}


@DatasetReader.register("mft_term_pairs")
class TermPairReader(MultiDomainReader):
    """
    Reads term pairs `hyponym<TAB>hypernym<TAB>label` for hypernymy classification. A pair
    becomes `[CLS] hyponym [SEP] hypernym [SEP]` (paper §4.1).

    - A directory: every `*.tsv` file in it is one domain, named by the file stem
      (`taxonomy/train/animal.tsv` is domain `animal`).
    - A file: three columns (the domain is the file stem) or four, the fourth being the domain.

    Accepted labels (any case): `1`, `true`, `yes`, `is-a`, `hypernym` / `0`, `false`, `no`,
    `not-is-a`, `random`. A first line whose third column is `label` is taken as a header.
    Blank lines are skipped, but a line that holds a tab is a row, so one of only tabs and
    spaces is an error.

    Registered as a `DatasetReader` with name "mft_term_pairs". Other parameters:
    `MultiDomainReader`.
    """

    # The JSON keys of a prediction input, in `text_to_instance` order.
    predictor_fields = ("hyponym", "hypernym")

    def _read_records(self, file_path: str) -> Iterator[RawRecord]:
        path = Path(file_path)
        if path.is_dir():
            files = sorted(path.glob("*.tsv"))
            if not files:
                raise DataFileError(path, None, "holds no *.tsv files")
            for domain_file in files:
                yield from self._read_file(domain_file, path, allow_domain_column=False)
        elif path.is_file():
            yield from self._read_file(path, path, allow_domain_column=True)
        else:
            raise DataFileError(path, None, "no such file or directory")

    def _read_file(
        self, path: Path, read_root: Path, allow_domain_column: bool
    ) -> Iterator[RawRecord]:
        prefix = instance_id_prefix(path, read_root)
        expected_columns: Optional[int] = None
        count = 0
        for line_number, line in read_text_lines(path):
            if is_blank_line(line):
                continue
            cells = [cell.strip() for cell in line.split("\t")]
            if not any(cells):
                raise DataFileError(path, line_number, EMPTY_ROW_MESSAGE)
            if expected_columns is None:
                expected_columns = len(cells)
                allowed = (3, 4) if allow_domain_column else (3,)
                if expected_columns not in allowed:
                    raise DataFileError(
                        path,
                        line_number,
                        f"expected {' or '.join(map(str, allowed))} tab-separated columns "
                        f"(hyponym, hypernym, label{', domain' if allow_domain_column else ''}), "
                        f"found {len(cells)}",
                    )
                if cells[2].lower() == "label":
                    continue  # header line
            elif len(cells) != expected_columns:
                raise DataFileError(
                    path,
                    line_number,
                    f"expected {expected_columns} tab-separated columns, found {len(cells)}",
                )
            hyponym, hypernym = cells[0], cells[1]
            if not hyponym or not hypernym:
                raise DataFileError(path, line_number, "empty term")
            label = normalise_label(cells[2], TERM_PAIR_LABEL_SYNONYMS, path, line_number)
            domain = cells[3] if expected_columns == 4 else path.stem
            if not domain:
                raise DataFileError(path, line_number, "empty domain")
            count += 1
            yield RawRecord(f"{prefix}:{line_number}", domain, label, (hyponym, hypernym))
        if count == 0:
            raise DataFileError(path, None, "holds no term pairs")

    def text_to_instance(
        self,
        hyponym: str,
        hypernym: str,
        label: Optional[str] = None,
        domain: Optional[str] = None,
        instance_id: Optional[str] = None,
    ) -> Instance:
        return self.make_instance((hyponym, hypernym), label, domain, instance_id)
