"""Multi-label metrics, one name each, in plain NumPy: Keras's `binary_accuracy` (the example's), what judges a
tagger (micro/macro F1, @k figures, subset accuracy) and what predicting nothing scores. Labels the model does
not know count as misses and are reported, never dropped."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

import numpy as np

KERAS_THRESHOLD = 0.5


def binary_accuracy(y_true: np.ndarray, scores: np.ndarray) -> float:
    """Keras's `binary_accuracy` at 0.5: the share of label cells where (score > 0.5) equals the truth."""
    if y_true.size == 0:
        return float("nan")
    return float(np.mean((scores > KERAS_THRESHOLD) == (y_true > 0.5)))


def _safe_div(numerator: np.ndarray | float, denominator: np.ndarray | float) -> Any:
    return np.divide(
        numerator, denominator, out=np.zeros_like(np.asarray(numerator, dtype=float)), where=np.asarray(denominator) > 0
    )


def evaluate_scores(
    label_lists: Sequence[Sequence[str]],
    scores: np.ndarray,
    labels: Sequence[str],
    *,
    threshold: float | np.ndarray = 0.5,
    ks: Sequence[int] = (1, 3),
) -> dict[str, Any]:
    """All metrics for rows of true label lists against a [rows, len(labels)] score matrix."""
    model_labels = list(labels)
    unknown = Counter(label for row in label_lists for label in row if label not in set(model_labels))
    all_labels = model_labels + sorted(unknown)
    index = {label: i for i, label in enumerate(all_labels)}
    n_rows, n_model = len(label_lists), len(model_labels)
    y_true = np.zeros((n_rows, len(all_labels)), dtype=bool)
    for row, row_labels in enumerate(label_lists):
        for label in row_labels:
            y_true[row, index[label]] = True
    all_scores = np.zeros((n_rows, len(all_labels)), dtype=np.float32)
    all_scores[:, :n_model] = scores
    thresholds = np.full(len(all_labels), 2.0, dtype=np.float32)  # unknown labels are never predicted
    thresholds[:n_model] = threshold
    y_pred = all_scores >= thresholds

    tp = (y_true & y_pred).sum(axis=0)
    fp = (~y_true & y_pred).sum(axis=0)
    fn = (y_true & ~y_pred).sum(axis=0)
    support = y_true.sum(axis=0)
    precision = _safe_div(tp, tp + fp)
    recall = _safe_div(tp, tp + fn)
    f1 = _safe_div(2 * precision * recall, precision + recall)
    micro_p = float(_safe_div(tp.sum(), tp.sum() + fp.sum()))
    micro_r = float(_safe_div(tp.sum(), tp.sum() + fn.sum()))
    present = support > 0

    report: dict[str, Any] = {
        "rows": n_rows,
        "labels": n_model,
        "threshold": float(threshold) if np.isscalar(threshold) else "per-label",
        "binary_accuracy": binary_accuracy(y_true[:, :n_model], scores),
        "binary_accuracy_predict_nothing": float(1.0 - y_true[:, :n_model].mean())
        if n_rows and n_model
        else float("nan"),
        "micro_precision": micro_p,
        "micro_recall": micro_r,
        "micro_f1": float(_safe_div(2 * micro_p * micro_r, micro_p + micro_r)),
        "macro_f1": float(f1[present].mean()) if present.any() else 0.0,
        "hamming_loss": float(np.mean(y_true != y_pred)) if n_rows else float("nan"),
        "subset_accuracy": float(np.mean(np.all(y_true == y_pred, axis=1))) if n_rows else float("nan"),
    }
    report.update(at_k(y_true, all_scores, n_model, ks))
    report["unknown_labels"] = {
        "occurrences": int(sum(unknown.values())),
        "rows": int(sum(1 for row in label_lists if any(label in unknown for label in row))),
        "labels": dict(unknown.most_common()),
    }
    report["per_label"] = [
        {
            "label": all_labels[i],
            "known": i < n_model,
            "support": int(support[i]),
            "predicted": int(tp[i] + fp[i]),
            "precision": float(precision[i]),
            "recall": float(recall[i]),
            "f1": float(f1[i]),
        }
        for i in range(len(all_labels))
    ]
    return report


def at_k(y_true: np.ndarray, scores: np.ndarray, n_model: int, ks: Sequence[int]) -> dict[str, float]:
    """precision@k, recall@k and nDCG@k (binary relevance) over rows that have at least one true label; the top k
    come from known labels. Unknown true labels count in the denominators (recall, ideal DCG) as misses."""
    has_labels = y_true.any(axis=1)
    result: dict[str, float] = {}
    if not has_labels.any() or n_model == 0:
        return {f"{name}@{k}": float("nan") for k in ks for name in ("precision", "recall", "ndcg")}
    truth = y_true[has_labels]
    n_true = truth.sum(axis=1)
    ranked = np.argsort(-scores[has_labels, :n_model], axis=1, kind="stable")
    for k in ks:
        top = ranked[:, : min(k, n_model)]
        relevant = np.take_along_axis(truth[:, :n_model], top, axis=1)
        hits = relevant.sum(axis=1)
        discounts = 1.0 / np.log2(np.arange(2, k + 2))
        dcg = (relevant * discounts[: relevant.shape[1]]).sum(axis=1)
        ideal = np.cumsum(discounts)[np.minimum(n_true, k) - 1]
        result[f"precision@{k}"] = float(np.mean(hits / k))
        result[f"recall@{k}"] = float(np.mean(hits / n_true))
        result[f"ndcg@{k}"] = float(np.mean(dcg / ideal))
    return result
