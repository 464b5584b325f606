"""Parse a labels cell in any of the shapes real files use: a list, a list literal, or a delimited string."""

from __future__ import annotations

import ast
import json
from collections.abc import Iterable, Sequence
from typing import Any

from mlc.models.errors import InputError

MAX_LITERAL_CHARS = 100_000


def parse_label_cell(value: Any, label_sep: str | None = None) -> list[str]:
    """Labels of one cell as distinct non-empty strings in their first order: a list as it is, a string that looks
    like a list read as a Python/JSON literal (never evaluated), any other string split on `label_sep` (whitespace
    when None). ValueError with the reason when the cell cannot be read."""
    if value is None:
        return []
    if isinstance(value, str):
        text = value.strip()
        if text.startswith(("[", "(", "{")):
            items = _literal_list(text)
        else:
            items = text.split(label_sep) if label_sep else text.split()
    elif isinstance(value, Iterable) and not isinstance(value, (bytes, dict)):
        items = list(value)
    else:
        raise ValueError(f"expected a list or a string of labels, got {type(value).__name__}")
    labels: list[str] = []
    for item in items:
        if not isinstance(item, str):
            raise ValueError(f"label {item!r} is not a string")
        label = item.strip()
        if label and label not in labels:
            labels.append(label)
    return labels


def _literal_list(text: str) -> list:
    if len(text) > MAX_LITERAL_CHARS:
        raise ValueError(f"list literal longer than {MAX_LITERAL_CHARS} characters")
    try:
        parsed = ast.literal_eval(text)
    except (ValueError, SyntaxError, MemoryError, RecursionError, TypeError):
        try:
            parsed = json.loads(text)
        except (json.JSONDecodeError, RecursionError) as error:
            raise ValueError("looks like a list but is not a valid Python or JSON list literal") from error
    if not isinstance(parsed, (list, tuple)):
        raise ValueError("looks like a list but is not one")
    return list(parsed)


def parse_label_column(
    values: Sequence[Any], *, source: str, column: str, label_sep: str | None = None, first_row: int = 0
) -> list[list[str]]:
    """Parse every cell, or raise an InputError naming the file, the (0-based data) row and the column."""
    parsed: list[list[str]] = []
    for offset, value in enumerate(values):
        try:
            parsed.append(parse_label_cell(value, label_sep))
        except ValueError as error:
            shown = repr(value)[:60]
            raise InputError(
                f"{source}: row {first_row + offset}: field '{column}': cannot parse labels {shown}: {error}"
            ) from error
    return parsed
