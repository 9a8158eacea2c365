"""
How `allennlp predict` reads its JSON-lines input for this package's predictors: errors name the
input file and its physical line, blank lines included in the count.

AllenNLP's `_PredictManager._get_json_data` opens the input file (or stdin), drops blank lines
and hands each other line to `Predictor.load_line`, which sees neither the file name nor the
blank lines: a predictor can only count the lines it receives, so the 2nd line it gets may be
the file's 4th. Bytes that are not valid UTF-8 fail inside AllenNLP's loop, before any
predictor code runs, as a bare `UnicodeDecodeError` (and a text stream decodes ahead in chunks,
so even the line of the failure is unknown there).

`number_predict_input_lines` therefore replaces that one method of the manager with one that
reads the same input the same way (the file through AllenNLP's `cached_path` and
`open_compressed`, as UTF-8; stdin in its own encoding; blank lines skipped), but line by line
as bytes, counting every physical line; it hands each non-blank line to the predictor's
`load_input_line` together with `input.jsonl:4`, and turns a decoding error into a
`MalformedInputError` naming the file and line. For every other predictor, the replacement
calls AllenNLP's own method unchanged. The plugin applies it on import (`mft_plugin.predictors`).
"""
import sys
from typing import IO, Iterator, Tuple

from allennlp.commands.predict import _PredictManager
from allennlp.common.file_utils import open_compressed
from allennlp.common.util import JsonDict

from mft_plugin.predictors.classifier import MalformedInputError, MultiDomainClassifierPredictor

STDIN_NAME = "<stdin>"
BYTE_ORDER_MARK = "\ufeff"


def numbered_lines(handle: IO, source: str, encoding: str) -> Iterator[Tuple[int, str]]:
    """
    `(line_number, line)` for every physical line of `handle`, 1-based. The lines of a binary
    handle are decoded one by one, so that bad bytes are reported on their own line. A byte-order
    mark at the start of the input is dropped, as the readers drop it (editors on Windows write
    one).
    """
    for line_number, raw in enumerate(handle, start=1):
        if isinstance(raw, str):  # a text stream: decoded already
            line = raw
        else:
            try:
                line = raw.decode(encoding)
            except UnicodeDecodeError as error:
                raise MalformedInputError(
                    f"{source}:{line_number}: bytes that are not valid {encoding} "
                    f"({error.reason} at byte {error.start} of the line)"
                ) from None
        if line_number == 1:
            line = line.removeprefix(BYTE_ORDER_MARK)
        yield line_number, line


def read_json_inputs(
    predictor: MultiDomainClassifierPredictor, input_file: str
) -> Iterator[JsonDict]:
    """The parsed non-blank lines of `input_file` (`-` for stdin), errors naming their line."""
    if input_file == "-":
        # stdin's bytes, where it has them (a test may replace stdin with a text-only stream).
        stream = getattr(sys.stdin, "buffer", sys.stdin)
        lines = numbered_lines(stream, STDIN_NAME, sys.stdin.encoding or "utf-8")
        yield from _parse(predictor, lines, STDIN_NAME)
    else:
        with open_compressed(input_file, "rb", encoding=None) as handle:
            yield from _parse(predictor, numbered_lines(handle, input_file, "UTF-8"), input_file)


def _parse(
    predictor: MultiDomainClassifierPredictor, lines: Iterator[Tuple[int, str]], source: str
) -> Iterator[JsonDict]:
    for line_number, line in lines:
        if not line.isspace():  # AllenNLP's rule for blank lines
            yield predictor.load_input_line(line, f"{source}:{line_number}")


def number_predict_input_lines() -> None:
    """Make `allennlp predict` number this package's input lines physically (idempotent)."""
    original = _PredictManager._get_json_data
    if getattr(original, "_mft_numbers_lines", False):
        return

    def _get_json_data(self: _PredictManager) -> Iterator[JsonDict]:
        if isinstance(self._predictor, MultiDomainClassifierPredictor):
            return read_json_inputs(self._predictor, self._input_file)
        return original(self)

    _get_json_data.__doc__ = original.__doc__
    _get_json_data._mft_numbers_lines = True  # type: ignore[attr-defined]
    _PredictManager._get_json_data = _get_json_data  # type: ignore[method-assign]
