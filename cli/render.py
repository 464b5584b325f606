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


def report_table(report: dict[str, Any], limit: int = 15) -> Table:
    """`--report`: per label, the share of tagged rows given it and as top-1, beside the training share; the most
    given labels and every drifted one."""
    table = Table(
        title=f"model {report['model_id']}: {report['tagged_rows']} of {report['rows']} rows tagged, "
        f"{report['rows_per_second']:,.0f} rows/s overall",
        title_justify="left",
    )
    for name in ("label", "share", "top-1", "training", "drift"):
        table.add_column(name, justify="left" if name == "label" else "right")
    shown = [row for i, row in enumerate(report["labels"]) if i < limit or row["drift"]]
    for row in shown:
        before = row["training_share"]
        table.add_row(
            row["label"],
            f"{row['share']:.1%}",
            f"{row['top_1_share']:.1%}",
            "" if before is None else f"{before:.1%}",
            "DRIFT" if row["drift"] else ("" if row.get("decidable", True) else "too few rows to tell"),
        )
    for reason, count in report["bad_rows"].items():
        table.add_row(f"(bad rows: {reason})", str(count), "", "", "")
    return table


def explanation_tables(number: int, text: str, labels: list[Any]) -> list[Any]:
    """`mlc explain`: a heading for the text, then per top label a table of its n-grams for and against."""
    from rich.text import Text

    shown = " ".join(text.split())
    out: list[Any] = [Text(f"\n{number}. {shown[:100]}{'...' if len(shown) > 100 else ''}", style="bold")]
    if not labels:
        out.append(Text("   no words: nothing to explain"))
    for label in labels:
        mark = "over its threshold" if label.above else "under its threshold"
        if not label.terms and not label.against:
            out.append(Text(f"{label.label}  {label.score:.3f} ({mark}): no n-gram of the text is in the vocabulary"))
            continue
        table = Table(title=f"{label.label}  {label.score:.3f} ({mark})", title_justify="left")
        table.add_column("for: n-gram")
        table.add_column("weight", justify="right")
        table.add_column("against: n-gram")
        table.add_column("weight", justify="right")
        for row in range(max(len(label.terms), len(label.against), 1)):
            cells = []
            for part in (label.terms, label.against):
                cells += [part[row][0], f"{part[row][1]:+.3f}"] if row < len(part) else ["", ""]
            table.add_row(*cells)
        out.append(table)
    return out


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
        table.add_row(
            name, str(row["support"]), str(row["predicted"]), *(f"{row[k]:.3f}" for k in ("precision", "recall", "f1"))
        )
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
