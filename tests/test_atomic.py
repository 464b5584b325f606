"""An output appears whole or not at all, whenever a Ctrl-C lands: `atomic_path` interrupted at each of its lines in
turn (a KeyboardInterrupt raised there by a trace function, where a signal's handler would raise it) leaves no temp
file, and a directory replaced in place is either its new or its previous version, never missing."""

from __future__ import annotations

import sys

import pytest

from mlc.models.atomic import atomic_path

CODE = atomic_path.__wrapped__.__code__  # type: ignore[attr-defined]
LINES = sorted({line for _, _, line in CODE.co_lines() if line is not None and line > CODE.co_firstlineno})


def _interrupted_at(line: int, target, directory: bool) -> bool:
    """Write `target` through `atomic_path` with a KeyboardInterrupt at the first time `line` runs; whether it hit."""
    hit = []

    def local(frame, event, arg):  # noqa: ANN001, ANN202
        if event == "line" and frame.f_lineno == line and not hit:
            hit.append(line)
            raise KeyboardInterrupt
        return local

    sys.settrace(lambda frame, event, arg: local if frame.f_code is CODE else None)
    try:
        with atomic_path(target, directory=directory) as tmp:
            if directory:
                (tmp / "weights").write_text("new")
            else:
                tmp.write_text("new")
    except KeyboardInterrupt:
        assert hit
    finally:
        sys.settrace(None)
    return bool(hit)


@pytest.mark.parametrize("directory", [False, True], ids=["file", "directory"])
@pytest.mark.parametrize("existing", [False, True], ids=["new", "replacing"])
def test_an_interrupt_at_any_line_leaves_a_whole_output_or_none(tmp_path, directory, existing):
    hits = 0
    for line in LINES:
        where = tmp_path / f"line{line}"
        where.mkdir()
        target = where / ("model" if directory else "out.csv")
        if existing and directory:
            target.mkdir()
            (target / "weights").write_text("old")
        elif existing:
            target.write_text("old")
        hits += _interrupted_at(line, target, directory)
        assert [p.name for p in where.iterdir()] in ([], [target.name]), (line, sorted(where.iterdir()))
        if existing:
            assert (target / "weights" if directory else target).read_text() in ("old", "new"), line
    assert hits >= 8  # the creation, the swap and the renames were each interrupted
