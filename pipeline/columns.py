"""Pick the columns a command works on, with an error that lists what the file does have."""
from __future__ import annotations

from collections.abc import Sequence

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
            return requested
        if requested.lower() in lowered:
            return lowered[requested.lower()]
        raise InputError(f"{source}: no {role} column '{requested}' (columns found: {_listing(names)})")
    for candidate in candidates:
        if candidate in lowered:
            return lowered[candidate]
    raise InputError(
        f"{source}: no {role} column; looked for {', '.join(candidates)} "
        f"(columns found: {_listing(names)}); pass --{role}-column"
    )


def optional_column(names: Sequence[str], requested: str | None, candidates: Sequence[str]) -> str | None:
    """Like `find_column` for a column that may be absent (titles, ids)."""
    lowered = {name.lower(): name for name in reversed(list(names))}
    for candidate in ([requested] if requested else list(candidates)):
        if candidate in names:
            return candidate
        if candidate.lower() in lowered:
            return lowered[candidate.lower()]
    return None


def _listing(names: Sequence[str]) -> str:
    shown = ", ".join(repr(n) for n in list(names)[:20])
    return (shown + ", ...") if len(names) > 20 else (shown or "none")
