"""Human-readable summaries of what the commands return (rich tables on stdout, progress on stderr)."""
from __future__ import annotations

from typing import Any

from rich.console import Console
from rich.table import Table

console = Console()
err_console = Console(stderr=True)

HEADLINE_METRICS = (
    "binary_accuracy",
    "binary_accuracy_predict_nothing",
    "micro_f1",
    "macro_f1",
    "hamming_loss",
    "subset_accuracy",
)
AT_K_PREFIXES = ("precision@", "recall@", "ndcg@")


def metric_names(metrics: dict[str, Any]) -> list[str]:
    """Headline metrics, then every @k metric the report holds, grouped by k."""
    at_k = [name for name in metrics if name.startswith(AT_K_PREFIXES)]
    at_k.sort(key=lambda name: (int(name.split("@")[1]), AT_K_PREFIXES.index(name.split("@")[0] + "@")))
    return [name for name in HEADLINE_METRICS if name in metrics] + at_k


def metrics_table(metrics: dict[str, Any], title: str) -> Table:
    table = Table(title=title)
    table.add_column("metric")
    table.add_column("value", justify="right")
    table.add_row("rows", str(metrics.get("rows")))
    for name in metric_names(metrics):
        table.add_row(name, f"{metrics[name]:.4f}")
    unknown = metrics.get("unknown_labels", {})
    if unknown.get("occurrences"):
        table.add_row("labels unknown to the model", f"{unknown['occurrences']} in {unknown['rows']} rows")
    return table


def per_label_table(rows: list[dict[str, Any]], limit: int = 40) -> Table:
    table = Table(title=f"Per label (top {min(limit, len(rows))} by support)")
    for name in ("label", "support", "predicted", "precision", "recall", "f1"):
        table.add_column(name, justify="left" if name == "label" else "right")
    for row in sorted(rows, key=lambda r: -r["support"])[:limit]:
        name = row["label"] if row["known"] else f"{row['label']} (unknown)"
        table.add_row(name, str(row["support"]), str(row["predicted"]), *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1")))
    return table


def steps_table(steps: dict[str, int]) -> Table:
    table = Table(title="Rows per preprocessing step")
    table.add_column("step")
    table.add_column("rows", justify="right")
    for name, count in steps.items():
        table.add_row(name, str(count))
    return table


def compare_table(first: dict[str, Any], second: dict[str, Any], title: str) -> Table:
    """Two reports on the same data side by side, with the difference (second - first)."""
    table = Table(title=title)
    table.add_column("metric")
    table.add_column(str(first.get("model_dir")), justify="right")
    table.add_column(str(second.get("model_dir")), justify="right")
    table.add_column("difference", justify="right")
    table.add_row("rows", str(first.get("rows")), str(second.get("rows")), "")
    for name in metric_names(first):
        if name in second:
            table.add_row(name, f"{first[name]:.4f}", f"{second[name]:.4f}", f"{second[name] - first[name]:+.4f}")
    return table
