"""Label vocabularies and multi-hot target matrices, as the example builds them."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence

import numpy as np


def label_vocabulary(label_lists: Sequence[Sequence[str]]) -> list[str]:
    """Labels of the training rows, most frequent first (ties by name), so the order is stable."""
    counts = Counter(label for labels in label_lists for label in labels)
    return [label for label, _ in sorted(counts.items(), key=lambda item: (-item[1], item[0]))]


def multi_hot(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> np.ndarray:
    """Rows x labels 0/1 matrix; labels outside `labels` are left out here and counted by the evaluator."""
    index = {label: i for i, label in enumerate(labels)}
    matrix = np.zeros((len(label_lists), len(labels)), dtype=np.float32)
    for row, row_labels in enumerate(label_lists):
        for label in row_labels:
            if label in index:
                matrix[row, index[label]] = 1.0
    return matrix


def label_shares(label_lists: Sequence[Sequence[str]], labels: Sequence[str]) -> dict[str, float]:
    """The share of rows that carry each label: the training data's, kept to compare later runs against."""
    if not len(label_lists):
        return {}
    counts = multi_hot(label_lists, labels).mean(axis=0)
    return {label: round(float(share), 6) for label, share in zip(labels, counts)}
