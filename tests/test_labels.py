from __future__ import annotations

import pytest

from mlc.models.errors import InputError
from mlc.pipeline.labels import parse_label_cell, parse_label_column


@pytest.mark.parametrize(
    ("cell", "sep", "expected"),
    [
        ("['cs.CV', 'cs.LG']", None, ["cs.CV", "cs.LG"]),
        ('["cs.CV", "cs.LG"]', None, ["cs.CV", "cs.LG"]),
        (["cs.CV", "cs.LG", "cs.CV"], None, ["cs.CV", "cs.LG"]),
        ("math.CO cs.CG", None, ["math.CO", "cs.CG"]),
        ("math.CO;cs.CG; ", ";", ["math.CO", "cs.CG"]),
        ("  cs.LG  ", None, ["cs.LG"]),
        ("", None, []),
        (None, None, []),
        ("[]", None, []),
    ],
)
def test_parse_label_cell_shapes(cell, sep, expected):
    assert parse_label_cell(cell, sep) == expected


@pytest.mark.parametrize("cell", ["['cs.CV', ", "[1, 2]", "{'a': 1}", "[__import__('os').system('true')]"])
def test_parse_label_cell_refuses_what_is_not_a_list_of_strings(cell):
    with pytest.raises(ValueError):
        parse_label_cell(cell)


def test_parse_label_column_names_row_and_field():
    with pytest.raises(InputError) as error:
        parse_label_column(["['a']", "['b'", "c"], source="data.csv", column="terms")
    assert "data.csv: row 1: field 'terms'" in str(error.value)
