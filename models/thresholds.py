"""Decision thresholds tuned on held-out scores: one global, and one per label where the label has support.
A sigmoid trained on rare labels seldom reaches the example's 0.5; per-label values maximise micro-F1 (not each
label's own F1, which buys recall with the others' precision), and thinly supported labels keep the global."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
MIN_SUPPORT = 20
MIN_POSITIVES = 20  # below this many positive label cells in the tuning rows, 0.5 is kept for every label


@dataclass
class Thresholds:
    global_threshold: float
    per_label: np.ndarray  # [n_labels], the global value where a label had too little support
    tuned: np.ndarray  # [n_labels] bool: which labels got their own value
    note: str = ""


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float), where=denominator > 0)


def micro_f1(truth: np.ndarray, predicted: np.ndarray) -> float:
    """micro-F1 of a [rows, labels] boolean prediction against 0/1 truth."""
    truth = truth.astype(bool)
    tp = (truth & predicted).sum()
    return float(_f1(tp, (~truth & predicted).sum(), (truth & ~predicted).sum()))


def _best(grid_scores: np.ndarray, prefer: float) -> float:
    """The grid value with the highest score; ties go to the value nearest `prefer` (stable, not the first)."""
    best = grid_scores.max()
    candidates = GRID[np.isclose(grid_scores, best)]
    return float(candidates[np.argmin(np.abs(candidates - prefer))])


def _counts(truth: np.ndarray, scores: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """True positives, false positives, false negatives per grid value and label ([grid, labels] each), one grid
    value at a time: cross-fitted tuning rows can number thousands, and rows x labels x grid booleans would not fit."""
    positives = truth.sum(axis=0)
    tp = np.empty((len(GRID), truth.shape[1]), dtype=np.int64)
    predicted_count = np.empty_like(tp)
    for g, threshold in enumerate(GRID):
        predicted = scores >= threshold
        tp[g] = (predicted & truth).sum(axis=0)
        predicted_count[g] = predicted.sum(axis=0)
    return tp, predicted_count - tp, positives[None, :] - tp


def tune_thresholds(
    y_true: np.ndarray,
    scores: np.ndarray,
    *,
    min_support: int = MIN_SUPPORT,
    min_positives: int = MIN_POSITIVES,
) -> Thresholds:
    """Global threshold maximising micro-F1, then one for each supported label by coordinate ascent on micro-F1."""
    truth = y_true.astype(bool)
    positives = int(truth.sum())
    if positives < min_positives:
        n = truth.shape[1]
        return Thresholds(
            0.5,
            np.full(n, 0.5, np.float32),
            np.zeros(n, bool),
            f"kept 0.5: {positives} positive labels, tuning needs {min_positives}",
        )
    tp, fp, fn = _counts(truth, scores)
    if truth.any():
        global_threshold = _best(_f1(tp.sum(axis=1), fp.sum(axis=1), fn.sum(axis=1)), prefer=0.5)
    else:
        global_threshold = 0.5
    per_label = np.full(truth.shape[1], global_threshold, dtype=np.float32)
    tuned = truth.sum(axis=0) >= min_support
    per_label = _micro_coordinate_ascent(tp, fp, fn, per_label, np.flatnonzero(tuned))
    return Thresholds(global_threshold, per_label, tuned, f"tuned on {positives} positive labels")


def _micro_coordinate_ascent(
    tp: np.ndarray, fp: np.ndarray, fn: np.ndarray, start: np.ndarray, labels: np.ndarray, passes: int = 3
) -> np.ndarray:
    """Each label in `labels` in turn takes the grid threshold that maximises micro-F1 with every other label's
    threshold held; ties keep the current value, so a label moves only where validation micro-F1 strictly rises,
    and one that changes nothing stays at the global value. `passes` bounds the sweeps; most settle in two."""
    thresholds = start.copy()
    at = np.array([int(np.argmin(np.abs(GRID - t))) for t in thresholds])
    columns = np.arange(tp.shape[1])
    for _ in range(passes):
        moved = False
        for label in labels:
            current = (tp[at, columns].sum(), fp[at, columns].sum(), fn[at, columns].sum())
            rest = [total - counts[at[label], label] for total, counts in zip(current, (tp, fp, fn))]
            micro = _f1(rest[0] + tp[:, label], rest[1] + fp[:, label], rest[2] + fn[:, label])
            index = int(np.argmin(np.abs(GRID - _best(micro, prefer=float(GRID[at[label]])))))
            if index != at[label]:
                thresholds[label], at[label], moved = GRID[index], index, True
        if not moved:
            break
    return thresholds
