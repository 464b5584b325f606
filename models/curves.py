"""history.csv and training_curves.png: loss and binary accuracy, train vs validation, as the example plots them."""

from __future__ import annotations

import csv
from pathlib import Path


def write_history_csv(history: dict[str, list[float]], path: Path) -> None:
    names = list(history)
    epochs = len(next(iter(history.values()), []))
    with open(path, "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["epoch", *names])
        for epoch in range(epochs):
            writer.writerow([epoch + 1, *(history[name][epoch] for name in names)])


def plot_history(history: dict[str, list[float]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    figure, axes = plt.subplots(1, 2, figsize=(11, 4))
    for axis, item in zip(axes, ("loss", "binary_accuracy")):
        for prefix, style in (("", "-"), ("val_", "--")):
            values = history.get(prefix + item)
            if values:
                axis.plot(
                    range(1, len(values) + 1), values, style, label=("validation " if prefix else "train ") + item
                )
        axis.set_xlabel("epoch")
        axis.set_title(f"Train and validation {item} over epochs")
        axis.legend()
        axis.grid(True, alpha=0.3)
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    plt.close(figure)
