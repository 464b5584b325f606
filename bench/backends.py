"""The TensorFlow and JAX backends on the same inputs: equal outputs, then wall time and peak RSS of
`mlc batch-predict` with each, alternated, start-up included, with fastText in the same run as the baseline.

    python ../shared/tools/make_corpus.py --rows 200000 --out /tmp/corpus_200k.parquet
    python bench/fasttext_way.py train ../shared/data/arxiv_abstracts.csv /tmp/ft.bin
    python bench/backends.py --model-dir runs/arxiv75 --fasttext-model /tmp/ft.bin \\
        --check ../shared/data/arxiv_abstracts.csv --check /tmp/corpus_100k.parquet \\
        /tmp/corpus_200k.parquet /tmp/corpus_1m.parquet
"""

from __future__ import annotations

import argparse
import datetime
import sys
import tempfile
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
from batch_predict import machine, run

HERE = Path(__file__).resolve().parent
BACKENDS = ("tensorflow", "jax")


def mlc_command(backend: str, model_dir: str, source: Path, target: Path, *extra: str) -> list[str]:
    return [
        sys.executable, "-m", "mlc.cli.app", "batch-predict", str(source), "-m", model_dir, "-o", str(target),
        "--force", "--quiet", "--backend", backend, *extra,
    ]  # fmt: skip


def compare(model_dir: str, source: Path, scratch: Path, explain: int) -> str:
    """Both backends' outputs of one input: every row's top-3 labels and `labels`, the largest score difference,
    and how many (row, label) explanations list other terms."""
    tables = {}
    for backend in BACKENDS:
        target = scratch / f"check-{backend}.parquet"
        run(mlc_command(backend, model_dir, source, target, "--explain", str(explain)))
        tables[backend] = pq.read_table(target)
    a, b = (tables[name] for name in BACKENDS)
    top = [f"label_{i}" for i in (1, 2, 3)]
    same_top = all(a.column(name).equals(b.column(name)) for name in top)
    same_labels = a.column("labels").equals(b.column("labels"))
    difference = max(
        float(np.nanmax(np.abs(a.column(f"score_{i}").to_numpy(False) - b.column(f"score_{i}").to_numpy(False))))
        for i in (1, 2, 3)
    )
    terms = [
        [[{t["term"] for t in label} for label in row] for row in table.column("why").to_pylist()] for table in (a, b)
    ]
    other_terms = sum(x != y for row_a, row_b in zip(*terms) for x, y in zip(row_a, row_b))
    return (
        f"| {source.name} | {a.num_rows:,} | {'yes' if same_top else 'NO'} | {'yes' if same_labels else 'NO'} "
        f"| {difference:.1e} | {other_terms} |"
    )


def one_row_input(scratch: Path, source: Path) -> Path:
    path = scratch / "one_row.parquet"
    pq.write_table(pq.read_table(source).slice(0, 1), path)
    return path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path, help="Parquet inputs (id, abstract) to time")
    parser.add_argument("--model-dir", required=True)
    parser.add_argument("--fasttext-model", type=Path, help="a model from bench/fasttext_way.py train")
    parser.add_argument("--check", type=Path, action="append", default=[], help="inputs to compare outputs on")
    parser.add_argument("--explain", type=int, default=5)
    parser.add_argument("--repeat", type=int, default=2, help="alternated runs per input and pipeline")
    args = parser.parse_args()
    print(f"{machine()}, {datetime.date.today()}\n")
    with tempfile.TemporaryDirectory(prefix="mlc-backends-") as scratch_name:
        scratch = Path(scratch_name)
        inputs = [one_row_input(scratch, args.inputs[0]), *args.inputs]
        print(f"| input | rows | pipeline | wall s (best of {args.repeat}) | rows/s | peak RSS MB |")
        print("| --- | ---: | --- | ---: | ---: | ---: |")
        for source in inputs:
            rows = pq.ParquetFile(source).metadata.num_rows
            commands = {
                f"mlc --backend {b}": mlc_command(b, args.model_dir, source, scratch / "out.parquet") for b in BACKENDS
            }
            if args.fasttext_model:
                commands["fastText"] = [
                    sys.executable, str(HERE / "fasttext_way.py"), "predict", str(args.fasttext_model), str(source),
                    str(scratch / "ft.parquet"),
                ]  # fmt: skip
            results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
            for _ in range(args.repeat):  # alternated: each pipeline once per round
                for name, command in commands.items():
                    results[name].append(run(command))
            for name, runs in results.items():
                wall, rss = min(runs)  # this VM's noise only ever adds time
                print(
                    f"| {source.name} | {rows:,} | {name} | {wall:.2f} | {rows / wall:,.0f} | {rss:,.0f} |", flush=True
                )
        if args.check:  # after the timings: reading the outputs grows this process, whose peak a child inherits
            print()
            print(
                "| input | rows | top-3 equal | `labels` equal | largest score difference | explanations, other terms |"
            )
            print("| --- | ---: | --- | --- | ---: | ---: |")
            for source in args.check:
                print(compare(args.model_dir, source, scratch, args.explain), flush=True)
            print()


if __name__ == "__main__":
    pa.set_cpu_count(pa.cpu_count())
    main()
