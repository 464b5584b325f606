"""What a run tagged, for cron and for the queue's log: rows, bad rows by reason, speed, the model id, and per
label the share of rows given it (at or over its threshold) and as top-1, beside the share in the model's own
training data. A label whose share moved too far from its training share, by more than chance explains, is drift."""

from __future__ import annotations

import json
import math
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa

from mlc.models.atomic import write_whole
from mlc.models.errors import UsageError
from mlc.models.predictions import Predictions

# The chance that a run of data like the training data calls any label drift (shared among the labels tested).
FAMILY_ERROR = 0.001


@dataclass(frozen=True)
class DriftTolerance:
    """A label drifts when its share and its training share differ by at least `factor` times, by at least `points`
    percentage points, and by more than chance explains: an exact binomial test of its count at the training
    share, at `FAMILY_ERROR` shared among the labels (Bonferroni), so a handful of rows is never called drift."""

    factor: float = 2.0
    points: float = 2.0

    @classmethod
    def parse(cls, text: str) -> DriftTolerance:
        """`FACTOR` or `FACTOR,POINTS`, e.g. `2` or `1.5,1`."""
        try:
            parts = [float(part) for part in text.split(",")]
        except ValueError:
            parts = []
        if len(parts) not in (1, 2) or parts[0] <= 1 or any(not math.isfinite(p) or p < 0 for p in parts):
            raise UsageError(f"--drift-tolerance {text!r}: expected FACTOR[,POINTS] with FACTOR > 1, e.g. 2 or 2,2")
        return cls(*parts)

    def moved(self, share: float, training_share: float) -> bool:
        """Whether the shares differ by the factor and the points (the size of the change, not its evidence)."""
        low, high = sorted((share, training_share))
        ratio = high / low if low > 0 else math.inf
        return ratio >= self.factor and (high - low) * 100 >= self.points


def binomial_p_value(count: int, rows: int, share: float) -> float:
    """Two-sided exact binomial test of `count` of `rows` at `share`: twice the smaller tail, at most 1."""
    if share <= 0.0 or share >= 1.0:
        return 1.0 if count == round(share * rows) else 0.0
    upper = count > rows * share
    term = math.exp(
        math.lgamma(rows + 1)
        - math.lgamma(count + 1)
        - math.lgamma(rows - count + 1)
        + count * math.log(share)
        + (rows - count) * math.log1p(-share)
    )
    tail, j = term, count
    odds = share / (1 - share)
    while term > tail * 1e-12:  # away from the mean each term is smaller than the last
        if upper:
            if j == rows:
                break
            term *= (rows - j) / (j + 1) * odds
            j += 1
        else:
            if j == 0:
                break
            term *= j / (rows - j + 1) / odds
            j -= 1
        tail += term
        if tail >= 0.5:  # the p-value is 1 from here on
            break
    return min(1.0, 2 * tail)


def smallest_p_value(rows: int, share: float) -> float:
    """The strongest evidence `rows` rows can give against `share`: all or none of them with the label."""
    return min(binomial_p_value(0, rows, share), binomial_p_value(rows, rows, share))


@dataclass
class LabelCounts:
    """Counts over the rows of one output (or many, merged): bad rows by reason, and per label how many rows got
    it over the threshold and as their top-1 label."""

    n_labels: int
    rows: int = 0
    bad: Counter = field(default_factory=Counter)
    over: np.ndarray | None = None
    top_1: np.ndarray | None = None

    def __post_init__(self) -> None:
        self.over = np.zeros(self.n_labels, np.int64) if self.over is None else self.over
        self.top_1 = np.zeros(self.n_labels, np.int64) if self.top_1 is None else self.top_1

    @property
    def tagged(self) -> int:
        return self.rows - sum(self.bad.values())

    def add(self, predictions: Predictions, bad: np.ndarray, reasons: pa.Array) -> None:
        good = ~bad
        self.rows += len(bad)
        if bad.any():
            self.bad.update(reason for reason in reasons.filter(pa.array(bad)).to_pylist())
        self.over += predictions.above[good].sum(axis=0)
        self.top_1 += np.bincount(predictions.indices[good, 0], minlength=self.n_labels)

    def merge(self, other: LabelCounts) -> None:
        self.rows += other.rows
        self.bad.update(other.bad)
        self.over += other.over
        self.top_1 += other.top_1

    def shares(self, labels: list[str], training: dict[str, float], tolerance: DriftTolerance) -> list[dict]:
        """Per label, most given first: its shares now and in training, the test's p-value, whether this many rows
        could show drift at all (`decidable`), and whether it drifted."""
        tagged = max(self.tagged, 1)
        tested = sum(1 for label in labels if label in training) or 1
        level = FAMILY_ERROR / tested
        rows = []
        for i, label in enumerate(labels):
            share, before = float(self.over[i]) / tagged, training.get(label)
            p_value = binomial_p_value(int(self.over[i]), self.tagged, before) if before is not None else None
            decidable = before is not None and self.tagged > 0 and smallest_p_value(self.tagged, before) < level
            rows.append(
                {
                    "label": label,
                    "share": round(share, 6),
                    "top_1_share": round(float(self.top_1[i]) / tagged, 6),
                    "training_share": before,
                    "p_value": None if p_value is None else float(f"{p_value:.3g}"),
                    "decidable": decidable,
                    "drift": bool(decidable and p_value < level and tolerance.moved(share, before)),
                }
            )
        return sorted(rows, key=lambda row: (-row["share"], row["label"]))


def run_report(
    counts: LabelCounts,
    *,
    model_id: str,
    model_dir: str,
    labels: list[str],
    training_shares: dict[str, float],
    seconds: float,
    inputs: list[dict[str, Any]],
    tolerance: DriftTolerance,
) -> dict[str, Any]:
    """The report as `--report` writes it (JSON)."""
    per_label = counts.shares(labels, training_shares, tolerance)
    return {
        "model_id": model_id,
        "model_dir": model_dir,
        "inputs": inputs,
        "rows": counts.rows,
        "tagged_rows": counts.tagged,
        "bad_rows": dict(sorted(counts.bad.items())),
        "seconds": round(seconds, 3),
        "rows_per_second": round(counts.rows / seconds, 1) if seconds > 0 else 0.0,
        "drift_tolerance": {"factor": tolerance.factor, "points": tolerance.points, "family_error": FAMILY_ERROR},
        "drift": [row["label"] for row in per_label if row["drift"]],
        # labels whose drift this many rows cannot show, whatever their count: too few rows to tell
        "too_few_rows_for": [
            row["label"] for row in per_label if row["training_share"] is not None and not row["decidable"]
        ],
        "labels": per_label,
    }


def write_report(report: dict[str, Any], target: Path) -> None:
    """Written whole or not at all, as every output (a device or descriptor such as `/dev/stdout`: in place)."""
    write_whole(target, (json.dumps(report, indent=2, ensure_ascii=False) + "\n").encode("utf-8"))


def drift_message(report: dict[str, Any]) -> str:
    """One line naming each drifted label with its share now and in training."""
    moved = [row for row in report["labels"] if row["drift"]]
    parts = [f"{row['label']} {row['share']:.1%} (training {row['training_share']:.1%})" for row in moved]
    return f"{len(moved)} label(s) drifted from the model's training data: " + ", ".join(parts)


def share_line(counts: LabelCounts, labels: list[str], training: dict[str, float], top: int = 5) -> str:
    """The queue's periodic line: the most given labels with their training shares."""
    rows = counts.shares(labels, training, DriftTolerance())[:top]
    listed = ", ".join(
        f"{row['label']} {row['share']:.0%}"
        + (f" (training {row['training_share']:.0%})" if row["training_share"] is not None else "")
        for row in rows
    )
    return f"label shares over {counts.tagged} tagged: {listed}"
