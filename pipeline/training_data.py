"""Labelled data for training and evaluation, read and split the way the Keras example does: duplicate titles
dropped, label combinations seen once dropped, a stratified train/holdout split, the holdout halved into
validation and test. Each step's row count is kept for the model's metadata."""

from __future__ import annotations

import hashlib
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pyarrow as pa

from mlc.models.errors import InputError
from mlc.models.splits import combination_key, stratified_split
from mlc.pipeline.columns import (
    LABEL_CANDIDATES,
    TITLE_CANDIDATES,
    find_column,
    joined_text,
    optional_column,
    text_columns,
)
from mlc.pipeline.download import DEFAULT_DATA_URL, fetch, is_url
from mlc.pipeline.labels import parse_label_column
from mlc.pipeline.readers import STDIN, ReadOptions, read_table


@dataclass(frozen=True)
class ColumnOptions:
    """Which columns hold the text, the labels and (optionally) the title, and how labels are delimited."""

    text_column: str | None = None
    labels_column: str | None = None
    title_column: str | None = None
    label_sep: str | None = None
    input_format: str | None = None


@dataclass
class LabelledData:
    """Texts with their label lists, plus where they came from and what was dropped on the way."""

    source: str
    texts: list[str]
    labels: list[list[str]]
    titles: list[str] | None
    columns: dict[str, str | None]
    steps: dict[str, int] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Subset:
    texts: list[str]
    labels: list[list[str]]

    def __len__(self) -> int:
        return len(self.texts)


@dataclass
class Split:
    train: Subset
    validation: Subset
    test: Subset
    steps: dict[str, int]


def resolve_data(source: str | None, *, quiet: bool = False) -> tuple[Path, str]:
    """A local path for `--data` (downloaded into the cache when it is a URL or absent) and its display name."""
    source = source or DEFAULT_DATA_URL
    if is_url(source):
        return fetch(source, quiet=quiet), source
    if source == STDIN:
        return Path(STDIN), source
    path = Path(source).expanduser()
    if not path.exists():
        raise InputError(f"{source}: no such file")
    return path, source


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(1 << 20):
            digest.update(chunk)
    return digest.hexdigest()


def load_labelled(
    path: Path, options: ColumnOptions, *, source: str | None = None, preferred_text: list[str] | None = None
) -> LabelledData:
    """Read a labelled file; rows without text or without labels are dropped and counted, bad labels fail."""
    name = source or str(path)
    table = read_table(path, ReadOptions(input_format=options.input_format))
    names = table.column_names
    text_cols = text_columns(names, options.text_column, source=name, preferred=preferred_text)
    labels_column = find_column(names, options.labels_column, LABEL_CANDIDATES, source=name, role="labels")
    title_column = optional_column(names, options.title_column, TITLE_CANDIDATES, source=name)
    if options.title_column and title_column is None:
        raise InputError(f"{name}: no title column '{options.title_column}' (columns found: {', '.join(names)})")
    texts = _as_text(joined_text([table.column(c) for c in text_cols], text_cols, name))
    labels = parse_label_column(
        table.column(labels_column).to_pylist(), source=name, column=labels_column, label_sep=options.label_sep
    )
    titles = _as_text(joined_text([table.column(title_column)], [title_column], name)) if title_column else None
    keep = [i for i, (text, row) in enumerate(zip(texts, labels)) if text.strip() and row]
    steps = {"rows_read": len(texts), "rows_with_text_and_labels": len(keep)}
    return LabelledData(
        source=name,
        texts=[texts[i] for i in keep],
        labels=[labels[i] for i in keep],
        titles=[titles[i] for i in keep] if titles is not None else None,
        columns={
            "text": text_cols[0] if len(text_cols) == 1 else text_cols,
            "labels": labels_column,
            "title": title_column,
        },
        steps=steps,
    )


def _as_text(column: pa.ChunkedArray) -> list[str]:
    return ["" if value is None else value for value in column.to_pylist()]


def prepare(data: LabelledData, *, test_size: float = 0.1, seed: int = 42) -> Split:
    """Dedupe titles, drop one-off label combinations, stratified split; every step counted."""
    if not 0.0 < test_size < 1.0:
        raise InputError(f"--test-size must be between 0 and 1, got {test_size}")
    steps = dict(data.steps)
    indices = list(range(len(data)))
    if data.titles is not None:
        seen: set[str] = set()
        deduped = []
        for i in indices:
            if data.titles[i] not in seen:
                seen.add(data.titles[i])
                deduped.append(i)
        indices = deduped
        steps["after_dedupe_titles"] = len(indices)
    combos = Counter(combination_key(data.labels[i]) for i in indices)
    indices = [i for i in indices if combos[combination_key(data.labels[i])] > 1]
    steps["after_drop_rare_combinations"] = len(indices)
    if len(indices) < 10:
        raise InputError(
            f"{data.source}: only {len(indices)} usable rows after preprocessing (need at least 10); "
            "every label combination must occur at least twice"
        )
    rng = np.random.default_rng(seed)
    keys = [combination_key(data.labels[i]) for i in indices]
    train_pos, holdout_pos = stratified_split(keys, test_size, rng)
    holdout_keys = [keys[p] for p in holdout_pos]
    val_rel, test_rel = stratified_split(holdout_keys, 0.5, rng)
    train = [indices[p] for p in train_pos]
    validation = [indices[holdout_pos[p]] for p in val_rel]
    test = [indices[holdout_pos[p]] for p in test_rel]
    steps.update(train=len(train), validation=len(validation), test=len(test))
    return Split(_subset(data, train), _subset(data, validation), _subset(data, test), steps)


def _subset(data: LabelledData, indices: list[int]) -> Subset:
    return Subset([data.texts[i] for i in indices], [data.labels[i] for i in indices])
