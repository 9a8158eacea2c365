"""Review sentiment across product domains (Blitzer et al., 2007; paper §4.1)."""
import re
from pathlib import Path
from typing import Dict, Iterator, List, Optional, Tuple

from allennlp.data import Instance
from allennlp.data.dataset_readers.dataset_reader import DatasetReader

from mft_plugin.data.common import (
    DataFileError,
    MultiDomainReader,
    RawRecord,
    instance_id_prefix,
    is_jsonl,
    iter_jsonl_rows,
    iter_tsv_rows,
    normalise_label,
    read_text_lines,
)

# Blitzer's files are named after the polarity; `unlabeled.review` is not read.
POLARITY_FILES = ("positive", "negative")
REVIEW_LABEL_SYNONYMS = {
    "positive": "positive",
    "pos": "positive",
    "1": "positive",
    "+1": "positive",
    "negative": "negative",
    "neg": "negative",
    "0": "negative",
    "-1": "negative",
}
TABULAR_COLUMNS = ("text", "domain", "label")
_OPEN_TAG = re.compile(r"^<([A-Za-z_]+)>$")


@DatasetReader.register("mft_reviews")
class MultiDomainReviewReader(MultiDomainReader):
    """
    Reads product reviews labelled `positive` / `negative`, in either layout:

    - Blitzer's `sorted_data_acl`: a directory `<dir>/<domain>/{positive,negative}.review`
      (domain from the folder, label from the file name), one domain folder, or one `.review`
      file. The
      files are pseudo-XML (`<review>` blocks of `<field>` lines, unescaped `&`), which an XML
      parser rejects, so they are parsed line by line. The text is `<review_text>`, preceded by
      `<title>` when `include_title` is set.
    - tabular: a JSON-lines file of objects with `text`, `domain`, `label` (and optional `title`),
      or a TSV file whose header names at least `text`, `domain` and `label`. JSON values are
      strings, except that the label may also be an integer (`"label": 1`).

    Accepted labels (any case): positive, pos, 1, +1 / negative, neg, 0, -1.

    Registered as a `DatasetReader` with name "mft_reviews". Other parameters: `MultiDomainReader`.

    # Parameters

    include_title : `bool`, optional (default = `False`)
        Put the review title before its text.
    encoding : `str`, optional (default = `"utf-8"`)
        Encoding of the files (some copies of the original corpus are Latin-1).
    """

    # The JSON keys of a prediction input, in `text_to_instance` order.
    predictor_fields = ("text",)

    def __init__(
        self, model_name: str, include_title: bool = False, encoding: str = "utf-8", **kwargs
    ) -> None:
        super().__init__(model_name, **kwargs)
        self.include_title = include_title
        self.encoding = encoding

    def _read_records(self, file_path: str) -> Iterator[RawRecord]:
        path = Path(file_path)
        if path.is_dir():
            yield from self._read_blitzer_tree(path)
        elif path.suffix == ".review":
            yield from self._read_review_file(path, domain=path.parent.name, read_root=path)
        elif path.is_file():
            yield from self._read_tabular(path)
        else:
            raise DataFileError(path, None, "no such file or directory")

    # ----------------------------------------------------------------------------------------
    # Blitzer's layout
    def _read_blitzer_tree(self, root: Path) -> Iterator[RawRecord]:
        if any((root / f"{polarity}.review").is_file() for polarity in POLARITY_FILES):
            domain_dirs = [root]  # the path is one domain's folder
        else:
            domain_dirs = sorted(child for child in root.iterdir() if child.is_dir())
        if not domain_dirs:
            raise DataFileError(root, None, "no domain folders with positive/negative.review files")
        for domain_dir in domain_dirs:
            review_files = [
                domain_dir / f"{polarity}.review"
                for polarity in POLARITY_FILES
                if (domain_dir / f"{polarity}.review").is_file()
            ]
            if not review_files:
                raise DataFileError(
                    domain_dir, None, "holds neither positive.review nor negative.review"
                )
            for review_file in review_files:
                yield from self._read_review_file(review_file, domain_dir.name, read_root=root)

    def _read_review_file(
        self, review_file: Path, domain: str, read_root: Path
    ) -> Iterator[RawRecord]:
        if review_file.stem not in POLARITY_FILES:
            raise DataFileError(
                review_file,
                None,
                f"the label is taken from the file name, which must be one of {POLARITY_FILES}",
            )
        prefix = instance_id_prefix(review_file, read_root)
        count = 0
        for line_number, fields in parse_review_blocks(review_file, self.encoding):
            count += 1
            yield RawRecord(
                instance_id=f"{prefix}:{line_number}",
                domain=domain,
                label=review_file.stem,
                texts=(self._review_text(fields),),
            )
        if count == 0:
            raise DataFileError(review_file, None, "holds no <review> blocks")

    def _review_text(self, fields: Dict[str, str]) -> str:
        text = fields.get("review_text", "")
        title = fields.get("title", "")
        if self.include_title and title:
            separator = " " if title[-1] in ".!?" else ". "
            return f"{title}{separator}{text}"
        return text

    # ----------------------------------------------------------------------------------------
    # Tabular layout
    def _read_tabular(self, path: Path) -> Iterator[RawRecord]:
        prefix = instance_id_prefix(path, path)
        if is_jsonl(path, self.encoding):
            # A label may be a JSON number (`"label": 1`); every other value must be a string.
            rows = iter_jsonl_rows(
                path, TABULAR_COLUMNS, self.encoding, optional=("title",), integer_fields=("label",)
            )
        else:
            rows = iter_tsv_rows(path, TABULAR_COLUMNS, self.encoding)
        for line_number, row in rows:
            label = normalise_label(row["label"], REVIEW_LABEL_SYNONYMS, path, line_number)
            yield RawRecord(
                instance_id=f"{prefix}:{line_number}",
                domain=row["domain"],
                label=label,
                texts=(
                    self._review_text({"review_text": row["text"], "title": row.get("title", "")}),
                ),
            )

    def text_to_instance(
        self,
        text: str,
        label: Optional[str] = None,
        domain: Optional[str] = None,
        instance_id: Optional[str] = None,
    ) -> Instance:
        return self.make_instance((text,), label, domain, instance_id)


def parse_review_blocks(
    path: Path, encoding: str = "utf-8"
) -> Iterator[Tuple[int, Dict[str, str]]]:
    """
    Yield `(line of <review>, {field: text})` for every block of a Blitzer `.review` file.

    Inside a field only that field's closing tag ends it, so review text may hold anything,
    including `&` and lines that look like tags.
    """
    review_start: Optional[int] = None
    fields: Dict[str, str] = {}
    field_name: Optional[str] = None
    field_lines: List[str] = []
    field_start = 0
    for line_number, line in read_text_lines(path, encoding):
        stripped = line.strip()
        if field_name is not None:
            if stripped == f"</{field_name}>":
                fields[field_name] = " ".join(part for part in field_lines if part).strip()
                field_name, field_lines = None, []
            elif stripped in ("<review>", "</review>"):
                # an unclosed field would swallow the rest of its review and the next ones
                raise DataFileError(
                    path, field_start, f"<{field_name}> is not closed before {stripped}"
                )
            else:
                field_lines.append(stripped)
            continue
        if not stripped:
            continue
        if stripped == "<review>":
            if review_start is not None:
                raise DataFileError(
                    path,
                    line_number,
                    f"<review> opened before the one of line {review_start} closed",
                )
            review_start, fields = line_number, {}
        elif stripped == "</review>":
            if review_start is None:
                raise DataFileError(path, line_number, "</review> without an opening <review>")
            if "review_text" not in fields:
                raise DataFileError(path, review_start, "review has no <review_text> field")
            yield review_start, fields
            review_start = None
        elif review_start is not None and (opened := _OPEN_TAG.match(stripped)):
            field_name = opened.group(1)
            field_start = line_number
        else:
            where = (
                "inside <review> but outside a field"
                if review_start is not None
                else "outside a <review> block"
            )
            raise DataFileError(path, line_number, f"unexpected text {where}: {stripped[:40]!r}")
    if field_name is not None:
        raise DataFileError(path, review_start, f"<{field_name}> is never closed")
    if review_start is not None:
        raise DataFileError(path, review_start, "<review> is never closed")
