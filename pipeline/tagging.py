"""The tagging contract every engine keeps (local, Ray, the queue's texts): which columns of an input hold the text
and which are kept, the text of each batch and why a row has none, held to one schema from the first batch on;
then `OutputSchema` builds the output columns from the model's predictions."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyarrow as pa

from mlc.models.errors import InputError
from mlc.models.model import Model
from mlc.pipeline.columns import (
    column_or_nulls,
    describe,
    kept_columns,
    require_text,
    text_columns,
    text_with_faults,
)
from mlc.pipeline.output_schema import ROW_COLUMN, OutputSchema
from mlc.pipeline.readers import TYPED_VALUES

DEFAULT_BATCH_SIZE = 4096
ROW_FIELD = "__mlc_row"  # the row number the Ray engine's read tasks add; not an input column


@dataclass(frozen=True)
class PredictOptions:
    """What the user chose; shared by the local and the Ray engine."""

    text_column: str | None = None
    id_column: str | None = None
    keep_columns: tuple[str, ...] | None = None
    top_k: int = 3
    threshold: float | None = None
    batch_size: int = DEFAULT_BATCH_SIZE
    strict: bool = False
    input_format: str | None = None
    output_format: str | None = None
    skip_existing: bool = False
    fail_fast: bool = False
    force: bool = False  # overwrite an output written beside its input by an earlier run
    explain: int = 0  # terms per top label in a `why` column (0: none)
    with_model_id: bool = False  # a `model_id` column (Parquet files always carry it as metadata)
    count_labels: bool = False  # count what rows were given, for a run report (`FileSummary.counts`)
    backend: str | None = (
        None  # what scores the rows (`mlc.models.scorer.BACKENDS`); None: MLC_BACKEND, else TensorFlow
    )

    def output_schema(self, model: Model) -> OutputSchema:
        """The output columns for this model and these options."""
        return OutputSchema(model, self.top_k, self.explain, self.with_model_id)


@dataclass
class TextChunk:
    """One batch of input prepared for the model: its text, which rows have none (and why), the kept columns."""

    text: pa.Array
    bad: np.ndarray
    reasons: pa.Array
    kept: dict[str, pa.Array]

    @property
    def num_rows(self) -> int:
        return len(self.bad)

    def slice(self, offset: int, length: int | None = None) -> TextChunk:
        end = self.num_rows if length is None else offset + length
        length = end - offset
        return TextChunk(
            self.text.slice(offset, length),
            self.bad[offset:end],
            self.reasons.slice(offset, length),
            {name: column.slice(offset, length) for name, column in self.kept.items()},
        )

    @staticmethod
    def concat(chunks: list[TextChunk]) -> TextChunk:
        if len(chunks) == 1:
            return chunks[0]
        return TextChunk(
            pa.concat_arrays([chunk.text for chunk in chunks]),
            np.concatenate([chunk.bad for chunk in chunks]),
            pa.concat_arrays([chunk.reasons for chunk in chunks]),
            {name: pa.concat_arrays([chunk.kept[name] for chunk in chunks]) for name in chunks[0].kept},
        )


class InputColumns:
    """Which columns of one input hold the text and which are kept, chosen from its first batch's schema; later
    batches (a JSON block may lack a field or type it otherwise) are held to the same columns and types."""

    def __init__(
        self,
        input_schema: pa.Schema,
        options: PredictOptions,
        source: str,
        fmt: str,
        preferred_text: list[str] | None,
        output_names: list[str],
    ) -> None:
        names = self.names = [name for name in input_schema.names if name != ROW_FIELD]
        self.source, self.strict = source, options.strict
        self.typed_values = fmt in TYPED_VALUES
        self.text = text_columns(names, options.text_column, source=source, preferred=preferred_text)
        if not self.typed_values:
            for name in self.text:
                require_text(input_schema.field(name).type, name, source)
        self.keep = kept_columns(names, options.keep_columns, options.id_column, source=source, row_column=ROW_COLUMN)
        self.kept_types = {name: input_schema.field(name).type for name in self.keep if name in names}
        clash = set(self.keep) & set(output_names)
        if clash:
            raise InputError(f"{source}: kept column(s) {sorted(clash)} clash with output columns; use --keep-columns")

    def chunk(self, batch: pa.RecordBatch, row_numbers: pa.Array) -> TextChunk:
        """The batch's text and kept columns; `row_numbers` fill the `row` column where the input has none."""
        text, bad, reasons = text_with_faults(batch, self.text, self.source, typed_values=self.typed_values)
        if self.strict and bad.any():
            first = int(np.argmax(bad))
            raise InputError(
                f"{self.source}: row {row_numbers[first].as_py()}: field {describe(self.text)}: "
                f"{reasons[first].as_py()} (--strict)"
            )
        kept = {
            name: row_numbers if name not in self.kept_types else self._kept(batch, name, row_numbers)
            for name in self.keep
        }
        return TextChunk(text, bad, reasons, kept)

    def kept_fields(self) -> list[pa.Field]:
        """The kept columns as output fields (the row number is int64)."""
        return [pa.field(name, self.kept_types.get(name, pa.int64())) for name in self.keep]

    def _kept(self, batch: pa.RecordBatch, name: str, row_numbers: pa.Array) -> pa.Array:
        """A kept column in the type of the input's first batch (the output's schema is fixed by it)."""
        kind = self.kept_types[name]
        column = column_or_nulls(batch, name, kind)
        if column.type == kind:
            return column
        try:
            return column.cast(kind)
        except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError) as error:
            offset = next(i for i in range(len(column)) if not _casts(column.slice(i, 1), kind))
            raise InputError(
                f"{self.source}: row {row_numbers[offset].as_py()}: field '{name}' holds {column.type} where "
                f"earlier rows hold {kind}"
            ) from error


def kept_fields(options: PredictOptions) -> list[pa.Field]:
    """The kept columns of an input that has no columns at all (an empty JSONL file): the ones asked for, as text,
    after the identity column (`--id-column`, else the row number)."""
    identity = options.id_column or ROW_COLUMN
    names = [identity, *(name for name in options.keep_columns or () if name != identity)]
    return [pa.field(name, pa.int64() if name == ROW_COLUMN else pa.string()) for name in names]


def _casts(value: pa.Array, kind: pa.DataType) -> bool:
    try:
        value.cast(kind)
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError, pa.ArrowTypeError):
        return False
    return True


def rebatch(batches: Iterator[Any], size: int, concat: Callable[[list[Any]], Any]) -> Iterator[Any]:
    """Re-cut batches (anything with `num_rows` and `slice`, whatever their size) into batches of `size` rows joined
    by `concat`; the last may be shorter."""
    held: list[Any] = []
    count = 0
    for batch in batches:
        while batch.num_rows:
            take = min(size - count, batch.num_rows)
            held.append(batch.slice(0, take))
            count += take
            batch = batch.slice(take)
            if count == size:
                yield concat(held)
                held, count = [], 0
    if count:
        yield concat(held)


def chain(first: Any, rest: Iterator[Any]) -> Iterator[Any]:
    yield first
    yield from rest
