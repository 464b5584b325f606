"""Row splits stratified by label combination: the example's train/validation/test split, and k folds."""

from __future__ import annotations

import math
from collections import defaultdict
from collections.abc import Sequence

import numpy as np


def combination_key(labels: Sequence[str]) -> str:
    """One string per distinct set of labels, the unit the splits stratify by."""
    return "\x1f".join(sorted(labels))


def stratified_split(keys: list[str], fraction: float, rng: np.random.Generator) -> tuple[list[int], list[int]]:
    """Positions for (rest, held out): ceil(n * fraction) held out, each group in proportion (largest remainder)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        groups[key].append(position)
    n_out = min(len(keys) - 1, max(1, math.ceil(len(keys) * fraction)))
    names = sorted(groups)
    exact = np.array([len(groups[g]) * n_out / len(keys) for g in names])
    quota = np.floor(exact).astype(int)
    remainder = exact - quota
    order = np.lexsort((rng.random(len(names)), -remainder))
    for g in order[: n_out - int(quota.sum())]:
        quota[g] += 1
    rest: list[int] = []
    held: list[int] = []
    for g, name in enumerate(names):
        members = groups[name]
        rng.shuffle(members)
        held.extend(members[: quota[g]])
        rest.extend(members[quota[g] :])
    return sorted(rest), sorted(held)


def stratified_folds(keys: list[str], k: int, rng: np.random.Generator) -> list[list[int]]:
    """Positions in k folds: each label combination shuffled, then dealt round-robin across the folds, carrying on
    from where the previous combination stopped (so fold sizes differ by at most one)."""
    groups: dict[str, list[int]] = defaultdict(list)
    for position, key in enumerate(keys):
        groups[key].append(position)
    out: list[list[int]] = [[] for _ in range(k)]
    offset = 0
    for key in sorted(groups):
        members = groups[key]
        rng.shuffle(members)
        for j, position in enumerate(members):
            out[(offset + j) % k].append(position)
        offset += len(members)
    return out
