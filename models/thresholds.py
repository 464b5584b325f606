"""Decision thresholds tuned on the validation split: one global, and one per label where the label has support.

The example decides at 0.5 for every label. A sigmoid trained on rare labels seldom reaches 0.5, so most of them
are never predicted; the threshold that maximises F1 on held-out rows is usually lower. A per-label threshold
fitted on a handful of positives over-fits, so labels with fewer than `min_support` validation positives keep
the global one.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

GRID = np.round(np.arange(0.05, 0.951, 0.01), 2)
MIN_SUPPORT = 20
# Below this many positive label cells in the validation split the example's 0.5 is kept for every label.
# 5-fold CV on the 800 shared rows (bench/quality.py), validation splits of ~27 rows: micro-F1 0.691 -> 0.710
# with tuning, so even small splits earn it; one split alone can mislead (the default split: 0.708 -> 0.647).
MIN_POSITIVES = 20


@dataclass
class Thresholds:
    global_threshold: float
    per_label: np.ndarray  # [n_labels], the global value where a label had too little support
    tuned: np.ndarray  # [n_labels] bool: which labels got their own value
    note: str = ""


def _f1(tp: np.ndarray, fp: np.ndarray, fn: np.ndarray) -> np.ndarray:
    denominator = 2 * tp + fp + fn
    return np.divide(2 * tp, denominator, out=np.zeros_like(denominator, dtype=float), where=denominator > 0)


def _best(grid_scores: np.ndarray, prefer: float) -> float:
    """The grid value with the highest score; ties go to the value nearest `prefer` (stable, not the first)."""
    best = grid_scores.max()
    candidates = GRID[np.isclose(grid_scores, best)]
    return float(candidates[np.argmin(np.abs(candidates - prefer))])


def tune_thresholds(
    y_true: np.ndarray, scores: np.ndarray, *, min_support: int = MIN_SUPPORT, min_positives: int = MIN_POSITIVES
) -> Thresholds:
    """Global threshold maximising micro-F1, then per-label thresholds maximising each supported label's F1."""
    truth = y_true.astype(bool)
    positives = int(truth.sum())
    if positives < min_positives:
        n = truth.shape[1]
        return Thresholds(0.5, np.full(n, 0.5, np.float32), np.zeros(n, bool),
                          f"kept 0.5: {positives} positive labels in the validation split, tuning needs {min_positives}")
    predicted = scores[None, :, :] >= GRID[:, None, None]  # [grid, rows, labels]
    tp = (predicted & truth).sum(axis=1)
    fp = (predicted & ~truth).sum(axis=1)
    fn = (~predicted & truth).sum(axis=1)
    if truth.any():
        global_threshold = _best(_f1(tp.sum(axis=1), fp.sum(axis=1), fn.sum(axis=1)), prefer=0.5)
    else:
        global_threshold = 0.5
    per_label = np.full(truth.shape[1], global_threshold, dtype=np.float32)
    tuned = truth.sum(axis=0) >= min_support
    label_f1 = _f1(tp, fp, fn)  # [grid, labels]
    for label in np.flatnonzero(tuned):
        per_label[label] = _best(label_f1[:, label], prefer=global_threshold)
    return Thresholds(global_threshold, per_label, tuned, f"tuned on {positives} positive labels in the validation split")
