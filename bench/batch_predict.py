"""Benchmark batch-predict end to end (Parquet in, Parquet out, top-3) against the Keras example's way, fastText
and Annif.

Each pipeline runs as its own process on the same input in the same run; wall time covers start-up, model
load, read, predict and write. Peak RSS is the child's maximum resident set (wait4, bench/peak_rss.py). Inputs come from
../shared/tools/make_corpus.py; the baseline holds every row densely, so it runs only up to --baseline-max-rows.

    python ../shared/tools/make_corpus.py --rows 100000  --out /tmp/corpus_100k.parquet
    python ../shared/tools/make_corpus.py --rows 1000000 --out /tmp/corpus_1m.parquet
    python bench/batch_predict.py --model-dir runs/arxiv75 --fasttext-data ../shared/data/arxiv_abstracts.csv \
        /tmp/corpus_100k.parquet /tmp/corpus_1m.parquet
    python bench/batch_predict.py --model-dir runs/arxiv75 --annif /tmp/annif/bin/annif \
        --annif-data ../shared/data/arxiv_abstracts.csv /tmp/corpus_100k.parquet      # Annif (bench/annif_way.py)
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

import pyarrow.parquet as pq
from peak_rss import measured

HERE = Path(__file__).resolve().parent


def run(command: list[str]) -> tuple[float, float]:
    """(wall seconds, peak RSS in MB) of one child process; fails loudly if the child fails."""
    return measured(command)


def machine() -> str:
    cpu = "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") / 2**30
    system = f"{platform.system()} {platform.machine()}, {os.cpu_count()} cores ({cpu}), {memory:.0f} GiB RAM"
    return f"{system}, Python {platform.python_version()}"


def median_run(command: list[str], repeat: int) -> tuple[float, float]:
    """Median wall time (and the peak RSS of that run) over `repeat` runs: this 2-core VM varies by up to 1.6x."""
    runs = sorted(run(command) for _ in range(repeat))
    return runs[len(runs) // 2]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("inputs", nargs="+", type=Path)
    parser.add_argument("--model-dir", type=Path, required=True)
    parser.add_argument("--batch-size", type=int, default=None, help="mlc --batch-size (default: mlc's)")
    parser.add_argument(
        "--baseline-max-rows", type=int, default=100_000, help="largest input the example's way runs on"
    )
    parser.add_argument("--fasttext-data", type=Path, help="train fastText on this labelled file and run it too")
    parser.add_argument("--annif", help="annif command of Annif's own virtualenv: trained on --annif-data, then run")
    parser.add_argument("--annif-data", type=Path, help="labelled file Annif (Omikuji) is trained on")
    parser.add_argument("--annif-max-rows", type=int, default=100_000, help="largest input Annif runs on")
    parser.add_argument("--repeat", type=int, default=3, help="runs per pipeline and input; the median is reported")
    parser.add_argument(
        "--other-model-dir",
        type=Path,
        help="also run mlc with this model (e.g. the same vocabulary trained with other settings)",
    )
    parser.add_argument(
        "--example-model-dir",
        type=Path,
        help="the model the example's way runs (default: --model-dir); "
        "give it the --example-settings model to time the example's own model in the example's pipeline",
    )
    args = parser.parse_args()

    mlc = [sys.executable, "-m", "mlc.cli.app"]
    results = []
    with tempfile.TemporaryDirectory() as scratch:
        annif_home = None
        if args.annif:
            annif_home = Path(scratch) / "annif"
            subprocess.run(
                [
                    sys.executable,
                    str(HERE / "annif_way.py"),
                    "--annif",
                    args.annif,
                    "train",
                    str(args.annif_data),
                    str(annif_home),
                ],
                check=True,
            )
        fasttext_model = None
        if args.fasttext_data:
            fasttext_model = Path(scratch) / "fasttext.bin"
            subprocess.run(
                [sys.executable, str(HERE / "fasttext_way.py"), "train", str(args.fasttext_data), str(fasttext_model)],
                check=True,
            )
        for source in args.inputs:
            rows = pq.ParquetFile(source).metadata.num_rows
            out = Path(scratch) / "out.parquet"
            command = [
                *mlc,
                "batch-predict",
                str(source),
                "--model-dir",
                str(args.model_dir),
                "-o",
                str(out),
                "--quiet",
            ]
            if args.batch_size:
                command += ["--batch-size", str(args.batch_size)]
            entry: dict = {"rows": rows, "mlc": median_run(command, args.repeat)}
            assert pq.ParquetFile(out).metadata.num_rows == rows
            if args.other_model_dir:
                other = [
                    *command[: command.index("--model-dir") + 1],
                    str(args.other_model_dir),
                    *command[command.index("--model-dir") + 2 :],
                ]
                entry["other"] = median_run(other, args.repeat)
                assert pq.ParquetFile(out).metadata.num_rows == rows
            if rows <= args.baseline_max_rows:
                entry["example"] = median_run(
                    [
                        sys.executable,
                        str(HERE / "example_way.py"),
                        str(source),
                        str(args.example_model_dir or args.model_dir),
                        str(out),
                    ],
                    1,
                )
            if annif_home is not None and rows <= args.annif_max_rows:
                annif = [sys.executable, str(HERE / "annif_way.py"), "--annif", args.annif]
                entry["annif"] = median_run([*annif, "index", str(annif_home), str(source), str(out) + ".jsonl"], 1)
            if fasttext_model is not None:
                entry["fasttext"] = median_run(
                    [
                        sys.executable,
                        str(HERE / "fasttext_way.py"),
                        "predict",
                        str(fasttext_model),
                        str(source),
                        str(out),
                    ],
                    args.repeat,
                )
            results.append(entry)
            line = f"{rows:>9,} rows  " + "  ".join(
                f"{name} {rows / timing[0]:>8,.0f} rows/s {timing[1]:>6,.0f} MB"
                for name, timing in entry.items()
                if name != "rows"
            )
            print(line, flush=True)

    names = {
        "mlc": "mlc batch-predict",
        "other": f"mlc batch-predict, {args.other_model_dir}",
        "example": f"the example's way, {args.example_model_dir or args.model_dir}",
        "fasttext": "fastText (ova, bigrams)",
        "annif": "Annif 1.4 (Omikuji), `annif index`",
    }
    print(
        f"\nmodel: {args.model_dir}{f' (other: {args.other_model_dir})' if args.other_model_dir else ''}; "
        f"median of {args.repeat} runs for mlc and fastText, one run of the example's way"
    )
    print("\n| rows | pipeline | seconds | rows/s | peak RSS (MB) | mlc speed-up |")
    print("| ---: | --- | ---: | ---: | ---: | ---: |")
    for e in results:
        mlc_seconds = e["mlc"][0]
        for name in ("mlc", "other", "example", "fasttext", "annif"):
            if name in e:
                seconds, rss = e[name]
                ratio = "" if name == "mlc" else f"**{seconds / mlc_seconds:.1f}x**"
                print(
                    f"| {e['rows']:,} | {names[name]} | {seconds:.1f} | {e['rows'] / seconds:,.0f} | {rss:,.0f} "
                    f"| {ratio} |"
                )
    if len(results) > 1:
        small, large = min(results, key=lambda e: e["rows"]), max(results, key=lambda e: e["rows"])
        print(
            f"\nmlc peak RSS at {large['rows']:,} rows / at {small['rows']:,} rows: "
            f"{large['mlc'][1] / small['mlc'][1]:.2f}"
        )
    print(f"machine: {machine()}")


if __name__ == "__main__":
    main()
