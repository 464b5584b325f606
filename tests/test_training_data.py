from __future__ import annotations

from collections import Counter

import pytest

from mlc.models.errors import InputError
from mlc.pipeline.training_data import ColumnOptions, combination_key, load_labelled, prepare

from helpers import OTHER_SCHEMA_ROWS


def test_prepare_follows_the_example_steps(labelled_csv):
    data = load_labelled(labelled_csv, ColumnOptions())
    split = prepare(data, test_size=0.1, seed=1)
    steps = split.steps
    assert steps["rows_read"] == 800
    assert steps["after_dedupe_titles"] < steps["rows_with_text_and_labels"]
    assert steps["after_drop_rare_combinations"] < steps["after_dedupe_titles"]
    assert steps["train"] + steps["validation"] + steps["test"] == steps["after_drop_rare_combinations"]
    assert abs(steps["validation"] - steps["test"]) <= 1
    held = steps["validation"] + steps["test"]
    assert held == pytest.approx(0.1 * steps["after_drop_rare_combinations"], abs=1)
    texts = [set(part.texts) for part in (split.train, split.validation, split.test)]
    assert not (texts[0] & texts[1]) and not (texts[0] & texts[2]) and not (texts[1] & texts[2])
    # Stratified: the most common combination is held out in proportion to its share.
    combos = Counter(combination_key(row) for row in split.train.labels + split.validation.labels + split.test.labels)
    top, count = combos.most_common(1)[0]
    held_top = sum(combination_key(row) == top for row in split.validation.labels + split.test.labels)
    assert held_top == pytest.approx(count * held / steps["after_drop_rare_combinations"], abs=1.5)


def test_same_seed_same_split(labelled_csv):
    data = load_labelled(labelled_csv, ColumnOptions())
    assert prepare(data, seed=3).test.texts == prepare(data, seed=3).test.texts
    assert prepare(data, seed=3).test.texts != prepare(data, seed=4).test.texts


def test_other_schema_with_space_separated_labels(other_schema_jsonl):
    data = load_labelled(
        other_schema_jsonl, ColumnOptions(text_column="abstract", labels_column="categories", label_sep=" ")
    )
    assert data.columns == {"text": "abstract", "labels": "categories", "title": "title"}
    assert len(data) == OTHER_SCHEMA_ROWS
    assert any(len(labels) > 1 for labels in data.labels)
    assert all(" " not in label for labels in data.labels for label in labels)


def test_missing_column_lists_the_columns_found(labelled_csv):
    with pytest.raises(InputError) as error:
        load_labelled(labelled_csv, ColumnOptions(text_column="body"))
    assert "no text column 'body'" in str(error.value) and "'summaries'" in str(error.value)
