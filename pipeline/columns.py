"""Pick the columns a command works on, with an error that lists what the file does have."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from mlc.models.errors import InputError

TEXT_CANDIDATES = ("summaries", "abstract", "summary", "text")
LABEL_CANDIDATES = ("terms", "categories", "labels", "label")
TITLE_CANDIDATES = ("titles", "title")
ID_CANDIDATES = ("id", "doc_id", "paper_id", "arxiv_id")


def find_column(
    names: Sequence[str], requested: str | None, candidates: Sequence[str], *, source: str, role: str
) -> str:
    """The column to use for `role`: `requested` (exact, then case-insensitive), else the first candidate."""
    lowered = {name.lower(): name for name in reversed(list(names))}
    if requested:
        if requested in names:
            return unique_column(names, requested, source)
        if requested.lower() in lowered:
            return unique_column(names, lowered[requested.lower()], source)
        raise InputError(f"{source}: no {role} column '{requested}' (columns found: {_listing(names)})")
    for candidate in candidates:
        if candidate in lowered:
            return unique_column(names, lowered[candidate], source)
    raise InputError(
        f"{source}: no {role} column; looked for {', '.join(candidates)} "
        f"(columns found: {_listing(names)}); pass --{role}-column"
    )


def text_columns(
    names: Sequence[str], requested: str | None, *, source: str, preferred: Sequence[str] | None = None
) -> list[str]:
    """The column(s) whose text is used: `requested` (a name, or several joined by commas, e.g.
    `titles,summaries`), else `preferred` (a model's training columns) when the input has them all, else the
    first of TEXT_CANDIDATES. A name that itself contains a comma still matches exactly."""
    if requested:
        if requested in names:
            return [unique_column(names, requested, source)]
        parts = [part.strip() for part in requested.split(",") if part.strip()]
        return [find_column(names, part, TEXT_CANDIDATES, source=source, role="text") for part in parts]
    if preferred and all(name in names for name in preferred):
        return [unique_column(names, name, source) for name in preferred]
    return [find_column(names, None, TEXT_CANDIDATES, source=source, role="text")]


def joined_text(columns: Sequence[Any], names: Sequence[str], source: str) -> Any:
    """One string per row: the text columns cast to string and joined by a space (a null counts as ""); null
    only where every column is null. Arrays or chunked arrays in, the same kind out."""
    texts = [_as_string(column, name, source) for column, name in zip(columns, names)]
    if len(texts) == 1:
        return texts[0]
    # Nulls as "" rather than null_handling="skip": in pyarrow 26 "skip" drops rows where every input is null,
    # so the result came out shorter than the batch.
    joined = pc.binary_join_element_wise(*[pc.fill_null(text, "") for text in texts], " ")
    all_null = reduce(pc.and_, [pc.is_null(text) for text in texts])
    return pc.if_else(all_null, pa.scalar(None, pa.string()), joined)


def _as_string(column: Any, name: str, source: str) -> Any:
    require_text(column.type, name, source)
    return (
        column if pa.types.is_string(column.type) or pa.types.is_large_string(column.type) else column.cast(pa.string())
    )


def require_text(kind: pa.DataType, name: str, source: str) -> None:
    """Only text is text: strings (any Arrow string type, dictionary-encoded too) or an all-null column; a number,
    a boolean or bytes is refused rather than tagged as the digits it prints as."""
    if not _is_text_type(kind):
        raise InputError(f"{source}: column '{name}' holds {kind}, not text; a text column must hold strings")


def _is_string_view(kind: pa.DataType) -> bool:
    return bool(getattr(pa.types, "is_string_view", lambda _: False)(kind))


def text_with_faults(
    batch: pa.RecordBatch, columns: Sequence[str], source: str, *, typed_values: bool = False
) -> tuple[pa.Array, np.ndarray, pa.Array]:
    """The text (the columns joined, nulls as ""), a mask of rows with no usable text, and each bad row's reason.

    With `typed_values` (JSON, where each value carries its own type) a value that is not a string is a bad row
    (`text is a number`); otherwise a text column that is not text refuses the whole input (`require_text`)."""
    arrays = [column_or_nulls(batch, name) for name in columns]
    not_text = None
    if typed_values:
        for i, array in enumerate(arrays):
            if not _is_text_type(array.type):
                reason = pc.if_else(pc.is_valid(array), f"text is {_kind(array.type)}", pa.scalar(None, pa.string()))
                not_text = reason if not_text is None else pc.coalesce(not_text, reason)
                arrays[i] = pa.nulls(len(array), pa.string())
    text = joined_text(arrays, columns, source)
    missing = pc.is_null(text)
    blank = pc.equal(pc.utf8_length(pc.utf8_trim_whitespace(pc.fill_null(text, ""))), 0)
    reasons = pc.if_else(missing, "missing text", pc.if_else(blank, "empty text", pa.scalar(None, pa.string())))
    if not_text is not None:
        reasons = pc.coalesce(not_text, reasons)
    bad = pc.is_valid(reasons).to_numpy(zero_copy_only=False)
    return pc.fill_null(text, ""), bad, reasons


def column_or_nulls(batch: pa.RecordBatch, name: str, kind: pa.DataType | None = None) -> pa.Array:
    """`batch`'s column `name`, or nulls where this batch has no such column (a JSON block without that field)."""
    if name in batch.schema.names:
        return batch.column(name)
    return pa.nulls(batch.num_rows, kind or pa.null())


def _is_text_type(kind: pa.DataType) -> bool:
    value = kind.value_type if pa.types.is_dictionary(kind) else kind
    return (
        pa.types.is_string(value)
        or pa.types.is_large_string(value)
        or pa.types.is_null(value)
        or _is_string_view(value)
    )


def _kind(kind: pa.DataType) -> str:
    """What a JSON value of this Arrow type was, for a bad row's reason."""
    if pa.types.is_integer(kind) or pa.types.is_floating(kind) or pa.types.is_decimal(kind):
        return "a number"
    if pa.types.is_boolean(kind):
        return "a boolean"
    if pa.types.is_struct(kind) or pa.types.is_map(kind):
        return "an object"
    if pa.types.is_list(kind) or pa.types.is_large_list(kind):
        return "a list"
    return f"of type {kind}"


def kept_columns(
    names: Sequence[str], keep: Sequence[str] | None, id_column: str | None, *, source: str, row_column: str
) -> list[str]:
    """The input columns copied to the output: first the row's identity (`id_column`, else the first of
    ID_CANDIDATES, else `row_column`, the row number), so every output joins back to its input, then `keep`."""
    if id_column and id_column not in names:
        raise InputError(f"{source}: no id column '{id_column}' (columns found: {', '.join(names)})")
    identity = optional_column(names, id_column, ID_CANDIDATES, source=source) or row_column
    missing = [c for c in keep or () if c not in names and c != row_column]
    if missing:
        raise InputError(f"{source}: no column(s) {missing} to keep (columns found: {', '.join(names)})")
    kept = [identity]
    for name in keep or ():
        if name not in kept:
            kept.append(name if name == row_column else unique_column(names, name, source))
    return kept


def describe(columns: Sequence[str]) -> str:
    """`'summaries'` or `'titles' + 'summaries'`, for messages."""
    return " + ".join(repr(c) for c in columns)


def optional_column(
    names: Sequence[str], requested: str | None, candidates: Sequence[str], *, source: str
) -> str | None:
    """Like `find_column` for a column that may be absent (titles, ids)."""
    lowered = {name.lower(): name for name in reversed(list(names))}
    for candidate in [requested] if requested else list(candidates):
        if candidate in names:
            return unique_column(names, candidate, source)
        if candidate.lower() in lowered:
            return unique_column(names, lowered[candidate.lower()], source)
    return None


def unique_column(names: Sequence[str], chosen: str, source: str) -> str:
    """`chosen`, once it is known to name one column only: a header may repeat a name (CSV allows it), and
    which of the two the user meant cannot be guessed."""
    count = list(names).count(chosen)
    if count > 1:
        raise InputError(f"{source}: column '{chosen}' appears {count} times in the header; rename all but one")
    return chosen


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:20])
    return (shown + ", ...") if len(names) > 20 else (shown or "none")
