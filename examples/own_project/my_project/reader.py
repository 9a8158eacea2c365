"""
The project's own reader, written before MFT and left unchanged: one CSV file of reviews with
the columns `text` and `sentiment`, one file per product category.
"""
import csv
from typing import Dict, Iterable, Optional

from allennlp.common.file_utils import cached_path
from allennlp.data import DatasetReader, Instance
from allennlp.data.fields import LabelField, TextField
from allennlp.data.token_indexers import SingleIdTokenIndexer, TokenIndexer
from allennlp.data.tokenizers import Tokenizer, WhitespaceTokenizer


@DatasetReader.register("csv_reviews")
class CsvReviewsReader(DatasetReader):
    """
    Reads `text,sentiment` CSV files into instances with a `tokens` TextField and a `label`
    LabelField, as AllenNLP's `text_classification_json` reader does for JSON lines.
    """

    def __init__(
        self,
        tokenizer: Optional[Tokenizer] = None,
        token_indexers: Optional[Dict[str, TokenIndexer]] = None,
        **kwargs,
    ) -> None:
        super().__init__(**kwargs)
        self._tokenizer = tokenizer or WhitespaceTokenizer()
        self._token_indexers = token_indexers or {"tokens": SingleIdTokenIndexer()}

    def _read(self, file_path: str) -> Iterable[Instance]:
        with open(cached_path(file_path), newline="", encoding="utf-8") as handle:
            for row in csv.DictReader(handle):
                yield self.text_to_instance(row["text"], row["sentiment"])

    def text_to_instance(self, text: str, sentiment: Optional[str] = None) -> Instance:  # type: ignore
        fields = {"tokens": TextField(self._tokenizer.tokenize(text))}
        if sentiment is not None:
            fields["label"] = LabelField(sentiment)
        return Instance(fields)

    def apply_token_indexers(self, instance: Instance) -> None:
        instance.fields["tokens"].token_indexers = self._token_indexers  # type: ignore
